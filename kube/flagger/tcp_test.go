package flagger_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/mesh/istioapi"
)

// tcpCanary is a Canary of provider with a TCP service, its analysis replaced by analysis.
func tcpCanary(provider, service, analysis string) []byte {
	data := string(canaryWith(provider, "appProtocol: TCP"+service))
	return []byte(strings.Replace(data, "{interval: 30s, iterations: 5}", analysis, 1))
}

// A TCP service (appProtocol tcp, in any case, as Flagger reads it) is routed by Istio with a
// TCP route: the service's match ports and traffic policy are kept; with the driver's default
// router the same (it may be Istio's).
func TestIstioTCPService(t *testing.T) {
	for _, provider := range []string{"istio", ""} {
		m, err := flagger.LoadCanary(tcpCanary(provider, ", match: [{port: 9898}], trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}",
			"{interval: 30s, stepWeight: 10, maxWeight: 50}"))
		require.NoError(t, err, provider)
		assert.True(t, m.Service.TCP, provider)
		assert.Equal(t, []istioapi.HTTPMatchRequest{{Port: 9898}}, m.Service.Match)
		assert.Equal(t, "TCP", m.Workload.AppProtocol, "the Services' port says so too")
	}
	// other providers do not read it, as in Flagger: the Services' port says tcp, nothing else
	for _, provider := range []string{"linkerd", "gatewayapi:v1", "smi:v1alpha3"} {
		m, err := flagger.LoadCanary(tcpCanary(provider, "", "{interval: 30s, stepWeight: 10, maxWeight: 50}"))
		require.NoError(t, err, provider)
		assert.False(t, m.Service.TCP, provider)
	}
}

// What a TCP route cannot carry is refused by path, where Flagger drops it (and its A/B test
// would send every request to the canary).
func TestIstioTCPServiceRefusesHTTPFields(t *testing.T) {
	_, err := flagger.LoadCanary(tcpCanary("istio", `, match: [{port: 9898, uri: {prefix: /api}}, {headers: {x-a: {exact: b}}}],
      timeout: 30s, retries: {attempts: 3}, rewrite: {uri: /}, headers: {request: {add: {x-a: b}}}, corsPolicy: {allowOrigin: [a.example.com]}`,
		"{interval: 30s, stepWeight: 10, maxWeight: 50, mirror: true}"))
	tcp := "a TCP service (appProtocol tcp) is routed by a TCP route, which has no "
	assert.ElementsMatch(t, []string{
		"spec.service.rewrite: " + tcp + "rewrite; remove it",
		"spec.service.timeout: " + tcp + "timeout; remove it",
		"spec.service.retries: " + tcp + "retries; remove it",
		"spec.service.corsPolicy: " + tcp + "corsPolicy; remove it",
		"spec.service.headers: " + tcp + "headers; remove it",
		"spec.service.match[0].uri: a TCP route matches by port only; remove it",
		"spec.service.match[1].port: required for a TCP service: a TCP route matches by port only",
		"spec.service.match[1].headers: a TCP route matches by port only; remove it",
		"spec.analysis.mirror: spec.service.appProtocol is tcp: Istio routes the service with a TCP route, which cannot copy requests",
	}, problems(t, err))

	_, err = flagger.LoadCanary(tcpCanary("istio", "", `{interval: 30s, iterations: 5, match: [{headers: {x-canary: {exact: insider}}}]}`))
	assert.Equal(t, []string{"spec.analysis.match: spec.service.appProtocol is tcp: Istio routes the service with a TCP route, which matches ports, not requests (A/B testing needs an HTTP service)"},
		problems(t, err))

	_, err = flagger.LoadCanary(tcpCanary("istio", "", `{interval: 30s, stepWeight: 10, maxWeight: 50, sessionAffinity: {cookieName: flagger-cookie}}`))
	assert.Equal(t, []string{"spec.analysis.sessionAffinity: spec.service.appProtocol is tcp: Istio routes the service with a TCP route, which cannot route by cookie nor set one"},
		problems(t, err))
}
