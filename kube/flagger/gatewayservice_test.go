package flagger_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/mesh/gatewayapi"
	"github.com/canarykit/canarykit/mesh/istioapi"
)

const gatewayRefs = "gatewayRefs: [{name: public, namespace: gateways}]"

// spec.service's match, headers and rewrite (with its type) are a Gateway API HTTPRoute's
// too, as Flagger's Gateway API router writes them: loaded for gatewayapi:<version> and for
// linkerd with gatewayRefs.
func TestGatewayServiceFieldsLoad(t *testing.T) {
	service := gatewayRefs + `, match: [{uri: {prefix: /api}, method: {exact: GET}, headers: {x-tenant: {exact: a}}, queryParams: {v: {regex: "[0-9]+"}}}],
    headers: {request: {set: {x-a: "1"}, remove: [x-debug]}, response: {add: {x-served-by: podinfo}}},
    rewrite: {uri: /v2, authority: podinfo.internal, type: ReplacePrefixMatch}`
	for _, p := range []string{"gatewayapi:v1", "linkerd"} {
		c, err := flagger.LoadCanary(canaryWith(p, service))
		require.NoError(t, err, p)
		assert.Equal(t, flagger.RouterHTTPRoute, c.Router.Kind, p)
		assert.Equal(t, gatewayapi.Service{
			Match: []istioapi.HTTPMatchRequest{{URI: &istioapi.StringMatch{Prefix: "/api"}, Method: &istioapi.StringMatch{Exact: "GET"},
				Headers: map[string]istioapi.StringMatch{"x-tenant": {Exact: "a"}}, QueryParams: map[string]istioapi.StringMatch{"v": {Regex: "[0-9]+"}}}},
			Headers: &istioapi.Headers{Request: &istioapi.HeaderOperations{Set: map[string]string{"x-a": "1"}, Remove: []string{"x-debug"}},
				Response: &istioapi.HeaderOperations{Add: map[string]string{"x-served-by": "podinfo"}}},
			Rewrite:     &istioapi.HTTPRewrite{URI: "/v2", Authority: "podinfo.internal"},
			RewriteType: gatewayapi.ReplacePrefixMatch,
		}, c.GatewayService(), p)
	}
}

// What an HTTPRoute cannot carry is refused at its path, before anything reaches a cluster:
// Istio match fields Gateway API lacks, paths it refuses, the Istio fields only a
// VirtualService holds; and a rewrite type without an HTTPRoute.
func TestGatewayServiceFieldsRefusedByPath(t *testing.T) {
	for service, want := range map[string]string{
		"match: [{authority: {exact: a.example}}]":           "spec.service.match[0].authority: Gateway API's HTTPRouteMatch has no authority",
		"match: [{uri: {exact: api}}]":                       `spec.service.match[0].uri.exact: "api" is not an absolute path`,
		"match: [{method: {regex: GET|POST}}]":               "spec.service.match[0].method: Gateway API matches one method exactly",
		"match: [{headers: {x-a: {}}}]":                      "spec.service.match[0].headers.x-a: set exact, prefix or regex",
		"rewrite: {authority: '*.example.com'}":              "spec.service.rewrite.authority:",
		"rewrite: {uri: /v2, type: Prefix}":                  "spec.service.rewrite.type: want ReplaceFullPath or ReplacePrefixMatch",
		"corsPolicy: {allowOrigins: [{exact: https://a.b}]}": `spec.service.corsPolicy: only provider istio writes it, into the VirtualService or DestinationRules (spec.provider is "gatewayapi:v1")`,
		"retries: {attempts: 2}":                             `spec.service.retries: only provider istio writes it`,
	} {
		_, err := flagger.LoadCanary(canaryWith("gatewayapi:v1", gatewayRefs+", "+service))
		got := problems(t, err)
		require.Len(t, got, 1, service)
		assert.Contains(t, got[0], want, service)
	}
	_, err := flagger.LoadCanary(canaryWith("istio", "rewrite: {uri: /v2, type: ReplaceFullPath}"))
	assert.Equal(t, []string{"spec.service.rewrite.type: only a Gateway API HTTPRoute has a rewrite type (Flagger reads it there only); leave it out"}, problems(t, err))
	_, err = flagger.LoadCanary(canaryWith("linkerd", "match: [{uri: {prefix: /api}}]"))
	assert.Equal(t, []string{`spec.service.match: only provider istio writes it, into the VirtualService or DestinationRules (spec.provider is "linkerd")`}, problems(t, err),
		"without gatewayRefs linkerd writes an SMI TrafficSplit")
}

// An HTTPRoute rule holds at most 64 matches: the A/B conditions times the service's; and a
// prefix rewrite needs a rule with one match.
func TestGatewayServiceWithABTesting(t *testing.T) {
	manifest := func(ab, svc int, rewrite string) []byte {
		b := fmt.Sprintf("apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: podinfo, namespace: test}\nspec:\n  provider: gatewayapi:v1\n"+
			"  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}\n  service:\n    port: 9898\n    %s\n%s    match:\n", gatewayRefs, rewrite)
		for i := range svc {
			b += fmt.Sprintf("    - uri: {prefix: /p%d}\n", i)
		}
		b += "  analysis:\n    interval: 30s\n    iterations: 5\n    match:\n"
		for i := range ab {
			b += fmt.Sprintf("    - headers: {x-canary: {exact: v%d}}\n", i)
		}
		return []byte(b)
	}
	_, err := flagger.LoadCanary(manifest(8, 8, ""))
	require.NoError(t, err)
	_, err = flagger.LoadCanary(manifest(9, 8, ""))
	assert.Equal(t, []string{"spec.service.match: an HTTPRoute rule holds at most 64 matches; the 9 A/B conditions times these 8 make 72"}, problems(t, err))
	prefix := "    rewrite: {uri: /new, type: ReplacePrefixMatch}\n"
	_, err = flagger.LoadCanary(manifest(1, 1, prefix))
	require.NoError(t, err)
	_, err = flagger.LoadCanary(manifest(2, 1, prefix))
	assert.Equal(t, []string{"spec.service.rewrite.type: ReplacePrefixMatch needs a route rule with one path prefix match, and the A/B test's 2 conditions make 2"}, problems(t, err))
}
