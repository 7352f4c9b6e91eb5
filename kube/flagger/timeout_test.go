package flagger_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/kube/flagger"
)

// spec.service.timeout: 0s is not the absence of a timeout. A Gateway API HTTPRoute honours
// it (a zero Duration turns the request timeout off), backendTimeout beside it included;
// Istio refuses a route timeout under 1ms, and the routers without a timeout refuse it as
// they refuse any other, each at spec.service.timeout.
func TestZeroServiceTimeoutIsNotDropped(t *testing.T) {
	for _, p := range []string{"gatewayapi:v1", "linkerd"} {
		c, err := flagger.LoadCanary(canaryWith(p, gatewayRefs+", timeout: 0s, backendTimeout: 30s"))
		require.NoError(t, err, p)
		assert.Equal(t, flagger.RouterHTTPRoute, c.Router.Kind, p)
	}
	for provider, want := range map[string]string{
		"istio":        "spec.service.timeout: must be at least 1ms, got 0s",
		"linkerd":      "spec.service.timeout: only provider istio writes it",
		"kubernetes":   "spec.service.timeout: only provider istio writes it",
		"smi:v1alpha2": "spec.service.timeout: only provider istio writes it",
	} {
		_, err := flagger.LoadCanary(canaryWith(provider, "timeout: 0s"))
		require.Error(t, err, provider)
		got := problems(t, err)
		require.Len(t, got, 1, provider)
		assert.Contains(t, got[0], want, provider)
	}
	c, err := flagger.LoadCanary(canaryWith("", "timeout: 0s"))
	require.NoError(t, err)
	assert.Contains(t, c.Notes, "spec.provider is not set: spec.service's hosts, gateways and Istio fields are for the driver's default router, which must be istio (hosts: or a Gateway API HTTPRoute)",
		"without spec.provider the driver's router decides, as for any other timeout")
}

// An Istio duration given as 0s was read as the field's absence (a zero Duration is left out
// of the route or policy), so the resource took Istio's default where the Canary asked for
// zero, which Istio refuses. Every such field now refuses it at its path; a cookie's ttl keeps
// its 0s (a session cookie) and a route timeout's is checked by the router (above).
func TestZeroIstioDurationsAreRefusedAtTheirPath(t *testing.T) {
	for field, service := range map[string]string{
		"spec.service.retries.perTryTimeout":                           "retries: {attempts: 2, perTryTimeout: 0s}",
		"spec.service.corsPolicy.maxAge":                               "corsPolicy: {allowOrigins: [{exact: a.example}], maxAge: 0s}",
		"spec.service.trafficPolicy.loadBalancer.warmupDurationSecs":   "trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN, warmupDurationSecs: 0s}}",
		"spec.service.trafficPolicy.connectionPool.tcp.connectTimeout": "trafficPolicy: {connectionPool: {tcp: {connectTimeout: 0ms}}}",
		"spec.service.trafficPolicy.connectionPool.http.idleTimeout":   "trafficPolicy: {connectionPool: {http: {idleTimeout: 0s}}}",
		"spec.service.trafficPolicy.outlierDetection.interval":         "trafficPolicy: {outlierDetection: {interval: 0s}}",
		"spec.service.trafficPolicy.outlierDetection.baseEjectionTime": "trafficPolicy: {outlierDetection: {baseEjectionTime: 0h}}",
	} {
		_, err := flagger.LoadCanary(canaryWith("istio", service))
		require.Error(t, err, field)
		got := problems(t, err)
		require.Len(t, got, 1, field)
		assert.Equal(t, field+": must not be 0s: Istio refuses a zero duration here (as a Gateway API HTTPRoute refuses a zero CORS maxAge); leave it out for the default", got[0])
	}
	c, err := flagger.LoadCanary(canaryWith("istio", "retries: {attempts: 2, perTryTimeout: 1ms}, trafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {name: user, ttl: 0s}}}}"))
	require.NoError(t, err)
	assert.Equal(t, time.Millisecond, time.Duration(c.Service.Retries.PerTryTimeout))
	require.NotNil(t, c.Service.TrafficPolicy.LoadBalancer.ConsistentHash.HTTPCookie.TTL)
	assert.Zero(t, *c.Service.TrafficPolicy.LoadBalancer.ConsistentHash.HTTPCookie.TTL)
}
