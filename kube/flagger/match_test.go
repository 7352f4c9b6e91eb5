package flagger_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/flagger"
)

// abCanary is canaryWith's Canary with an A/B analysis matching match (a flow list of
// analysis.match entries).
func abCanary(provider, service, match string) []byte {
	return []byte(strings.Replace(string(canaryWith(provider, service)), "{interval: 30s, iterations: 5}",
		"{interval: 30s, iterations: 5, match: "+match+"}", 1))
}

// Every field of Flagger's analysis.match (an Istio HTTPMatchRequest) decodes, and provider
// istio takes them all.
func TestMatchFieldsDecodeForIstio(t *testing.T) {
	m, err := flagger.LoadCanary(abCanary("istio", "", `[{name: beta, uri: {prefix: /api}, method: {exact: GET},
		headers: {x-user: {suffix: "@corp"}}, queryParams: {beta: {exact: "1"}}, authority: {regex: '.*\.example\.com'},
		scheme: {exact: https}, port: 8080, ignoreUriCase: true, withoutHeaders: {x-bot: {exact: "1"}},
		sourceLabels: {app: frontend}, sourceNamespace: web}]`))
	require.NoError(t, err)
	assert.Equal(t, []canary.Match{{
		Name: "beta", URI: &canary.StringMatch{Prefix: "/api"}, Method: &canary.StringMatch{Exact: "GET"},
		Headers:     map[string]canary.StringMatch{"x-user": {Suffix: "@corp"}},
		QueryParams: map[string]canary.StringMatch{"beta": {Exact: "1"}}, Authority: &canary.StringMatch{Regex: `.*\.example\.com`},
		Scheme: &canary.StringMatch{Exact: "https"}, Port: 8080, IgnoreURICase: true,
		WithoutHeaders: map[string]canary.StringMatch{"x-bot": {Exact: "1"}},
		SourceLabels:   map[string]string{"app": "frontend"}, SourceNamespace: "web",
	}}, m.Spec.Match)
	assert.Equal(t, canary.StrategyABTesting, m.Spec.Strategy())
}

// What each provider's route cannot match by is refused at its path, before anything is
// written; the engine's checks of the values come first, at the manifest's paths.
func TestMatchFieldsRefusedByProvider(t *testing.T) {
	for _, c := range []struct {
		provider, service, match string
		want                     []string
	}{
		// the engine's checks
		{"istio", "", "[{uri: {exact: /a, prefix: /b}}]", []string{"spec.analysis.match[0].uri: must set exactly one of exact, prefix, suffix, regex (got 2)"}},
		{"istio", "", "[{uri: {regex: '/v[0-9'}}]", []string{"spec.analysis.match[0].uri.regex: not an RE2 regular expression: error parsing regexp: missing closing ]: `[0-9`"}},
		{"istio", "", "[{port: 70000}]", []string{"spec.analysis.match[0].port: must be 1..65535, got 70000"}},
		{"istio", "", "[{uri: {regex: /a.*}, ignoreUriCase: true}]", []string{"spec.analysis.match[0].ignoreUriCase: applies to a uri exact or prefix match (Istio ignores case in no other), and there is none"}},
		{"istio", "", "[{name: only}]", []string{"spec.analysis.match[0]: must set at least one condition: headers, uri, method, queryParams, authority, scheme, port, withoutHeaders, sourceLabels or sourceNamespace"}},
		{"istio", "", "[{gateways: [mesh], headers: {x: {exact: y}}}]", []string{"spec.analysis.match[0].gateways: not supported by canarykit yet"}},
		// merged into spec.service.match
		{"istio", "match: [{uri: {prefix: /v2}}]", "[{uri: {prefix: /beta}}]",
			[]string{"spec.analysis.match[0].uri: spec.service.match[0] sets uri too, and the merged match holds one (Flagger would keep the service's and drop this one): set it in one of them"}},
		{"gatewayapi:v1", "match: [{method: {exact: GET}}]", "[{method: {exact: POST}}]",
			[]string{"spec.analysis.match[0].method: spec.service.match[0] sets method too, and the merged match holds one (Flagger would keep the service's and drop this one): set it in one of them"}},
		// what an HTTPRouteMatch lacks
		{"gatewayapi:v1", "", "[{authority: {exact: a}}, {uri: {prefix: api}}, {method: {regex: G.*}}, {sourceLabels: {app: x}}]", []string{
			"spec.analysis.match[0].authority: Gateway API's HTTPRouteMatch has no authority (an HTTPRoute matches the path, method, headers and query parameters)",
			`spec.analysis.match[1].uri.prefix: "api" is not an absolute path: it must start with '/'`,
			"spec.analysis.match[2].method: Gateway API matches one method exactly: want exact, one of GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH",
			"spec.analysis.match[3].sourceLabels: Gateway API's HTTPRouteMatch has no sourceLabels (an HTTPRoute matches the path, method, headers and query parameters)",
		}},
		{"gatewayapi:v1beta1", "", "[{uri: {exact: /a//b}, withoutHeaders: {x: {exact: y}}}]", []string{
			"spec.analysis.match[0].withoutHeaders: Gateway API's HTTPRouteMatch has no withoutHeaders (an HTTPRoute matches the path, method, headers and query parameters)",
			`spec.analysis.match[0].uri.exact: "/a//b" must not contain "//"`,
		}},
		// headers only
		{"nginx", "", "[{headers: {x: {exact: y}}, uri: {prefix: /a}}]", []string{
			`spec.analysis.match[0].uri: provider "nginx" matches headers only (ingress-nginx's canary-by-header and canary-by-cookie); uri needs provider istio or gatewayapi:<version>`,
			"spec.ingressRef: required with NGINX routing (provider nginx, or the driver's default router): the Ingress in front of service podinfo, which canarykit copies to <name>-canary",
		}},
		{"smi:v1alpha3", "", "[{headers: {x: {exact: y}}, port: 80}]", []string{
			`spec.analysis.match[0].port: provider "smi:v1alpha3" matches headers only (an SMI HTTPRouteGroup as canarykit writes it); port needs provider istio`,
		}},
		{"linkerd", "", "[{queryParams: {q: {exact: y}}}]", []string{
			`spec.analysis.match[0].queryParams: provider "linkerd" matches headers only (an SMI HTTPRouteGroup as canarykit writes it); queryParams needs provider istio or gatewayapi:<version>`,
		}},
	} {
		_, err := flagger.LoadCanary(abCanary(c.provider, c.service, c.match))
		assert.Equal(t, c.want, problems(t, err), "%s %s", c.provider, c.match)
	}
}

// Gateway API takes uri, method and queryParams, merged into spec.service.match; without
// spec.provider the driver's default router decides, with a Note.
func TestMatchFieldsForGatewayAPIAndTheDefault(t *testing.T) {
	m, err := flagger.LoadCanary(abCanary("gatewayapi:v1", "match: [{headers: {x-tenant: {exact: a}}}]",
		"[{uri: {prefix: /beta}, method: {exact: GET}, queryParams: {plan: {prefix: gold}}}]"))
	require.NoError(t, err)
	assert.Equal(t, []canary.Match{{URI: &canary.StringMatch{Prefix: "/beta"}, Method: &canary.StringMatch{Exact: "GET"},
		QueryParams: map[string]canary.StringMatch{"plan": {Prefix: "gold"}}}}, m.Spec.Match)

	m, err = flagger.LoadCanary(abCanary("", "", "[{headers: {x: {exact: y}}}, {uri: {prefix: /a}}]"))
	require.NoError(t, err)
	assert.Contains(t, m.Notes, "spec.provider is not set: spec.analysis.match[1] matches by [uri], which the driver's default router must route by (istio matches by every field, a Gateway API HTTPRoute by headers, uri, method and queryParams)")
}
