package flagger

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/canarykit/canarykit/canary"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// ErrNotFound is wrapped by a Source that has no such MetricTemplate or AlertProvider.
var ErrNotFound = errors.New("not found")

// MetricTemplate is a Flagger MetricTemplate (flagger.app/v1beta1): a query template and the
// metrics server that answers it. A Canary metric with a templateRef uses the template's query
// (rendered with the Canary's variables and templateVariables) against the template's provider.
type MetricTemplate struct {
	Name, Namespace string
	Provider        MetricTemplateProvider
	// Query is a Go text/template with Flagger's variables, as canary.Metric.Query.
	Query string
}

// MetricTemplateProvider is a MetricTemplate's spec.provider. canarykit queries Prometheus (and
// servers that speak its API, such as Thanos or Mimir); other provider types are refused by path.
type MetricTemplateProvider struct {
	// Type is "prometheus".
	Type string
	// Address is the Prometheus API's base URL. Required.
	Address string
	// SecretRef names a Secret in the template's namespace holding the credentials: key
	// "token" (a bearer token), or "username" and "password" (basic auth), as Flagger reads it.
	SecretRef string
	// InsecureSkipVerify disables the server certificate check.
	InsecureSkipVerify bool
	// Headers are sent with every query.
	Headers map[string][]string
}

// Key is "namespace/name".
func (t MetricTemplate) Key() string { return t.Namespace + "/" + t.Name }

// MetricTemplateRef is a Canary metric's templateRef, found by LoadCanary and filled in by
// Canary.Resolve.
type MetricTemplateRef struct {
	// Metric is the index of the metric in Spec.Metrics.
	Metric int
	// Name and Namespace of the template (Namespace defaults to the Canary's, as in Flagger).
	Name, Namespace string
	// Template is the resolved template; nil until Resolve.
	Template *MetricTemplate
	// Path is the manifest field, e.g. spec.analysis.metrics[0].templateRef.
	Path string
}

// Source finds the Flagger objects a Canary refers to, by namespace and name: the Resources
// read from files (LoadObjects), the cluster's (ClusterObjects), or several in order
// (Sources).
type Source interface {
	// MetricTemplate returns the template, or an error wrapping ErrNotFound.
	MetricTemplate(ctx context.Context, namespace, name string) (*MetricTemplate, error)
	// AlertProvider returns the provider, or an error wrapping ErrNotFound.
	AlertProvider(ctx context.Context, namespace, name string) (*AlertProvider, error)
}

// Objects are Flagger MetricTemplates and AlertProviders read from files.
type Objects struct {
	MetricTemplates []MetricTemplate
	AlertProviders  []AlertProvider
}

var _ Source = (*Objects)(nil)

// MetricTemplate finds a template by namespace and name.
func (r *Objects) MetricTemplate(_ context.Context, namespace, name string) (*MetricTemplate, error) {
	return find(r.MetricTemplates, "MetricTemplate", namespace, name, func(t MetricTemplate) string { return t.Key() })
}

// AlertProvider finds a provider by namespace and name.
func (r *Objects) AlertProvider(_ context.Context, namespace, name string) (*AlertProvider, error) {
	return find(r.AlertProviders, "AlertProvider", namespace, name, func(p AlertProvider) string { return p.Key() })
}

func find[T any](items []T, kind, namespace, name string, key func(T) string) (*T, error) {
	for i := range items {
		if key(items[i]) == namespace+"/"+name {
			v := items[i]
			return &v, nil
		}
	}
	return nil, fmt.Errorf("%w: %s %s/%s is not among the %d given", ErrNotFound, kind, namespace, name, len(items))
}

// Sources asks each source in turn; the first that has the object wins.
type Sources []Source

var _ Source = Sources(nil)

// MetricTemplate asks each source in turn. Errors other than "not found" stop the search.
func (ss Sources) MetricTemplate(ctx context.Context, namespace, name string) (*MetricTemplate, error) {
	return firstFound(ss, "MetricTemplate", namespace, name, func(s Source) (*MetricTemplate, error) {
		return s.MetricTemplate(ctx, namespace, name)
	})
}

// AlertProvider asks each source in turn. Errors other than "not found" stop the search.
func (ss Sources) AlertProvider(ctx context.Context, namespace, name string) (*AlertProvider, error) {
	return firstFound(ss, "AlertProvider", namespace, name, func(s Source) (*AlertProvider, error) {
		return s.AlertProvider(ctx, namespace, name)
	})
}

func firstFound[T any](ss Sources, kind, namespace, name string, get func(Source) (*T, error)) (*T, error) {
	var missing []string
	for _, s := range ss {
		v, err := get(s)
		if err == nil {
			return v, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		missing = append(missing, strings.TrimPrefix(err.Error(), ErrNotFound.Error()+": "))
	}
	if len(missing) == 0 {
		return nil, fmt.Errorf("%w: %s %s/%s: no source", ErrNotFound, kind, namespace, name)
	}
	return nil, fmt.Errorf("%w: %s", ErrNotFound, strings.Join(missing, "; "))
}

// MetricTemplateFromObject decodes a MetricTemplate from its generic form (what a dynamic
// client returns), reporting every problem by field path.
func MetricTemplateFromObject(obj map[string]any) (*MetricTemplate, error) {
	return fromObject(obj, "MetricTemplate", decodeMetricTemplate)
}

// AlertProviderFromObject decodes an AlertProvider from its generic form (what a dynamic
// client returns), reporting every problem by field path.
func AlertProviderFromObject(obj map[string]any) (*AlertProvider, error) {
	return fromObject(obj, "AlertProvider", decodeAlertProvider)
}

func fromObject[T any](obj map[string]any, kind string, decode func(*decoder, *object) T) (*T, error) {
	d := &decoder{kind: kind}
	v := decode(d, d.object(obj, ""))
	if err := d.err(); err != nil {
		return nil, err
	}
	return &v, nil
}

// LoadObjects reads Flagger MetricTemplates and AlertProviders (flagger.app/v1beta1) from
// YAML: one or more documents separated by "---", each an object or a List of them (what
// `kubectl get metrictemplates,alertproviders -o yaml` writes). Every problem is reported with
// its document and field path: other kinds, unknown fields, duplicates, and the providers
// canarykit cannot use (MetricTemplates: prometheus only; AlertProviders: slack, msteams,
// discord, rocket). Errors wrap canary.ErrInvalidSpec.
func LoadObjects(data []byte) (*Objects, error) {
	var docs []map[string]any
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err == nil {
			var tree any
			if tree, err = parseYAML(doc); err == nil && tree != nil {
				if root, isMap := tree.(map[string]any); isMap {
					docs = append(docs, root) // an empty document (a comment, a leading "---") is not counted
				} else {
					err = errors.New("must be a mapping (an object)")
				}
			}
		}
		if err != nil {
			return nil, &canary.ValidationError{Subject: "Flagger objects", Problems: []canary.FieldError{{
				Field: fmt.Sprintf("document %d", len(docs)+1), Message: "not valid YAML: " + err.Error()}}}
		}
	}
	d := &decoder{}
	out := &Objects{}
	seen := map[string]string{} // "Kind namespace/name" → where it was read
	for i, root := range docs {
		where := ""
		if len(docs) > 1 {
			where = fmt.Sprintf("document %d: ", i+1)
		}
		if root["kind"] == "List" {
			items, isList := root["items"].([]any)
			if !isList && root["items"] != nil {
				d.fail(where+"items", "must be a list")
			}
			for j, it := range items {
				item, isMap := it.(map[string]any)
				if !isMap {
					d.fail(fmt.Sprintf("%sitems[%d]", where, j), "must be a mapping (an object)")
					continue
				}
				out.add(d, item, fmt.Sprintf("%sitems[%d].", where, j), seen)
			}
			continue
		}
		out.add(d, root, where, seen)
	}
	if len(d.problems) > 0 {
		return nil, &canary.ValidationError{Subject: "Flagger objects", Problems: d.problems}
	}
	return out, nil
}

// add decodes one object into r, reporting its problems prefixed with where it is.
func (r *Objects) add(d *decoder, root map[string]any, where string, seen map[string]string) {
	kind, _ := root["kind"].(string)
	sub := &decoder{kind: kind}
	obj := sub.object(root, "")
	var key string
	switch kind {
	case "MetricTemplate":
		t := decodeMetricTemplate(sub, obj)
		r.MetricTemplates = append(r.MetricTemplates, t)
		key = kind + " " + t.Key()
	case "AlertProvider":
		p := decodeAlertProvider(sub, obj)
		r.AlertProviders = append(r.AlertProviders, p)
		key = kind + " " + p.Key()
	default:
		sub.fail("kind", "must be MetricTemplate or AlertProvider, got %q", kind)
	}
	if at, dup := seen[key]; dup {
		sub.fail("metadata.name", "%s is also at %s", key, strings.TrimSuffix(at, ": "))
	} else if key != "" {
		seen[key] = where
	}
	for _, p := range sub.problems {
		p.Field = where + p.Field
		d.problems = append(d.problems, p)
	}
}

// Merge adds o's objects to r; an object both hold (same kind, namespace and name) is an
// error naming it, and nothing is added.
func (r *Objects) Merge(o *Objects) error {
	var dups []string
	for _, t := range o.MetricTemplates {
		if _, err := find(r.MetricTemplates, "MetricTemplate", t.Namespace, t.Name, MetricTemplate.Key); err == nil {
			dups = append(dups, "MetricTemplate "+t.Key())
		}
	}
	for _, p := range o.AlertProviders {
		if _, err := find(r.AlertProviders, "AlertProvider", p.Namespace, p.Name, AlertProvider.Key); err == nil {
			dups = append(dups, "AlertProvider "+p.Key())
		}
	}
	if len(dups) > 0 {
		return fmt.Errorf("given twice: %s", strings.Join(dups, ", "))
	}
	r.MetricTemplates = append(r.MetricTemplates, o.MetricTemplates...)
	r.AlertProviders = append(r.AlertProviders, o.AlertProviders...)
	return nil
}

// decodeHeader reads a Flagger object's apiVersion, kind and metadata: its namespace and name.
func decodeHeader(d *decoder, doc *object, kind string) (namespace, name string) {
	if k := doc.str("kind"); k != kind {
		d.fail(doc.at("kind"), "must be %s, got %q", kind, k)
	}
	if v := doc.str("apiVersion"); v != "flagger.app/v1beta1" {
		d.fail(doc.at("apiVersion"), "must be flagger.app/v1beta1, got %q", v)
	}
	meta := doc.obj("metadata")
	name, namespace = meta.str("name"), meta.str("namespace")
	if name == "" {
		d.fail(meta.at("name"), "required")
	}
	if namespace == "" {
		d.fail(meta.at("namespace"), "required: a Canary refers to it by namespace (or its own)")
	}
	meta.ignore(objectMetaFields...)
	meta.done()
	doc.ignore("status")
	return namespace, name
}

func decodeMetricTemplate(d *decoder, doc *object) MetricTemplate {
	var t MetricTemplate
	t.Namespace, t.Name = decodeHeader(d, doc, "MetricTemplate")
	spec := doc.obj("spec")
	t.Query = spec.str("query")
	if strings.TrimSpace(t.Query) == "" {
		d.fail(spec.at("query"), "required")
	} else if err := canary.CheckQuery(t.Query); err != nil {
		d.fail(spec.at("query"), "%v", err)
	}
	p := spec.obj("provider")
	t.Provider = MetricTemplateProvider{Type: p.str("type"), Address: p.httpURL("address"), InsecureSkipVerify: p.bool("insecureSkipVerify")}
	switch t.Provider.Type {
	case "prometheus":
	case "":
		d.fail(p.at("type"), "required: prometheus")
	default:
		d.fail(p.at("type"), "%s is not supported by canarykit yet (prometheus, or a server with its API)", t.Provider.Type)
	}
	if t.Provider.Address == "" {
		d.fail(p.at("address"), "required: the Prometheus API's base URL")
	}
	if p.has("secretRef") {
		ref := p.obj("secretRef")
		if t.Provider.SecretRef = ref.str("name"); t.Provider.SecretRef == "" {
			d.fail(ref.at("name"), "required")
		}
		ref.done()
	}
	if p.has("headers") {
		t.Provider.Headers = p.headers("headers")
	}
	p.unsupported("region")
	p.done()
	spec.done()
	doc.done()
	return t
}

// headers reads an http.Header-shaped mapping: each name to a list of strings (or one string).
func (o *object) headers(key string) map[string][]string {
	v, _ := o.get(key)
	m, isMap := v.(map[string]any)
	if !isMap {
		o.d.fail(o.at(key), "must be a mapping of header names to lists of values")
		return nil
	}
	out := make(map[string][]string, len(m))
	for name, val := range m {
		switch x := val.(type) {
		case string:
			out[name] = []string{x}
		case []any:
			for i, it := range x {
				s, ok := it.(string)
				if !ok {
					o.d.fail(fmt.Sprintf("%s.%s[%d]", o.at(key), name, i), "must be a string")
				}
				out[name] = append(out[name], s)
			}
		default:
			o.d.fail(o.at(key)+"."+name, "must be a list of strings")
		}
	}
	return out
}

// Resolve looks up every templateRef and alert providerRef of the manifest in src, again
// each time (objects in the cluster may have changed): a templated metric gets the template's
// query (compacted: canary.CompactQuery), and each reference its object, for the wiring to
// build the template's metrics provider and the alert's notifier. Every problem is reported by
// the reference's path (a template whose query does not render with the Canary's variables
// too), and on error the manifest is left as it was. Nothing in the cluster is touched besides
// src's reads. Errors wrap canary.ErrInvalidSpec.
func (m *Canary) Resolve(ctx context.Context, src Source) error {
	d := &decoder{}
	noSource := "%s %s/%s: no source (give the Flagger objects as files, or read them from the cluster)"
	refs := slices.Clone(m.TemplateRefs)
	metrics := slices.Clone(m.Spec.Metrics)
	for i := range refs {
		ref := &refs[i]
		switch {
		case ref.Metric < 0 || ref.Metric >= len(metrics):
			d.fail(ref.Path, "refers to metric %d; the spec has %d", ref.Metric, len(metrics))
			continue
		case src == nil:
			d.fail(ref.Path, noSource, "MetricTemplate", ref.Namespace, ref.Name)
			continue
		}
		t, err := src.MetricTemplate(ctx, ref.Namespace, ref.Name)
		if err != nil {
			d.fail(ref.Path, "%v", err)
			continue
		}
		met := metrics[ref.Metric]
		met.Query = canary.CompactQuery(t.Query)
		if _, err := canary.RenderQuery(met.Query, canary.VarsFor(m.Target, met)); err != nil {
			d.fail(ref.Path, "MetricTemplate %s spec.query: %v", t.Key(), err)
			continue
		}
		ref.Template, metrics[ref.Metric] = t, met
	}
	alerts := slices.Clone(m.Alerts)
	for i := range alerts {
		a := &alerts[i]
		if src == nil {
			d.fail(a.Path, noSource, "AlertProvider", a.ProviderNamespace, a.ProviderName)
			continue
		}
		p, err := src.AlertProvider(ctx, a.ProviderNamespace, a.ProviderName)
		if err != nil {
			d.fail(a.Path, "%v", err)
			continue
		}
		a.Provider = p
	}
	if err := d.err(); err != nil {
		return err
	}
	spec := m.Spec
	spec.Metrics = metrics
	if err := spec.Validate(); err != nil {
		return err
	}
	m.TemplateRefs, m.Alerts, m.Spec = refs, alerts, spec
	return nil
}

// Unresolved lists the references not yet resolved, as "Kind namespace/name".
func (m *Canary) Unresolved() []string {
	var out []string
	for _, r := range m.TemplateRefs {
		if r.Template == nil {
			out = append(out, "MetricTemplate "+r.Namespace+"/"+r.Name)
		}
	}
	for _, a := range m.Alerts {
		if a.Provider == nil {
			out = append(out, "AlertProvider "+a.ProviderNamespace+"/"+a.ProviderName)
		}
	}
	return out
}
