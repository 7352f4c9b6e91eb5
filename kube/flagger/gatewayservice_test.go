package flagger_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

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
		"match: [{authority: {exact: a.example}}]": "spec.service.match[0].authority: Gateway API's HTTPRouteMatch has no authority",
		"match: [{uri: {exact: api}}]":             `spec.service.match[0].uri.exact: "api" is not an absolute path`,
		"match: [{method: {regex: GET|POST}}]":     "spec.service.match[0].method: Gateway API matches one method exactly",
		"match: [{headers: {x-a: {}}}]":            "spec.service.match[0].headers.x-a: set exact, prefix or regex",
		"rewrite: {authority: '*.example.com'}":    "spec.service.rewrite.authority:",
		"rewrite: {uri: /v2, type: Prefix}":        "spec.service.rewrite.type: want ReplaceFullPath or ReplacePrefixMatch",
		"retries: {attempts: 2}":                   `spec.service.retries: only provider istio writes it`,
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

// spec.service.mirror and corsPolicy are a Gateway API HTTPRoute's too, as Flagger's Gateway
// API router writes them (RequestMirror filters, a CORS filter): loaded for
// gatewayapi:<version> and for linkerd with gatewayRefs.
func TestGatewayMirrorAndCORSLoad(t *testing.T) {
	service := gatewayRefs + `, mirror: [{backendRef: {name: shadow, port: 8080}}, {backendRef: {group: "", kind: Service, name: audit, namespace: observability, port: 80}}],
    corsPolicy: {allowOrigin: ["https://example.com"], allowOrigins: [{exact: "https://*.example.org:8443"}], allowMethods: [GET, POST],
      allowHeaders: [x-api-key], exposeHeaders: [x-request-id], maxAge: 24h, allowCredentials: true}`
	for _, p := range []string{"gatewayapi:v1beta1", "linkerd"} {
		c, err := flagger.LoadCanary(canaryWith(p, service))
		require.NoError(t, err, p)
		gs := c.GatewayService()
		assert.Equal(t, []gatewayapi.Mirror{{Name: "shadow", Port: 8080}, {Kind: "Service", Name: "audit", Namespace: "observability", Port: 80}}, gs.Mirror, p)
		assert.Equal(t, &istioapi.CorsPolicy{AllowOrigin: []string{"https://example.com"}, AllowOrigins: []istioapi.StringMatch{{Exact: "https://*.example.org:8443"}},
			AllowMethods: []string{"GET", "POST"}, AllowHeaders: []string{"x-api-key"}, ExposeHeaders: []string{"x-request-id"},
			MaxAge: istioapi.Duration(24 * time.Hour), AllowCredentials: true}, gs.CORS, p)
	}
	c, err := flagger.LoadCanary(canaryWith("", gatewayRefs+", mirror: [{backendRef: {name: shadow, port: 8080}}]"))
	require.NoError(t, err)
	assert.Len(t, c.ServiceMirror, 1, "without spec.provider, gatewayRefs choose an HTTPRoute")
}

// What a RequestMirror or CORS filter cannot carry, or must not (a mirror to the target's own
// Services), is refused at its path; and so is spec.service.mirror where no HTTPRoute is
// written.
func TestGatewayMirrorAndCORSRefusedByPath(t *testing.T) {
	many := "mirror: ["
	for i := range gatewayapi.MaxMirrors + 1 {
		many += fmt.Sprintf("{backendRef: {name: m%d, port: 80}},", i)
	}
	many += "]"
	for service, want := range map[string]string{
		"mirror: [{backendRef: {name: shadow, port: 80}, percent: 10}]":              "spec.service.mirror[0].percent: Flagger's Canary has no share for spec.service.mirror",
		"mirror: [{backendRef: {name: shadow, port: 80}, fraction: {numerator: 1}}]": "spec.service.mirror[0].fraction: Flagger's Canary has no share",
		"mirror: [{}]":                                                                 "spec.service.mirror[0].backendRef: required",
		"mirror: [{backendRef: {name: shadow}}]":                                       "spec.service.mirror[0].backendRef.port: a Service backend needs its port",
		"mirror: [{backendRef: {name: shadow, port: 0}}]":                              "spec.service.mirror[0].backendRef.port:",
		"mirror: [{backendRef: {name: Shadow, port: 80}}]":                             `spec.service.mirror[0].backendRef.name: "Shadow" is not a Service name`,
		"mirror: [{backendRef: {name: shadow, namespace: a_b, port: 80}}]":             `spec.service.mirror[0].backendRef.namespace: "a_b" is not a namespace name`,
		"mirror: [{backendRef: {group: apps, kind: Service, name: s, port: 1}}]":       `spec.service.mirror[0].backendRef.group: canarykit mirrors to a Kubernetes Service (group "", the core group), got "apps"`,
		"mirror: [{backendRef: {kind: ServiceImport, name: s, port: 1}}]":              `spec.service.mirror[0].backendRef.kind: canarykit mirrors to a Kubernetes Service (kind Service), got "ServiceImport"`,
		"mirror: [{backendRef: {name: s, port: 1, weight: 2}}]":                        "spec.service.mirror[0].backendRef.weight: unknown field",
		"mirror: [{backendRef: {name: s, port: 1}}, {backendRef: {name: s, port: 1}}]": `spec.service.mirror[1].backendRef: "s" port 1 is listed twice`,
		many: "spec.service.mirror: at most 11 for an HTTPRoute rule",
		"mirror: [{backendRef: {name: podinfo-canary, port: 9898}}]":                         `spec.service.mirror[0].backendRef.name: "podinfo-canary" is one of the Services the canary routes between (podinfo, podinfo-primary, podinfo-canary)`,
		"mirror: [{backendRef: {name: podinfo, namespace: test, port: 9898}}]":               `spec.service.mirror[0].backendRef.name: "podinfo" is one of the Services`,
		"corsPolicy: {allowOrigins: [{prefix: https://a}]}":                                  "spec.service.corsPolicy.allowOrigins[0]: Gateway API's CORS filter takes origins",
		"corsPolicy: {allowOrigins: [{regex: 'https://.*'}]}":                                "spec.service.corsPolicy.allowOrigins[0]: Gateway API's CORS filter takes origins",
		"corsPolicy: {allowOrigin: [example.com]}":                                           `spec.service.corsPolicy.allowOrigin[0]: "example.com" is not an origin as Gateway API's CORS filter takes it`,
		"corsPolicy: {allowOrigin: ['https://a.b/path']}":                                    `spec.service.corsPolicy.allowOrigin[0]: "https://a.b/path" is not an origin`,
		"corsPolicy: {allowOrigin: ['*', 'https://a.b']}":                                    "spec.service.corsPolicy.allowOrigin[0]: '*' allows every origin: list it alone",
		"corsPolicy: {allowOrigin: ['https://a.b'], allowOrigins: [{exact: 'https://a.b'}]}": `spec.service.corsPolicy.allowOrigins[0].exact: "https://a.b" is listed twice`,
		"corsPolicy: {allowMethods: [GET, GET]}":                                             `spec.service.corsPolicy.allowMethods[1]: "GET" is listed twice`,
		"corsPolicy: {exposeHeaders: [x-a, X-A]}":                                            `spec.service.corsPolicy.exposeHeaders[1]: "X-A" is listed twice`,
		"corsPolicy: {maxAge: 1500ms}":                                                       "spec.service.corsPolicy.maxAge: Istio takes whole seconds",
		"corsPolicy: {maxAge: 600000h}":                                                      "spec.service.corsPolicy.maxAge: at most 2147483647 seconds in a Gateway API CORS filter",
	} {
		_, err := flagger.LoadCanary(canaryWith("gatewayapi:v1", gatewayRefs+", "+service))
		got := problems(t, err)
		require.Len(t, got, 1, service)
		assert.Contains(t, got[0], want, service)
	}
	for provider, want := range map[string]string{
		"linkerd":      `spec.service.mirror: only a Gateway API HTTPRoute carries it (provider gatewayapi:<version>, or linkerd with gatewayRefs), as in Flagger, whose other routers ignore it (spec.provider is "linkerd")`,
		"nginx":        `spec.service.mirror: only a Gateway API HTTPRoute carries it`,
		"smi:v1alpha3": `spec.service.mirror: only a Gateway API HTTPRoute carries it`,
		"istio":        "spec.service.mirror: only a Gateway API HTTPRoute carries it (provider gatewayapi:<version>, or linkerd with gatewayRefs), as in Flagger, whose Istio router ignores it",
	} {
		_, err := flagger.LoadCanary(canaryWith(provider, "mirror: [{backendRef: {name: shadow, port: 80}}]"))
		got := problems(t, err)
		require.NotEmpty(t, got, provider)
		assert.Contains(t, strings.Join(got, "\n"), want, provider)
	}
	_, err := flagger.LoadCanary(canaryWith("linkerd", "corsPolicy: {allowOrigin: ['https://a.b']}"))
	assert.Equal(t, []string{`spec.service.corsPolicy: only provider istio writes it, into the VirtualService or DestinationRules (spec.provider is "linkerd")`}, problems(t, err),
		"without gatewayRefs linkerd writes an SMI TrafficSplit")
	c, err := flagger.LoadCanary(canaryWith("", "mirror: [{backendRef: {name: shadow, port: 80}}]"))
	require.NoError(t, err)
	assert.Contains(t, c.Notes, "spec.provider is not set: spec.service.mirror is for the driver's default router, which must write a Gateway API HTTPRoute")
}
