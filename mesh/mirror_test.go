package mesh

import (
	"testing"

	specsfake "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/specs/clientset/versioned/fake"
	splitfake "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/split/clientset/versioned/fake"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	fakedynamic "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayfake "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned/fake"

	"github.com/canarykit/canarykit/canary"
)

// mirroredTarget is a target that mirrors pct percent of the requests.
func mirroredTarget(pct int) canary.Target {
	tg := newTarget()
	tg.Mirror = pct
	return tg
}

// weightedRoute returns t's VirtualService's first HTTP route.
func weightedRoute(t *testing.T, u *unstructured.Unstructured) map[string]any {
	t.Helper()
	http, _, err := unstructured.NestedSlice(u.Object, "spec", "http")
	require.NoError(t, err)
	require.NotEmpty(t, http)
	return http[0].(map[string]any)
}

// The mirrored step's VirtualService is Flagger's (pkg/router/istio.go SetRoutes with
// mirrored): all weight on the primary, and on the weighted route a mirror to the canary
// Service with mirrorPercentage only for a share below every request. The step after it
// removes both. Each step is one JSON patch; the weights read back say whether it mirrors.
func TestIstioMirrorShape(t *testing.T) {
	for _, c := range []struct {
		name    string
		pct     int
		percent any // mirrorPercentage, nil when absent
	}{
		{"every request (mirrorWeight 0)", 100, nil},
		{"mirrorWeight 30", 30, map[string]any{"value": int64(30)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tg := mirroredTarget(c.pct)
			dyn := newIstioFake()
			r, err := NewIstio(IstioOptions{Client: dyn, Version: "v1"})
			require.NoError(t, err)
			require.NoError(t, r.Reconcile(ctx(t), tg))

			before := len(dyn.Actions())
			require.NoError(t, r.SetWeights(ctx(t), tg, canary.MirrorToCanary()))
			assert.Equal(t, []string{"patch"}, verbs(&dyn.Fake, before), "one request")
			route := weightedRoute(t, getVS(t, dyn, "v1", tg))
			want := map[string]any{
				"route": []any{
					map[string]any{"destination": map[string]any{"host": tg.PrimaryService()}, "weight": int64(100)},
					map[string]any{"destination": map[string]any{"host": tg.CanaryService()}, "weight": int64(0)},
				},
				"mirror": map[string]any{"host": tg.CanaryService()},
			}
			if c.percent != nil {
				want["mirrorPercentage"] = c.percent
			}
			assert.Equal(t, want, route)
			w, err := r.Weights(ctx(t), tg)
			require.NoError(t, err)
			assert.Equal(t, canary.MirrorToCanary(), w)

			before = len(dyn.Actions())
			require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(10)))
			assert.Equal(t, []string{"patch"}, verbs(&dyn.Fake, before), "one request")
			route = weightedRoute(t, getVS(t, dyn, "v1", tg))
			assert.NotContains(t, route, "mirror")
			assert.NotContains(t, route, "mirrorPercentage")
			w, err = r.Weights(ctx(t), tg)
			require.NoError(t, err)
			assert.Equal(t, canary.CanaryWeight(10), w)

			// a rollback from the mirrored step leaves no mirror either
			require.NoError(t, r.SetWeights(ctx(t), tg, canary.MirrorToCanary()))
			require.NoError(t, r.SetWeights(ctx(t), tg, canary.AllPrimary()))
			route = weightedRoute(t, getVS(t, dyn, "v1", tg))
			assert.NotContains(t, route, "mirror")
			assert.NotContains(t, route, "mirrorPercentage")
		})
	}
}

// With a destination port (Istio gateways with portDiscovery), the mirror names it too: a
// multi-port Service needs it.
func TestIstioMirrorDestinationPort(t *testing.T) {
	tg := mirroredTarget(100)
	dyn := newIstioFake()
	base, err := NewIstio(IstioOptions{Client: dyn, Version: "v1"})
	require.NoError(t, err)
	r, err := base.WithDestinationPort(9898)
	require.NoError(t, err)
	require.NoError(t, r.Reconcile(ctx(t), tg))
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.MirrorToCanary()))
	assert.Equal(t, map[string]any{"host": tg.CanaryService(), "port": map[string]any{"number": int64(9898)}},
		weightedRoute(t, getVS(t, dyn, "v1", tg))["mirror"])
	// Reconcile finds the route in shape: the mirror it wrote is kept, nothing is written
	before := len(dyn.Actions())
	w, err := r.ReconcileWeights(ctx(t), tg)
	require.NoError(t, err)
	assert.Equal(t, canary.MirrorToCanary(), w)
	assert.Equal(t, []string{"get", "get", "get"}, verbs(&dyn.Fake, before))
}

// Reconcile keeps the mirror exactly when the route is in a mirrored step of a target that
// mirrors, and removes any other mirror (someone else's, or one a target that no longer
// mirrors left); a wrong share is put right.
func TestIstioMirrorDrift(t *testing.T) {
	setup := func(t *testing.T, pct int) (canary.Target, *Istio, func() map[string]any, func(mirror, percent any)) {
		tg := mirroredTarget(pct)
		dyn := newIstioFake()
		r, err := NewIstio(IstioOptions{Client: dyn, Version: "v1"})
		require.NoError(t, err)
		require.NoError(t, r.Reconcile(ctx(t), tg))
		get := func() map[string]any { return weightedRoute(t, getVS(t, dyn, "v1", tg)) }
		edit := func(mirror, percent any) {
			vs := getVS(t, dyn, "v1", tg)
			http, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
			route := http[0].(map[string]any)
			route["mirror"] = mirror
			if percent != nil {
				route["mirrorPercentage"] = percent
			}
			require.NoError(t, unstructured.SetNestedSlice(vs.Object, http, "spec", "http"))
			_, err := dyn.Resource(istioGVR("v1", "virtualservices")).Namespace(tg.Namespace).Update(ctx(t), vs, metav1.UpdateOptions{})
			require.NoError(t, err)
		}
		return tg, r, get, edit
	}

	t.Run("a mirrored step keeps its mirror, with the right share", func(t *testing.T) {
		tg, r, get, edit := setup(t, 40)
		require.NoError(t, r.SetWeights(ctx(t), tg, canary.MirrorToCanary()))
		edit(map[string]any{"host": tg.CanaryService()}, map[string]any{"value": int64(5)})
		w, err := r.ReconcileWeights(ctx(t), tg)
		require.NoError(t, err)
		assert.Equal(t, canary.MirrorToCanary(), w)
		assert.Equal(t, map[string]any{"host": tg.CanaryService()}, get()["mirror"])
		assert.Equal(t, map[string]any{"value": int64(40)}, get()["mirrorPercentage"])
	})
	t.Run("a mirror to the canary beside a weight is removed, the weight kept", func(t *testing.T) {
		tg, r, get, edit := setup(t, 100)
		require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(20)))
		edit(map[string]any{"host": tg.CanaryService()}, nil)
		w, err := r.Weights(ctx(t), tg)
		require.NoError(t, err)
		assert.Equal(t, canary.CanaryWeight(20), w, "not a mirrored step")
		w, err = r.ReconcileWeights(ctx(t), tg)
		require.NoError(t, err)
		assert.Equal(t, canary.CanaryWeight(20), w)
		assert.NotContains(t, get(), "mirror")
	})
	t.Run("a mirror elsewhere is removed", func(t *testing.T) {
		tg, r, get, edit := setup(t, 100)
		edit(map[string]any{"host": "elsewhere"}, nil)
		w, err := r.ReconcileWeights(ctx(t), tg)
		require.NoError(t, err)
		assert.Equal(t, canary.AllPrimary(), w)
		assert.NotContains(t, get(), "mirror")
	})
	t.Run("a target that does not mirror has its mirror removed", func(t *testing.T) {
		tg, r, get, edit := setup(t, 100)
		edit(map[string]any{"host": tg.CanaryService()}, nil)
		tg.Mirror = 0
		w, err := r.ReconcileWeights(ctx(t), tg)
		require.NoError(t, err)
		assert.Equal(t, canary.AllPrimary(), w)
		assert.NotContains(t, get(), "mirror")
	})
	t.Run("a patch the server refuses is followed by a reshape with the mirror", func(t *testing.T) {
		tg, r, get, _ := setup(t, 100)
		// primary and canary swapped: the patch's tests fail, the route is put back in shape
		vs := getVS(t, r.dyn.(*fakedynamic.FakeDynamicClient), "v1", tg)
		http, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
		route := http[0].(map[string]any)
		dests := route["route"].([]any)
		route["route"] = []any{dests[1], dests[0]}
		delete(route, "mirror")
		require.NoError(t, unstructured.SetNestedSlice(vs.Object, http, "spec", "http"))
		_, err := r.dyn.Resource(istioGVR("v1", "virtualservices")).Namespace(tg.Namespace).Update(ctx(t), vs, metav1.UpdateOptions{})
		require.NoError(t, err)
		require.NoError(t, r.SetWeights(ctx(t), tg, canary.MirrorToCanary()))
		assert.Equal(t, map[string]any{"host": tg.CanaryService()}, get()["mirror"])
		w, err := r.Weights(ctx(t), tg)
		require.NoError(t, err)
		assert.Equal(t, canary.MirrorToCanary(), w)
	})
}

// getRoute reads t's HTTPRoute through the fake.
func getRoute(t *testing.T, cs *gatewayfake.Clientset, tg canary.Target) *gwv1.HTTPRoute {
	t.Helper()
	hr, err := cs.GatewayV1().HTTPRoutes(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	return hr
}

// The mirrored step's HTTPRoute is Flagger's (pkg/router/gateway_api.go SetRoutes with
// mirrored): all weight on the primary, and on the weighted rule a RequestMirror filter to the
// canary Service at the service port, with percent only for a share below every request
// (Flagger writes none: it ignores mirrorWeight with Gateway API). The step after it removes
// the filter. Each step is one JSON patch; the weights read back say whether it mirrors.
func TestHTTPRouteMirrorShape(t *testing.T) {
	for _, c := range []struct {
		name    string
		pct     int
		percent *int32
	}{
		{"every request (mirrorWeight 0)", 100, nil},
		{"mirrorWeight 30", 30, ptrTo(int32(30))},
	} {
		t.Run(c.name, func(t *testing.T) {
			tg := mirroredTarget(c.pct)
			cs := gatewayfake.NewSimpleClientset()
			r, err := NewHTTPRoute(HTTPRouteOptions{Client: cs, Port: 9898})
			require.NoError(t, err)
			require.NoError(t, r.Reconcile(ctx(t), tg))

			before := len(cs.Actions())
			require.NoError(t, r.SetWeights(ctx(t), tg, canary.MirrorToCanary()))
			assert.Equal(t, []string{"patch"}, verbs(&cs.Fake, before), "one request")
			hr := getRoute(t, cs, tg)
			require.Len(t, hr.Spec.Rules, 1)
			rule := hr.Spec.Rules[0]
			assert.Equal(t, []gwv1.HTTPRouteFilter{{
				Type: gwv1.HTTPRouteFilterRequestMirror,
				RequestMirror: &gwv1.HTTPRequestMirrorFilter{
					BackendRef: gwv1.BackendObjectReference{Group: ptrTo(gwv1.Group("")), Kind: ptrTo(gwv1.Kind("Service")),
						Name: gwv1.ObjectName(tg.CanaryService()), Port: ptrTo(gwv1.PortNumber(9898))},
					Percent: c.percent,
				},
			}}, rule.Filters)
			require.Len(t, rule.BackendRefs, 2)
			assert.Empty(t, rule.BackendRefs[0].Filters, "the filter is the rule's, not a backend's")
			assert.Equal(t, int32(100), *rule.BackendRefs[0].Weight)
			assert.Equal(t, int32(0), *rule.BackendRefs[1].Weight)
			w, err := r.Weights(ctx(t), tg)
			require.NoError(t, err)
			assert.Equal(t, canary.MirrorToCanary(), w)
			// Reconcile finds it in shape and keeps it
			before = len(cs.Actions())
			w, err = r.ReconcileWeights(ctx(t), tg)
			require.NoError(t, err)
			assert.Equal(t, canary.MirrorToCanary(), w)
			assert.Equal(t, []string{"get"}, verbs(&cs.Fake, before))

			before = len(cs.Actions())
			require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(10)))
			assert.Equal(t, []string{"patch"}, verbs(&cs.Fake, before), "one request")
			assert.Empty(t, getRoute(t, cs, tg).Spec.Rules[0].Filters)
			w, err = r.Weights(ctx(t), tg)
			require.NoError(t, err)
			assert.Equal(t, canary.CanaryWeight(10), w)

			require.NoError(t, r.SetWeights(ctx(t), tg, canary.MirrorToCanary()))
			require.NoError(t, r.SetWeights(ctx(t), tg, canary.AllPrimary()))
			assert.Empty(t, getRoute(t, cs, tg).Spec.Rules[0].Filters, "a rollback leaves no mirror")
		})
	}
}

// Reconcile removes a mirror from the route of a target that does not mirror, and one beside a
// canary weight (a mirrored step has all traffic on the primary).
func TestHTTPRouteMirrorDrift(t *testing.T) {
	tg := mirroredTarget(100)
	cs := gatewayfake.NewSimpleClientset()
	r, err := NewHTTPRoute(HTTPRouteOptions{Client: cs, Port: 9898})
	require.NoError(t, err)
	require.NoError(t, r.Reconcile(ctx(t), tg))
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.MirrorToCanary()))
	tg.Mirror = 0
	w, err := r.ReconcileWeights(ctx(t), tg)
	require.NoError(t, err)
	assert.Equal(t, canary.AllPrimary(), w)
	assert.Empty(t, getRoute(t, cs, tg).Spec.Rules[0].Filters)

	tg.Mirror = 100
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(20)))
	hr := getRoute(t, cs, tg)
	hr.Spec.Rules[0].Filters = mirrorFilters(tg, 9898)
	_, err = cs.GatewayV1().HTTPRoutes(tg.Namespace).Update(ctx(t), hr, metav1.UpdateOptions{})
	require.NoError(t, err)
	w, err = r.Weights(ctx(t), tg)
	require.NoError(t, err)
	assert.Equal(t, canary.CanaryWeight(20), w, "not a mirrored step")
	w, err = r.ReconcileWeights(ctx(t), tg)
	require.NoError(t, err)
	assert.Equal(t, canary.CanaryWeight(20), w)
	assert.Empty(t, getRoute(t, cs, tg).Spec.Rules[0].Filters)
}

// Routers that cannot copy requests refuse a target that mirrors from Reconcile, and mirrored
// weights from SetWeights, with ErrMirrorUnsupported, before any request.
func TestRoutersThatCannotMirror(t *testing.T) {
	kube := kubefake.NewSimpleClientset()
	split, err := NewTrafficSplit(TrafficSplitOptions{Client: splitfake.NewSimpleClientset(), Specs: specsfake.NewSimpleClientset(), Version: "v1alpha2"})
	require.NoError(t, err)
	ks, err := NewKubernetes(KubernetesOptions{Client: kube.CoreV1()})
	require.NoError(t, err)
	routers := map[string]canary.MeshRouter{
		"smi":        split,
		"kubernetes": ks,
		"nginx":      newNGINX(t, NGINXOptions{Client: kube.NetworkingV1()}),
	}
	for name, r := range routers {
		t.Run(name, func(t *testing.T) {
			before := len(kube.Actions())
			err := r.Reconcile(ctx(t), mirroredTarget(100))
			require.ErrorIs(t, err, canary.ErrMirrorUnsupported)
			requirePermanent(t, err)
			err = r.SetWeights(ctx(t), newTarget(), canary.MirrorToCanary())
			require.ErrorIs(t, err, canary.ErrMirrorUnsupported)
			assert.Len(t, kube.Actions(), before, "no request")
		})
	}
}

// Mirrored weights need a target that mirrors, and no match conditions.
func TestMirroredWeightsNeedAMirroringTarget(t *testing.T) {
	cs := gatewayfake.NewSimpleClientset()
	hr, err := NewHTTPRoute(HTTPRouteOptions{Client: cs, Port: 9898})
	require.NoError(t, err)
	ir, err := NewIstio(IstioOptions{Client: newIstioFake(), Version: "v1"})
	require.NoError(t, err)
	for name, r := range map[string]canary.MeshRouter{"httproute": hr, "istio": ir} {
		t.Run(name, func(t *testing.T) {
			tg := newTarget()
			require.NoError(t, r.Reconcile(ctx(t), tg))
			require.ErrorIs(t, r.SetWeights(ctx(t), tg, canary.MirrorToCanary()), canary.ErrInvalidWeights)
			tg.Mirror, tg.Match = 100, abMatch
			require.ErrorIs(t, r.SetWeights(ctx(t), tg, canary.MirrorToCanary()), canary.ErrInvalidWeights)
			tg.Mirror = 101
			tg.Match = nil
			require.Error(t, r.Reconcile(ctx(t), tg))
		})
	}
}

// A route left mirroring is cleared by a switch to all-primary for the target as a Flagger
// Canary names it, without the mirror share the Rollout fills in (Target.Mirror 0): what a
// retirement (kube/driver leaveOnPrimary) or an edit that dropped analysis.mirror writes.
func TestMirrorClearedForATargetThatDoesNotMirror(t *testing.T) {
	t.Run("Istio", func(t *testing.T) {
		tg := mirroredTarget(100)
		plain := tg
		plain.Mirror = 0
		dyn := newIstioFake()
		r, err := NewIstio(IstioOptions{Client: dyn, Version: "v1"})
		require.NoError(t, err)
		require.NoError(t, r.Reconcile(ctx(t), tg))
		require.NoError(t, r.SetWeights(ctx(t), tg, canary.MirrorToCanary()))
		w, err := r.Weights(ctx(t), plain)
		require.NoError(t, err)
		assert.Equal(t, canary.MirrorToCanary(), w, "the read-back tells the truth")

		require.NoError(t, r.SetWeights(ctx(t), plain, canary.AllPrimary()))
		route := weightedRoute(t, getVS(t, dyn, "v1", plain))
		assert.NotContains(t, route, "mirror")
		assert.NotContains(t, route, "mirrorPercentage")
		w, err = r.Weights(ctx(t), plain)
		require.NoError(t, err)
		assert.Equal(t, canary.AllPrimary(), w)
	})
	t.Run("HTTPRoute", func(t *testing.T) {
		tg := mirroredTarget(100)
		plain := tg
		plain.Mirror = 0
		cs := gatewayfake.NewSimpleClientset()
		r, err := NewHTTPRoute(HTTPRouteOptions{Client: cs, Port: 9898})
		require.NoError(t, err)
		require.NoError(t, r.Reconcile(ctx(t), tg))
		require.NoError(t, r.SetWeights(ctx(t), tg, canary.MirrorToCanary()))
		w, err := r.Weights(ctx(t), plain)
		require.NoError(t, err)
		assert.Equal(t, canary.MirrorToCanary(), w, "the read-back tells the truth")

		require.NoError(t, r.SetWeights(ctx(t), plain, canary.AllPrimary()))
		assert.Empty(t, getRoute(t, cs, plain).Spec.Rules[0].Filters)
		w, err = r.Weights(ctx(t), plain)
		require.NoError(t, err)
		assert.Equal(t, canary.AllPrimary(), w)
	})
}
