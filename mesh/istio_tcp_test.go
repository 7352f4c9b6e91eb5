package mesh

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	fakedynamic "k8s.io/client-go/dynamic/fake"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh/istioapi"
	"github.com/canarykit/canarykit/mesh/meshtest"
)

// tcpService is a Canary's spec.service with appProtocol tcp, as Flagger's Istio TCP
// documentation has it: the port to match and a TCP traffic policy.
func tcpService() istioapi.Service {
	return istioapi.Service{TCP: true, Match: []istioapi.HTTPMatchRequest{{Port: 9898}},
		TrafficPolicy: &istioapi.TrafficPolicy{TLS: &istioapi.ClientTLSSettings{Mode: "ISTIO_MUTUAL"}}}
}

// tcpInspect reads the weights of the first TCP route's destinations by host.
func tcpInspect(dyn *fakedynamic.FakeDynamicClient, version string) func(t *testing.T, tg canary.Target) canary.Weights {
	return vsRoutesInspect(dyn, version, "tcp")
}

// vsRouteWeights reads the weights of spec's first route of kind ("http" or "tcp") by host,
// and checks that the VirtualService has no route of the other kind.
func vsRouteWeights(t *testing.T, spec map[string]any, kind string, tg canary.Target) canary.Weights {
	t.Helper()
	other := map[string]string{"http": "tcp", "tcp": "http"}[kind]
	assert.NotContains(t, spec, other, "a VirtualService of %s routes only", kind)
	routes, _, err := unstructured.NestedSlice(spec, kind)
	require.NoError(t, err)
	require.NotEmpty(t, routes)
	dests, _, err := unstructured.NestedSlice(routes[0].(map[string]any), "route")
	require.NoError(t, err)
	by := map[string]int{}
	for _, d := range dests {
		host, _, _ := unstructured.NestedString(d.(map[string]any), "destination", "host")
		w, _, _ := unstructured.NestedInt64(d.(map[string]any), "weight")
		by[host] = int(w)
	}
	return canary.Weights{Primary: by[tg.PrimaryService()], Canary: by[tg.CanaryService()]}
}

// A TCP service's router passes the conformance suite: weights round-trip through its TCP
// route; A/B conditions, mirroring and session affinity, which only HTTP routes have, are
// refused with their errors.
func TestIstioTCPConformanceOnFakes(t *testing.T) {
	for _, v := range []string{"v1", "v1beta1"} {
		t.Run(v, func(t *testing.T) {
			dyn := newIstioFake()
			meshtest.Run(t, meshtest.Harness{
				NewRouter: func(t *testing.T) canary.MeshRouter { return istioServiceAt(t, dyn, tcpService(), v) },
				NewTarget: func(*testing.T) canary.Target { return newTarget() },
				Inspect:   tcpInspect(dyn, v),
			})
		})
	}
}

// The VirtualService of a TCP service is Flagger's: one TCP route matching the service's
// ports, with the weighted destinations, and no HTTP route; a step patches the two weights
// of that route, in one request.
func TestIstioTCPShapeAsFlaggerWrites(t *testing.T) {
	tg := canary.Target{Namespace: "test", Name: "podinfo"}
	dyn := newIstioFake()
	r := istioWithService(t, dyn, tcpService())
	require.NoError(t, r.Reconcile(ctx(t), tg))
	want := map[string]any{
		"gateways": []any{"mesh"},
		"hosts":    []any{"podinfo"},
		"tcp": []any{map[string]any{
			"match": []any{map[string]any{"port": int64(9898)}},
			"route": []any{dest("podinfo-primary", 100), dest("podinfo-canary", 0)},
		}},
	}
	assert.Equal(t, want, getVS(t, dyn, "v1", tg).Object["spec"])
	for _, name := range []string{"podinfo-primary", "podinfo-canary"} {
		dr, err := dyn.Resource(istioGVR("v1", "destinationrules")).Namespace("test").Get(ctx(t), name, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, map[string]any{"host": name, "trafficPolicy": map[string]any{"tls": map[string]any{"mode": "ISTIO_MUTUAL"}}}, dr.Object["spec"])
	}

	from := len(dyn.Actions())
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(30)))
	assert.Equal(t, []string{"patch"}, verbs(&dyn.Fake, from), "a step is one request")
	want["tcp"].([]any)[0].(map[string]any)["route"] = []any{dest("podinfo-primary", 70), dest("podinfo-canary", 30)}
	assert.Equal(t, want, getVS(t, dyn, "v1", tg).Object["spec"])
	w, err := r.Weights(ctx(t), tg)
	require.NoError(t, err)
	assert.Equal(t, canary.CanaryWeight(30), w)

	from = len(dyn.Actions())
	require.NoError(t, r.Reconcile(ctx(t), tg))
	assert.Equal(t, []string{"get", "get", "get"}, verbs(&dyn.Fake, from), "in shape: Reconcile only reads")

	// with a destination port (port discovery with gateways), the TCP destinations name it
	pr, err := r.WithDestinationPort(9898)
	require.NoError(t, err)
	require.NoError(t, pr.Reconcile(ctx(t), tg))
	tcp, _, _ := unstructured.NestedSlice(getVS(t, dyn, "v1", tg).Object, "spec", "tcp")
	for _, d := range tcp[0].(map[string]any)["route"].([]any) {
		port, _, _ := unstructured.NestedInt64(d.(map[string]any), "destination", "port", "number")
		assert.Equal(t, int64(9898), port)
	}
	assert.Equal(t, canary.CanaryWeight(30), tcpInspect(dyn, "v1")(t, tg), "the weights are kept")
}

// A target whose service became TCP has its HTTP VirtualService rewritten as a TCP one, all
// traffic on the primary (the weights of a route of the other kind are not read as its
// own), and the other way round.
func TestIstioTCPServiceChangeRewritesTheRoute(t *testing.T) {
	tg := canary.Target{Namespace: "test", Name: "podinfo"}
	dyn := newIstioFake()
	http := istioWithService(t, dyn, istioapi.Service{})
	require.NoError(t, http.Reconcile(ctx(t), tg))
	require.NoError(t, http.SetWeights(ctx(t), tg, canary.CanaryWeight(40)))

	tcp := istioWithService(t, dyn, tcpService())
	w, err := tcp.ReconcileWeights(ctx(t), tg)
	require.NoError(t, err)
	assert.Equal(t, canary.AllPrimary(), w)
	assert.Equal(t, canary.AllPrimary(), tcpInspect(dyn, "v1")(t, tg))
	require.NoError(t, tcp.SetWeights(ctx(t), tg, canary.CanaryWeight(20)))
	assert.Equal(t, canary.CanaryWeight(20), tcpInspect(dyn, "v1")(t, tg))

	// an HTTP router's step on the TCP route: its patch's test fails, the route is rewritten
	require.NoError(t, http.SetWeights(ctx(t), tg, canary.CanaryWeight(10)))
	spec, _, _ := unstructured.NestedMap(getVS(t, dyn, "v1", tg).Object, "spec")
	assert.Equal(t, canary.CanaryWeight(10), vsRouteWeights(t, spec, "http", tg))
}

// What only HTTP routes do is refused for a TCP service before any request: A/B conditions,
// a mirrored target or step, session affinity.
func TestIstioTCPRefusesWhatOnlyHTTPRoutesDo(t *testing.T) {
	dyn := newIstioFake()
	r := istioWithService(t, dyn, tcpService())
	ab := newTarget()
	ab.Match = abMatch
	mirrored := newTarget()
	mirrored.Mirror = 50
	sticky := affinityTarget(false, "", "")
	for _, c := range []struct {
		name string
		tg   canary.Target
		want error
	}{{"A/B", ab, canary.ErrMatchUnsupported}, {"mirror", mirrored, canary.ErrMirrorUnsupported}, {"affinity", sticky, canary.ErrSessionAffinityUnsupported}} {
		t.Run(c.name, func(t *testing.T) {
			from := len(dyn.Actions())
			err := r.Reconcile(ctx(t), c.tg)
			assert.ErrorIs(t, err, c.want)
			assert.True(t, canary.IsPermanent(err))
			assert.ErrorIs(t, r.SetWeights(ctx(t), c.tg, canary.CanaryWeight(10)), c.want)
			assert.Empty(t, verbs(&dyn.Fake, from), "refused before any request")
		})
	}
}
