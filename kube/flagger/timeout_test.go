package flagger_test

import (
	"testing"

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
