package flagger

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/canarykit/canarykit/canary"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// The kinds LoadObjects reads, one decoder each.
const (
	kindMetricTemplate = "MetricTemplate"
	kindAlertProvider  = "AlertProvider"
)

// LoadObjects reads Flagger Canaries, MetricTemplates and AlertProviders from YAML: one or
// more documents separated by "---", each an object or a List of them (what `kubectl get
// canaries,metrictemplates,alertproviders -o yaml` writes; status and server-set metadata are
// ignored). Every problem is reported with its document and field path, all at once: other
// kinds, unknown fields, an object given twice, the fields and providers canarykit cannot use
// (see LoadCanary; MetricTemplates: prometheus only; AlertProviders: AlertProviderTypes()).
// The Canaries' references are not resolved: Objects is a Source to resolve them with
// (Canary.Resolve). Errors wrap canary.ErrInvalidSpec.
func LoadObjects(data []byte) (*Objects, error) {
	return load(data, "Flagger objects", kindCanary, kindMetricTemplate, kindAlertProvider)
}

// load reads the objects of the given kinds from a YAML stream; subject names them in errors.
func load(data []byte, subject string, kinds ...string) (*Objects, error) {
	docs, err := readDocuments(data)
	if err != nil {
		return nil, &canary.ValidationError{Subject: subject, Problems: []canary.FieldError{*err}}
	}
	l := loader{kinds: kinds, out: &Objects{}, seen: map[string]string{}}
	for i, root := range docs {
		where := ""
		if len(docs) > 1 {
			where = fmt.Sprintf("document %d: ", i+1)
		}
		if m, _ := root.(map[string]any); m != nil && m["kind"] == "List" {
			items, ok := m["items"].([]any)
			if !ok && m["items"] != nil {
				l.problems = append(l.problems, canary.FieldError{Field: where + "items", Message: "must be a list"})
			}
			for j, it := range items {
				l.add(it, fmt.Sprintf("%sitems[%d].", where, j))
			}
			continue
		}
		l.add(root, where)
	}
	if len(l.problems) > 0 {
		return nil, &canary.ValidationError{Subject: subject, Problems: l.problems}
	}
	return l.out, nil
}

// readDocuments splits a YAML stream into its documents, each decoded, their nodes within one
// budget (maxYAMLNodes); an empty document (a comment, a leading "---") is not counted.
func readDocuments(data []byte) ([]any, *canary.FieldError) {
	var docs []any
	budget := maxYAMLNodes // for the whole stream
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		var root any
		if err == nil {
			root, err = parseYAMLWithin(doc, &budget)
		}
		if err != nil {
			return nil, &canary.FieldError{Field: fmt.Sprintf("document %d", len(docs)+1), Message: "not valid YAML: " + err.Error()}
		}
		if root != nil {
			docs = append(docs, root)
		}
	}
}

// loader collects the objects of a stream and their problems.
type loader struct {
	kinds    []string
	out      *Objects
	seen     map[string]string // "Kind namespace/name" → where it was read
	problems []canary.FieldError
}

// add decodes one object, reporting its problems prefixed with where it is.
func (l *loader) add(v any, where string) {
	root, _ := v.(map[string]any)
	if root == nil {
		field := strings.TrimSuffix(strings.TrimSuffix(where, ": "), ".")
		if field == "" {
			field = "document 1"
		}
		l.problems = append(l.problems, canary.FieldError{Field: field, Message: "must be a mapping (a Kubernetes object)"})
		return
	}
	kind, _ := root["kind"].(string)
	sub := &decoder{kind: kind}
	obj := sub.object(root, "")
	var key string
	switch {
	case !slices.Contains(l.kinds, kind):
		sub.fail("kind", "must be %s, got %s", orList(l.kinds), shown(kind))
	case kind == kindCanary:
		c := decodeCanary(sub, obj)
		l.out.Canaries = append(l.out.Canaries, c)
		key = kind + " " + c.key()
	case kind == kindMetricTemplate:
		t := decodeMetricTemplate(sub, obj)
		l.out.MetricTemplates = append(l.out.MetricTemplates, t)
		key = kind + " " + t.Key()
	case kind == kindAlertProvider:
		p := decodeAlertProvider(sub, obj)
		l.out.AlertProviders = append(l.out.AlertProviders, p)
		key = kind + " " + p.Key()
	}
	if at, dup := l.seen[key]; dup {
		sub.fail("metadata.name", "%s is also at %s", key, strings.TrimSuffix(at, ": "))
	} else if key != "" {
		l.seen[key] = where
	}
	for _, p := range sub.problems {
		p.Field = where + p.Field
		l.problems = append(l.problems, p)
	}
}

// orList writes "a", "a or b", "a, b or c".
func orList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

// MetricTemplateFromObject decodes a MetricTemplate from its generic form (what a dynamic
// client returns), reporting every problem by field path.
func MetricTemplateFromObject(obj map[string]any) (*MetricTemplate, error) {
	return fromObject(obj, kindMetricTemplate, decodeMetricTemplate)
}

// AlertProviderFromObject decodes an AlertProvider from its generic form (what a dynamic
// client returns), reporting every problem by field path.
func AlertProviderFromObject(obj map[string]any) (*AlertProvider, error) {
	return fromObject(obj, kindAlertProvider, decodeAlertProvider)
}

// CanaryFromObject decodes a Canary from its generic form (what a dynamic client returns), as
// LoadCanary does.
func CanaryFromObject(obj map[string]any) (*Canary, error) {
	c, err := fromObject(obj, kindCanary, decodeCanary)
	if err != nil {
		return nil, err
	}
	return *c, nil
}

func fromObject[T any](obj map[string]any, kind string, decode func(*decoder, *object) T) (*T, error) {
	d := &decoder{kind: kind}
	v := decode(d, d.object(obj, ""))
	if err := d.err(); err != nil {
		return nil, err
	}
	return &v, nil
}

// decodeHeader reads a MetricTemplate's or AlertProvider's apiVersion, kind and metadata: its
// namespace and name.
func decodeHeader(d *decoder, doc *object, kind string) (namespace, name string) {
	if k := doc.str("kind"); k != kind {
		d.fail(doc.at("kind"), "must be %s, got %s", kind, shown(k))
	}
	if v := doc.str("apiVersion"); v != "flagger.app/v1beta1" {
		d.fail(doc.at("apiVersion"), "must be flagger.app/v1beta1, got %s", shown(v))
	}
	meta := doc.obj("metadata")
	name, namespace = meta.name("name", true), meta.namespace("namespace", "")
	if namespace == "" {
		d.fail(meta.at("namespace"), "required: a Canary refers to it by namespace (or its own)")
	}
	meta.ignore(objectMetaFields...)
	meta.done()
	doc.ignore("status")
	return namespace, name
}
