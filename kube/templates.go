package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// MetricTemplateResource is Flagger's MetricTemplate custom resource.
var MetricTemplateResource = schema.GroupVersionResource{Group: "flagger.app", Version: "v1beta1", Resource: "metrictemplates"}

// ErrTemplateNotFound is wrapped by a MetricTemplateSource that has no such template.
var ErrTemplateNotFound = errors.New("metric template not found")

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

// Credentials reads the provider's Secret (spec.provider.secretRef, in the template's
// namespace): its data, for metrics.SecretCredentials. Nil without a secretRef.
func (t MetricTemplate) Credentials(ctx context.Context, client kubernetes.Interface) (map[string][]byte, error) {
	if t.Provider.SecretRef == "" {
		return nil, nil
	}
	s, err := client.CoreV1().Secrets(t.Namespace).Get(ctx, t.Provider.SecretRef, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("MetricTemplate %s: spec.provider.secretRef: %w", t.Key(), err)
	}
	return s.Data, nil
}

// Key is "namespace/name".
func (t MetricTemplate) Key() string { return t.Namespace + "/" + t.Name }

// MetricTemplateRef is a Canary metric's templateRef, found by LoadCanary and filled in by
// CanaryManifest.ResolveTemplates.
type MetricTemplateRef struct {
	// Metric is the index of the metric in Spec.Metrics.
	Metric int
	// Name and Namespace of the template (Namespace defaults to the Canary's, as in Flagger).
	Name, Namespace string
	// Template is the resolved template; nil until ResolveTemplates.
	Template *MetricTemplate
	// Path is the manifest field, e.g. spec.analysis.metrics[0].templateRef.
	Path string
}

// MetricTemplateSource finds MetricTemplates by namespace and name. Implementations: the
// MetricTemplates a file holds (LoadMetricTemplates), the cluster's (ClusterMetricTemplates),
// and both in order (MetricTemplateSources).
type MetricTemplateSource interface {
	// MetricTemplate returns the template, or an error wrapping ErrTemplateNotFound.
	MetricTemplate(ctx context.Context, namespace, name string) (*MetricTemplate, error)
}

// MetricTemplates is a set of templates read from files.
type MetricTemplates []MetricTemplate

// MetricTemplate finds a template by namespace and name.
func (ts MetricTemplates) MetricTemplate(_ context.Context, namespace, name string) (*MetricTemplate, error) {
	for i := range ts {
		if ts[i].Namespace == namespace && ts[i].Name == name {
			t := ts[i]
			return &t, nil
		}
	}
	return nil, fmt.Errorf("%w: MetricTemplate %s/%s is not among the %d given", ErrTemplateNotFound, namespace, name, len(ts))
}

// MetricTemplateSources asks each source in turn; the first that has the template wins.
type MetricTemplateSources []MetricTemplateSource

// MetricTemplate asks each source in turn. Errors other than "not found" stop the search.
func (ss MetricTemplateSources) MetricTemplate(ctx context.Context, namespace, name string) (*MetricTemplate, error) {
	var missing []string
	for _, s := range ss {
		t, err := s.MetricTemplate(ctx, namespace, name)
		if err == nil {
			return t, nil
		}
		if !errors.Is(err, ErrTemplateNotFound) {
			return nil, err
		}
		missing = append(missing, strings.TrimPrefix(err.Error(), ErrTemplateNotFound.Error()+": "))
	}
	if len(missing) == 0 {
		return nil, fmt.Errorf("%w: MetricTemplate %s/%s: no template source", ErrTemplateNotFound, namespace, name)
	}
	return nil, fmt.Errorf("%w: %s", ErrTemplateNotFound, strings.Join(missing, "; "))
}

// ClusterMetricTemplates reads MetricTemplates from the cluster (Flagger's CRD, which a cluster
// that ran Flagger has). It needs "get" on metrictemplates.flagger.app in the templates'
// namespaces.
func ClusterMetricTemplates(client dynamic.Interface) MetricTemplateSource {
	return clusterTemplates{client: client}
}

type clusterTemplates struct{ client dynamic.Interface }

func (c clusterTemplates) MetricTemplate(ctx context.Context, namespace, name string) (*MetricTemplate, error) {
	u, err := c.client.Resource(MetricTemplateResource).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("%w: MetricTemplate %s/%s is not in the cluster (or the metrictemplates.flagger.app CRD is not installed): %v",
			ErrTemplateNotFound, namespace, name, err)
	case err != nil:
		return nil, fmt.Errorf("get MetricTemplate %s/%s: %w", namespace, name, err)
	}
	d := &decoder{kind: "MetricTemplate"}
	t := decodeMetricTemplate(d, d.object(u.Object, ""))
	if err := d.err(); err != nil {
		return nil, fmt.Errorf("MetricTemplate %s/%s: %w", namespace, name, err)
	}
	return &t, nil
}

// LoadMetricTemplates reads Flagger MetricTemplates (flagger.app/v1beta1) from YAML, one or
// more documents separated by "---". Every problem is reported with its document and field
// path; provider types other than prometheus are refused. Errors wrap canary.ErrInvalidSpec.
func LoadMetricTemplates(data []byte) (MetricTemplates, error) {
	d := &decoder{kind: "MetricTemplate"}
	var out MetricTemplates
	var docs []int // document number of each template
	parts := splitYAML(data)
	for i, doc := range parts {
		var root map[string]any
		if err := yaml.Unmarshal(doc, &root); err != nil {
			d.fail(fmt.Sprintf("document %d", i+1), "not valid YAML: %v", err)
			continue
		}
		if root == nil {
			continue // empty document
		}
		sub := &decoder{kind: "MetricTemplate"}
		t := decodeMetricTemplate(sub, sub.object(root, ""))
		for _, p := range sub.problems {
			if len(parts) > 1 {
				p.Field = fmt.Sprintf("document %d: %s", i+1, p.Field)
			}
			d.problems = append(d.problems, p)
		}
		out = append(out, t)
		docs = append(docs, i+1)
	}
	for i, t := range out {
		if j := slices.IndexFunc(out[:i], func(o MetricTemplate) bool { return o.Key() == t.Key() }); j >= 0 {
			d.fail(fmt.Sprintf("document %d: metadata.name", docs[i]), "MetricTemplate %s is also document %d", t.Key(), docs[j])
		}
	}
	if err := d.err(); err != nil {
		return nil, err
	}
	return out, nil
}

// splitYAML splits a multi-document stream on "---" lines.
func splitYAML(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	for line := range bytes.Lines(data) {
		if t := bytes.TrimRight(line, " \t\r\n"); bytes.Equal(t, []byte("---")) || bytes.HasPrefix(t, []byte("--- ")) {
			docs = append(docs, bytes.Clone(cur.Bytes()))
			cur.Reset()
			continue
		}
		cur.Write(line)
	}
	return append(docs, cur.Bytes())
}

func decodeMetricTemplate(d *decoder, doc *object) MetricTemplate {
	if k := doc.str("kind"); k != "MetricTemplate" {
		d.fail(doc.at("kind"), "must be MetricTemplate, got %q", k)
	}
	if v := doc.str("apiVersion"); v != "flagger.app/v1beta1" {
		d.fail(doc.at("apiVersion"), "must be flagger.app/v1beta1, got %q", v)
	}
	meta := doc.obj("metadata")
	t := MetricTemplate{Name: meta.str("name"), Namespace: meta.str("namespace")}
	if t.Name == "" {
		d.fail(meta.at("name"), "required")
	}
	if t.Namespace == "" {
		d.fail(meta.at("namespace"), "required: a templateRef names the template's namespace (or the Canary's)")
	}
	meta.ignore("labels", "annotations", "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "finalizers", "ownerReferences")
	meta.done()
	doc.ignore("status")
	spec := doc.obj("spec")
	t.Query = spec.str("query")
	if strings.TrimSpace(t.Query) == "" {
		d.fail(spec.at("query"), "required")
	}
	p := spec.obj("provider")
	t.Provider = MetricTemplateProvider{Type: p.str("type"), Address: p.str("address"), InsecureSkipVerify: p.bool("insecureSkipVerify")}
	switch t.Provider.Type {
	case "prometheus":
	case "":
		d.fail(p.at("type"), "required: prometheus")
	default:
		d.fail(p.at("type"), "%s is not supported by canarykit yet (prometheus, or a server with its API)", t.Provider.Type)
	}
	if t.Provider.Address == "" {
		d.fail(p.at("address"), "required: the Prometheus API's base URL")
	} else if u, err := url.Parse(t.Provider.Address); err != nil || u.Scheme == "" || u.Host == "" {
		d.fail(p.at("address"), "must be an absolute http(s) URL, got %q", t.Provider.Address)
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

// ResolveTemplates fills in every templateRef of the manifest from src: the metric gets the
// template's query, and the reference its template (for the wiring to build the template's
// provider). Every unresolved reference is reported, by the metric's path. Nothing in the
// cluster is touched besides src's reads. Errors wrap canary.ErrInvalidSpec.
func (m *CanaryManifest) ResolveTemplates(ctx context.Context, src MetricTemplateSource) error {
	d := &decoder{}
	for i := range m.TemplateRefs {
		ref := &m.TemplateRefs[i]
		if ref.Template != nil {
			continue
		}
		if src == nil {
			d.fail(ref.Path, "MetricTemplate %s/%s: no template source (give the templates as files, or read them from the cluster)", ref.Namespace, ref.Name)
			continue
		}
		t, err := src.MetricTemplate(ctx, ref.Namespace, ref.Name)
		if err != nil {
			d.fail(ref.Path, "%v", err)
			continue
		}
		ref.Template = t
		m.Spec.Metrics[ref.Metric].Query = t.Query
	}
	if err := d.err(); err != nil {
		return err
	}
	return m.Spec.Validate()
}

// Unresolved lists the templateRefs not yet resolved, as "namespace/name".
func (m *CanaryManifest) Unresolved() []string {
	var out []string
	for _, r := range m.TemplateRefs {
		if r.Template == nil {
			out = append(out, r.Namespace+"/"+r.Name)
		}
	}
	return out
}
