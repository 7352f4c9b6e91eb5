package driver

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/mesh"
)

// A Canary's spec.service.timeout: 0s reaches its HTTPRoute's rules as timeouts.request 0s
// (Gateway API's "no timeout"), not as no timeouts.request at all (the gateway's default);
// the driver's default router refuses it unless it writes an HTTPRoute, naming the field.
func TestZeroServiceTimeoutReachesHTTPRoute(t *testing.T) {
	d := offline(t, Options{})
	manifest := "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: podinfo, namespace: test}\nspec:\n" +
		"  provider: gatewayapi:v1\n  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}\n" +
		"  service: {port: 9898, gatewayRefs: [{name: public}], timeout: 0s, backendTimeout: 30s}\n  analysis: {interval: 30s, iterations: 5}\n"
	c, err := flagger.LoadCanary([]byte(manifest))
	require.NoError(t, err)
	r, err := d.routers.forCanary(c)
	require.NoError(t, err)
	require.IsType(t, &mesh.HTTPRoute{}, r)
	request, backend := r.(*mesh.HTTPRoute).Timeouts()
	assert.Equal(t, "0s", request)
	assert.Equal(t, "30s", backend)

	manifest = "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: podinfo, namespace: test}\nspec:\n" +
		"  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}\n" +
		"  service: {port: 9898, timeout: 0s}\n  analysis: {interval: 30s, iterations: 5}\n"
	c, err = flagger.LoadCanary([]byte(manifest))
	require.NoError(t, err)
	i := offline(t, Options{DefaultRouter: flagger.Router{Kind: flagger.RouterIstio}})
	_, err = i.routers.forCanary(c)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "spec.service.timeout")
}
