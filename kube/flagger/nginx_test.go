package flagger_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/flagger"
)

// nginxCanary is Flagger's NGINX tutorial Canary (podinfo behind Ingress "podinfo-public"),
// with analysis given.
func nginxCanary(ingressRef, analysis string) []byte {
	return []byte(`apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  provider: nginx
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
` + ingressRef + `
  service: {port: 80, targetPort: 9898}
  analysis:
    interval: 10s
    threshold: 10` + analysis)
}

const publicIngress = "  ingressRef: {apiVersion: networking.k8s.io/v1, kind: Ingress, name: podinfo-public}"

func TestNGINXProvider(t *testing.T) {
	m, err := flagger.LoadCanary(nginxCanary(publicIngress, `
    maxWeight: 50
    stepWeight: 5
    metrics:
      - {name: request-success-rate, thresholdRange: {min: 99}, interval: 1m}
      - name: latency
        query: 'sum(rate(nginx_ingress_controller_response_duration_seconds_sum{ingress="{{ ingress }}"}[{{ interval }}]))'
        thresholdRange: {max: 500}
`))
	require.NoError(t, err)
	assert.Equal(t, flagger.Router{Kind: flagger.RouterNGINX, Provider: "nginx"}, m.Router)
	assert.Equal(t, canary.Target{Namespace: "test", Name: "podinfo", Ingress: "podinfo-public"}, m.Target)
	q, err := canary.RenderQuery(m.Spec.Metrics[1].Query, canary.VarsFor(m.Target, m.Spec.Metrics[1]))
	require.NoError(t, err)
	assert.Equal(t, `sum(rate(nginx_ingress_controller_response_duration_seconds_sum{ingress="podinfo-public"}[1m]))`, q,
		"{{ ingress }} is the ingressRef's name")

	// A/B as Flagger's NGINX tutorial writes it: a header and a cookie by name
	m, err = flagger.LoadCanary(nginxCanary(publicIngress, `
    iterations: 10
    match:
      - headers: {x-canary: {exact: insider}}
      - headers: {cookie: {exact: canary}}
`))
	require.NoError(t, err)
	assert.Equal(t, canary.StrategyABTesting, m.Spec.Strategy())
}

// spec.ingressRef names the Ingress of any provider's {{ ingress }}; it is required with nginx.
func TestIngressRef(t *testing.T) {
	m, err := flagger.LoadCanary(canaryWith("linkerd", ""))
	require.NoError(t, err)
	assert.Empty(t, m.Target.Ingress)

	_, err = flagger.LoadCanary(nginxCanary("", "\n    stepWeight: 10"))
	assert.Equal(t, []string{"spec.ingressRef: required with NGINX routing (provider nginx, or the driver's default router): the Ingress in front of service podinfo, which canarykit copies to <name>-canary"},
		problems(t, err))

	_, err = flagger.LoadCanary(nginxCanary("  ingressRef: {apiVersion: networking.k8s.io/v2, kind: Route, name: Public, port: 80}", "\n    stepWeight: 10"))
	assert.ElementsMatch(t, []string{
		`spec.ingressRef.apiVersion: must be networking.k8s.io/v1 (or the earlier networking.k8s.io/v1beta1 or extensions/v1beta1, read as v1), got "networking.k8s.io/v2"`,
		`spec.ingressRef.kind: must be Ingress, got "Route"`,
		`spec.ingressRef.name: "Public" is not a valid Kubernetes name (lowercase RFC 1123)`,
		"spec.ingressRef.port: unknown field (not a Flagger Canary field canarykit knows)",
	}, problems(t, err))
}

// A/B tests ingress-nginx cannot route are refused at the match's path.
func TestNGINXMatchRefused(t *testing.T) {
	_, err := flagger.LoadCanary(nginxCanary(publicIngress, `
    iterations: 10
    match:
      - headers: {user-agent: {regex: ".*Firefox.*"}, x-tier: {exact: gold}}
      - headers: {x-canary: {exact: insider}}
      - headers: {x-other: {prefix: a}}
      - headers: {cookie: {regex: "^(.*?;)?(type=insider)(;.*)?$"}}
      - headers: {cookie: {exact: canary}}
      - headers: {Cookie: {exact: beta}}
`))
	assert.ElementsMatch(t, []string{
		"spec.analysis.match[0].headers: provider nginx matches one header or one cookie per match entry, got 2 conditions",
		`spec.analysis.match[2].headers.x-other: provider nginx matches one header; "x-canary" is matched already`,
		`spec.analysis.match[3].headers.cookie: provider nginx matches a cookie by name: write exact: <cookie name> (requests whose cookie of that name is "always" go to the canary)`,
		`spec.analysis.match[5].headers.Cookie: provider nginx matches a cookie under the key cookie, lowercase, as Flagger reads it: under "Cookie" Flagger matches the whole Cookie header (canary-by-header); write cookie`,
	}, problems(t, err))
}

// Flagger's NGINX router reads a cookie condition under the key "cookie" alone: under
// "Cookie" (or any other spelling) it writes canary-by-header with the whole Cookie header's
// value. Such a key is refused at its path, not read as a cookie's name.
func TestNGINXCookieKeyIsLowercase(t *testing.T) {
	for _, key := range []string{"Cookie", "COOKIE"} {
		_, err := flagger.LoadCanary(nginxCanary(publicIngress, `
    iterations: 10
    match:
      - headers: {`+key+`: {exact: beta}}
`))
		assert.Equal(t, []string{`spec.analysis.match[0].headers.` + key + `: provider nginx matches a cookie under the key cookie, lowercase, as Flagger reads it: under "` + key + `" Flagger matches the whole Cookie header (canary-by-header); write cookie`},
			problems(t, err))
	}
}

// A MetricTemplate's {{ ingress }} is the ingressRef's name once resolved.
func TestTemplateIngressIsTheIngressRef(t *testing.T) {
	m, err := flagger.LoadCanary(nginxCanary(publicIngress, `
    stepWeight: 10
    metrics:
      - {name: nginx-errors, templateRef: {name: nginx-errors}, thresholdRange: {max: 1}, interval: 1m}
`))
	require.NoError(t, err)
	src := &flagger.Objects{MetricTemplates: []flagger.MetricTemplate{{Name: "nginx-errors", Namespace: "test",
		Provider: flagger.MetricTemplateProvider{Type: "prometheus", Address: "http://prom:9090"},
		Query:    `sum(rate(nginx_ingress_controller_requests{namespace="{{ namespace }}", ingress="{{ ingress }}", status=~"5.*"}[{{ interval }}]))`}}}
	require.NoError(t, m.Resolve(context.Background(), src))
	q, err := canary.RenderQuery(m.Spec.Metrics[0].Query, canary.VarsFor(m.Target, m.Spec.Metrics[0]))
	require.NoError(t, err)
	assert.Equal(t, `sum(rate(nginx_ingress_controller_requests{namespace="test", ingress="podinfo-public", status=~"5.*"}[1m]))`, q)
}

// Flagger reads spec.ingressRef's name alone and gets the Ingress as networking.k8s.io/v1
// whatever apiVersion the reference gives; its schema leaves apiVersion free. Canaries
// written from its NGINX tutorial before May 2021 name networking.k8s.io/v1beta1 (before
// that, extensions/v1beta1): the same Ingress, read as v1 here too, with a Note.
func TestIngressRefOfAnEarlierIngressVersion(t *testing.T) {
	for _, v := range []string{"networking.k8s.io/v1beta1", "extensions/v1beta1"} {
		m, err := flagger.LoadCanary(nginxCanary("  ingressRef: {apiVersion: "+v+", kind: Ingress, name: podinfo-public}", "\n    stepWeight: 10"))
		require.NoError(t, err, v)
		assert.Equal(t, "podinfo-public", m.Target.Ingress, v)
		assert.Contains(t, m.Notes, `spec.ingressRef.apiVersion "`+v+`" is read as networking.k8s.io/v1`, v)
	}
	m, err := flagger.LoadCanary(nginxCanary(publicIngress, "\n    stepWeight: 10"))
	require.NoError(t, err)
	assert.Empty(t, m.Notes, "networking.k8s.io/v1 needs no note")
}
