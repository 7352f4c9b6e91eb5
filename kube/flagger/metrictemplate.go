package flagger

import (
	"fmt"
	"strings"

	"github.com/canarykit/canarykit/canary"
)

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
// servers that speak its API, such as Thanos or Mimir) and Datadog; other provider types are
// refused by path.
type MetricTemplateProvider struct {
	// Type is "prometheus" or "datadog" (MetricProviderTypes).
	Type string
	// Address is the API's base URL: required for prometheus; for datadog, empty means
	// Datadog's default (metrics.DefaultDatadogAddress), as in Flagger.
	Address string
	// SecretRef names a Secret in the template's namespace holding the credentials, as Flagger
	// reads it: for prometheus, key "token" (a bearer token), or "username" and "password"
	// (basic auth); for datadog (where it is required), keys "datadog_api_key" and
	// "datadog_application_key".
	SecretRef string
	// InsecureSkipVerify disables the server certificate check (prometheus only: Flagger's
	// Datadog client checks the certificate whatever it says, so canarykit refuses it there).
	InsecureSkipVerify bool
	// Headers are sent with every query (prometheus only: Flagger ignores them for datadog,
	// so canarykit refuses them). Names are HTTP tokens, values free of control characters.
	Headers map[string][]string
}

// Metric provider types canarykit queries.
const (
	MetricProviderPrometheus = "prometheus"
	MetricProviderDatadog    = "datadog"
)

// MetricProviderTypes lists the MetricTemplate provider types canarykit queries.
func MetricProviderTypes() []string {
	return []string{MetricProviderPrometheus, MetricProviderDatadog}
}

// Key is "namespace/name".
func (t MetricTemplate) Key() string { return t.Namespace + "/" + t.Name }

// MetricTemplateRef is a Canary metric's templateRef, found by LoadCanary and filled in by
// Canary.Resolve.
type MetricTemplateRef struct {
	// Metric is the index of the metric in Spec.Metrics.
	Metric int
	// Name and Namespace of the template (Namespace defaults to the Canary's, as in Flagger:
	// see CanaryNamespace).
	Name, Namespace string
	// CanaryNamespace: the manifest gave no templateRef.namespace, so the template is in the
	// Canary's namespace wherever the Canary is: Resolve sets Namespace to Canary.Namespace
	// as it is then (a Canary loaded without metadata.namespace and placed afterwards finds
	// its templates where it is placed, as Flagger reads the reference at every analysis).
	CanaryNamespace bool
	// Template is the resolved template; nil until Resolve.
	Template *MetricTemplate
	// Path is the manifest field, e.g. spec.analysis.metrics[0].templateRef.
	Path string
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
	datadog := t.Provider.Type == MetricProviderDatadog
	switch t.Provider.Type {
	case MetricProviderPrometheus, MetricProviderDatadog:
	case "":
		d.fail(p.at("type"), "required: prometheus or datadog")
	default:
		d.fail(p.at("type"), "%s is not supported by canarykit yet (prometheus, or a server with its API; datadog)", word(t.Provider.Type))
	}
	if t.Provider.Address == "" && !datadog {
		d.fail(p.at("address"), "required: the Prometheus API's base URL")
	}
	if p.has("secretRef") {
		ref := p.obj("secretRef")
		t.Provider.SecretRef = ref.name("name", true) // a Secret's name, checked before its lookup
		ref.done()
	} else if datadog {
		d.fail(p.at("secretRef"), "required for datadog: a Secret with the keys datadog_api_key and datadog_application_key")
	}
	if p.has("headers") {
		if datadog {
			p.get("headers")
			d.fail(p.at("headers"), "not supported for datadog (Flagger does not send them); the keys come from secretRef")
		} else {
			t.Provider.Headers = p.headers("headers")
		}
	}
	if datadog && t.Provider.InsecureSkipVerify {
		// Flagger's Datadog client is net/http's default: it checks the certificate
		d.fail(p.at("insecureSkipVerify"), "not supported for datadog (Flagger verifies Datadog's certificate whatever it says); leave it out")
		t.Provider.InsecureSkipVerify = false
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
		at := canary.FieldPath(o.at(key), name)
		if !canary.IsHeaderName(name) {
			// net/http sends no request with it: every query would fail as unreachable
			o.d.fail(at, "%s is not an HTTP header name (a token: letters, digits and !#$%%&'*+-.^_`|~)", shown(name))
		}
		switch x := val.(type) {
		case string:
			out[name] = []string{x}
			if !canary.IsHeaderValue(x) {
				o.d.fail(at, headerValueProblem)
			}
		case []any:
			for i, it := range x {
				s, ok := it.(string)
				if !ok {
					o.d.fail(fmt.Sprintf("%s[%d]", at, i), "must be a string")
				}
				if !canary.IsHeaderValue(s) {
					o.d.fail(fmt.Sprintf("%s[%d]", at, i), headerValueProblem)
				}
				out[name] = append(out[name], s)
			}
		default:
			o.d.fail(at, "must be a list of strings")
		}
	}
	return out
}

// headerValueProblem is what a header value no request can carry is refused with (net/http
// refuses it, and every query would fail as unreachable). The value is not quoted, nor where
// in it the problem is: it may be a credential.
const headerValueProblem = "holds a line break or another control character, which no request can carry"
