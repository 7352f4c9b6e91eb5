package driver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/mesh"
	"github.com/canarykit/canarykit/mesh/istioapi"
	"github.com/canarykit/canarykit/metrics"
)

// Provider istio gets the Istio router (one per version, shared), viewed per Canary with its
// hosts and gateways, and Flagger's Istio built-in checks; the others keep Linkerd's.
func TestIstioRouterAndBuiltins(t *testing.T) {
	d := offline(t, Options{})
	c := testCanary(flagger.Router{Kind: flagger.RouterIstio, Provider: "istio"})
	c.Service.Hosts, c.Service.Gateways = []string{"app.example.com"}, []string{"istio-system/public-gateway"}
	r, err := d.routers.forCanary(c)
	require.NoError(t, err)
	assert.IsType(t, &mesh.Istio{}, r)
	plain, err := d.routers.forCanary(testCanary(flagger.Router{Kind: flagger.RouterIstio, Provider: "istio"}))
	require.NoError(t, err)
	assert.NotSame(t, r, plain, "hosts and gateways are per Canary")
	assert.Len(t, d.routers.by, 1, "one shared Istio router")

	assert.Equal(t, metrics.Istio(), d.routers.builtins(c))
	assert.Equal(t, metrics.Linkerd(), d.routers.builtins(testCanary(flagger.Router{Kind: flagger.RouterSMI, Provider: "linkerd"})))
	istioDefault := offline(t, Options{DefaultRouter: flagger.Router{Kind: flagger.RouterIstio}})
	assert.Equal(t, metrics.Istio(), istioDefault.routers.builtins(testCanary(flagger.Router{})), "the Driver's default router counts")

	c.Service.Gateways = []string{"gw", "gw"}
	_, err = d.routers.forCanary(c)
	require.ErrorContains(t, err, `spec.service: mesh: invalid Istio service: gateways[1]: "gw" is listed twice`)
}

// A Canary's Istio fields reach the router only if it is Istio's: with another they are
// refused by field before anything is touched, not dropped.
func TestIstioFieldsNeedTheIstioRouter(t *testing.T) {
	c := testCanary(flagger.Router{})
	c.Service.Timeout = istioapi.Duration(30 * time.Second)
	c.Service.TrafficPolicy = &istioapi.TrafficPolicy{TLS: &istioapi.ClientTLSSettings{Mode: "ISTIO_MUTUAL"}}
	istio := offline(t, Options{DefaultRouter: flagger.Router{Kind: flagger.RouterIstio}})
	r, err := istio.routers.forCanary(c)
	require.NoError(t, err)
	assert.IsType(t, &mesh.Istio{}, r)
	_, err = offline(t, Options{}).routers.forCanary(c)
	require.ErrorContains(t, err, `spec.service.trafficPolicy, timeout: only the Istio router writes them`)
	// an HTTPRoute takes the timeout (its rules' timeouts.request, as Flagger writes it)
	_, err = offline(t, Options{DefaultRouter: flagger.Router{Kind: flagger.RouterHTTPRoute}}).routers.forCanary(c)
	require.ErrorContains(t, err, `spec.service.trafficPolicy: only the Istio router writes them`)
	c.Service.Retries = &istioapi.HTTPRetry{Attempts: -1}
	_, err = istio.routers.forCanary(c)
	require.ErrorContains(t, err, `spec.service: mesh: invalid Istio service: retries.attempts: must not be negative, got -1`)
}

// A Canary without spec.provider leaves its hosts and gateways to the Driver's default router:
// Istio's takes both (Flagger's -mesh-provider is istio by default), an HTTPRoute the hosts
// only, any other neither, refused by field before anything is touched.
func TestHostsAndGatewaysWithTheDefaultRouter(t *testing.T) {
	c := testCanary(flagger.Router{})
	c.Service.Hosts, c.Service.Gateways = []string{"app.example.com"}, []string{"istio-system/public-gateway"}
	istio := offline(t, Options{DefaultRouter: flagger.Router{Kind: flagger.RouterIstio}})
	r, err := istio.routers.forCanary(c)
	require.NoError(t, err)
	assert.IsType(t, &mesh.Istio{}, r)

	smi := offline(t, Options{})
	_, err = smi.routers.forCanary(c)
	require.ErrorContains(t, err, `spec.service.gateways: only the Istio router writes a VirtualService for them; spec.provider "" routes with smi`)
	hosts := testCanary(flagger.Router{})
	hosts.Service.Hosts = c.Service.Hosts
	_, err = smi.routers.forCanary(hosts)
	require.ErrorContains(t, err, `spec.service.hosts: only the Istio router (the VirtualService's hosts) or an HTTPRoute (its hostnames) uses them; spec.provider "" routes with smi`)
	httproute := offline(t, Options{DefaultRouter: flagger.Router{Kind: flagger.RouterHTTPRoute}})
	r, err = httproute.routers.forCanary(hosts)
	require.NoError(t, err)
	assert.IsType(t, &mesh.HTTPRoute{}, r)
}

// spec.service.portDiscovery behind Istio gateways or in a delegate VirtualService: the
// destinations name service.port, as Flagger's do; behind the sidecars ("mesh" first), or
// without discovery, they name none.
func TestIstioDestinationPortWithPortDiscovery(t *testing.T) {
	d := offline(t, Options{})
	for _, tc := range []struct {
		discovery bool
		gateways  []string
		delegate  bool
		want      int32
	}{
		{true, []string{"istio-system/public"}, false, 9898},
		{true, []string{"public", "mesh"}, false, 9898},
		{true, []string{"mesh", "public"}, false, 0},
		{true, nil, false, 0},
		{false, []string{"istio-system/public"}, false, 0},
		{true, nil, true, 9898}, // a delegate: its root VirtualService may be a gateway's
		{false, nil, true, 0},
	} {
		c := testCanary(flagger.Router{Kind: flagger.RouterIstio, Provider: "istio"})
		c.Workload.PortDiscovery, c.Service.Gateways, c.Service.Delegation = tc.discovery, tc.gateways, tc.delegate
		r, err := d.routers.forCanary(c)
		require.NoError(t, err)
		require.IsType(t, &mesh.Istio{}, r)
		assert.Equal(t, tc.want, r.(*mesh.Istio).DestinationPort(), "%+v", tc)
	}
}
