package mesh

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	fakedynamic "k8s.io/client-go/dynamic/fake"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh/istioapi"
	"github.com/canarykit/canarykit/mesh/meshtest"
)

func istioGVR(version, resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: IstioGroup, Version: version, Resource: resource}
}

// newIstioFake is a fake dynamic client serving VirtualServices and DestinationRules at v1
// and v1beta1.
func newIstioFake(objs ...runtime.Object) *fakedynamic.FakeDynamicClient {
	lists := map[schema.GroupVersionResource]string{}
	for _, v := range []string{"v1", "v1beta1"} {
		lists[istioGVR(v, "virtualservices")] = "VirtualServiceList"
		lists[istioGVR(v, "destinationrules")] = "DestinationRuleList"
	}
	return fakedynamic.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), lists, objs...)
}

// getVS reads t's VirtualService at version through the fake, without the router.
func getVS(t *testing.T, dyn *fakedynamic.FakeDynamicClient, version string, tg canary.Target) *unstructured.Unstructured {
	t.Helper()
	u, err := dyn.Resource(istioGVR(version, "virtualservices")).Namespace(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	return u
}

// vsInspect reads the weights of the first HTTP route's destinations by host.
func vsInspect(dyn *fakedynamic.FakeDynamicClient, version string) func(t *testing.T, tg canary.Target) canary.Weights {
	return vsRoutesInspect(dyn, version, "http")
}

// vsRoutesInspect reads the weights of the first route's destinations by host, of kind
// ("http" or "tcp"), and checks that the VirtualService has no route of the other kind.
func vsRoutesInspect(dyn *fakedynamic.FakeDynamicClient, version, kind string) func(t *testing.T, tg canary.Target) canary.Weights {
	return func(t *testing.T, tg canary.Target) canary.Weights {
		t.Helper()
		spec, _, err := unstructured.NestedMap(getVS(t, dyn, version, tg).Object, "spec")
		require.NoError(t, err)
		return vsRouteWeights(t, spec, kind, tg)
	}
}

func TestIstioConformanceOnFakes(t *testing.T) {
	for _, v := range []string{"v1", "v1beta1"} {
		t.Run(v, func(t *testing.T) {
			dyn := newIstioFake()
			meshtest.Run(t, meshtest.Harness{
				NewRouter: func(t *testing.T) canary.MeshRouter {
					r, err := NewIstio(IstioOptions{Client: dyn, Discovery: discoveryServing(IstioGroup + "/" + v)})
					require.NoError(t, err)
					return r
				},
				NewTarget:       func(*testing.T) canary.Target { return newTarget() },
				Inspect:         vsInspect(dyn, v),
				Match:           abMatch,
				Mirror:          true,
				SessionAffinity: true,
			})
		})
	}
}

func TestIstioShape(t *testing.T) {
	tg := newTarget()
	tg.Match = abMatch
	dyn := newIstioFake()
	base, err := NewIstio(IstioOptions{Client: dyn, Version: "v1"})
	require.NoError(t, err)
	r, err := base.WithService(istioapi.Service{Hosts: []string{"app.example.com"}, Gateways: []string{"istio-system/public-gateway"}})
	require.NoError(t, err)
	require.NoError(t, r.Reconcile(ctx(t), tg))
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(25)))

	vs := getVS(t, dyn, "v1", tg)
	assert.Equal(t, "networking.istio.io/v1", vs.GetAPIVersion())
	assert.Equal(t, "VirtualService", vs.GetKind())
	assert.Equal(t, "canarykit", vs.GetLabels()[canary.LabelManagedBy])
	p, c := tg.PrimaryService(), tg.CanaryService()
	want := map[string]any{
		"hosts":    []any{"app.example.com", tg.ApexService()},
		"gateways": []any{"istio-system/public-gateway"},
		"http": []any{
			map[string]any{
				"match": []any{
					map[string]any{"headers": map[string]any{
						"user-agent": map[string]any{"prefix": "Mozilla/5.0 (X11"},
						"x-canary":   map[string]any{"exact": "in.sider"},
					}},
					map[string]any{"headers": map[string]any{
						"cookie": map[string]any{"regex": "^(.*?;)?(type=insider)(;.*)?$"},
						"x-tier": map[string]any{"regex": `.*\+gold$`},
					}},
				},
				"route": []any{
					map[string]any{"destination": map[string]any{"host": p}, "weight": int64(75)},
					map[string]any{"destination": map[string]any{"host": c}, "weight": int64(25)},
				},
			},
			map[string]any{"route": []any{map[string]any{"destination": map[string]any{"host": p}, "weight": int64(100)}}},
		},
	}
	assert.Equal(t, want, vs.Object["spec"])

	for _, name := range []string{p, c} {
		dr, err := dyn.Resource(istioGVR("v1", "destinationrules")).Namespace(tg.Namespace).Get(ctx(t), name, metav1.GetOptions{})
		require.NoError(t, err, "DestinationRule %s", name)
		assert.Equal(t, map[string]any{"host": name}, dr.Object["spec"])
		assert.Equal(t, "canarykit", dr.GetLabels()[canary.LabelManagedBy])
	}
}

func TestIstioDefaultHostsAndGateways(t *testing.T) {
	tg := newTarget()
	dyn := newIstioFake()
	r, err := NewIstio(IstioOptions{Client: dyn, Version: "v1beta1"})
	require.NoError(t, err)
	require.NoError(t, r.Reconcile(ctx(t), tg))
	vs := getVS(t, dyn, "v1beta1", tg)
	assert.Equal(t, "networking.istio.io/v1beta1", vs.GetAPIVersion())
	hosts, _, _ := unstructured.NestedStringSlice(vs.Object, "spec", "hosts")
	gateways, _, _ := unstructured.NestedStringSlice(vs.Object, "spec", "gateways")
	assert.Equal(t, []string{tg.ApexService()}, hosts)
	assert.Equal(t, []string{"mesh"}, gateways)
	http, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
	assert.Len(t, http, 1, "without match conditions, one weighted route")

	// "*" stands for the apex service, as in Flagger (on gateways only: Istio refuses it on
	// the mesh's, TestIstioMeshHostsStayWithinTheTarget)
	wild, err := r.WithService(istioapi.Service{Hosts: []string{"*"}, Gateways: []string{"public"}})
	require.NoError(t, err)
	tg2 := newTarget()
	require.NoError(t, wild.Reconcile(ctx(t), tg2))
	hosts, _, _ = unstructured.NestedStringSlice(getVS(t, dyn, "v1beta1", tg2).Object, "spec", "hosts")
	assert.Equal(t, []string{"*"}, hosts)
}

func TestIstioWithServiceValidates(t *testing.T) {
	r, err := NewIstio(IstioOptions{Client: newIstioFake(), Version: "v1"})
	require.NoError(t, err)
	_, err = r.WithService(istioapi.Service{Hosts: []string{"a", ""}, Gateways: []string{"g", "g"},
		Retries: &istioapi.HTTPRetry{Attempts: 3, PerTryTimeout: istioapi.Duration(time.Microsecond)}})
	require.ErrorIs(t, err, canary.ErrInvalidSpec)
	assert.ErrorContains(t, err, "hosts[1]")
	assert.ErrorContains(t, err, `gateways[1]: "g" is listed twice`)
	assert.ErrorContains(t, err, "retries.perTryTimeout: must be at least 1ms")
}

func TestIstioReadsAbsentWeightsAsIstioDoes(t *testing.T) {
	tg := newTarget()
	spec := storedRoutes{HTTP: []storedRoute{{Route: []istioDestination{
		{Destination: istioHost{Host: tg.PrimaryService()}, Weight: ptrTo(int32(100))},
		{Destination: istioHost{Host: tg.CanaryService()}}, // Istio's clients omit a zero weight
	}}}}
	w, err := virtualServiceWeights(spec.HTTP, tg)
	require.NoError(t, err)
	assert.Equal(t, canary.AllPrimary(), w)

	spec.HTTP[0].Route[0].Weight = nil
	_, err = virtualServiceWeights(spec.HTTP, tg)
	assert.Error(t, err, "two destinations without weight route nothing")

	_, err = virtualServiceWeights([]storedRoute{{Route: []istioDestination{
		{Destination: istioHost{Host: tg.PrimaryService()}}}}}, tg)
	assert.ErrorContains(t, err, "no route with destinations")
}

func TestIstioSetWeightsIsOneRequestAndHeals(t *testing.T) {
	tg := newTarget()
	dyn := newIstioFake()
	r, err := NewIstio(IstioOptions{Client: dyn, Version: "v1"})
	require.NoError(t, err)
	require.NoError(t, r.Reconcile(ctx(t), tg))
	from := len(dyn.Actions())
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(10)))
	assert.Equal(t, []string{"patch"}, verbs(&dyn.Fake, from), "a step is one request")

	// someone reorders the destinations: the patch's test fails, the router reshapes
	vs := getVS(t, dyn, "v1", tg)
	http, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
	route := http[0].(map[string]any)["route"].([]any)
	route[0], route[1] = route[1], route[0]
	require.NoError(t, unstructured.SetNestedSlice(vs.Object, http, "spec", "http"))
	_, err = dyn.Resource(istioGVR("v1", "virtualservices")).Namespace(tg.Namespace).Update(ctx(t), vs, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(30)))
	assert.Equal(t, canary.CanaryWeight(30), vsInspect(dyn, "v1")(t, tg))

	// deleted: created again with the weights, DestinationRules too
	require.NoError(t, dyn.Resource(istioGVR("v1", "virtualservices")).Namespace(tg.Namespace).Delete(ctx(t), tg.ApexService(), metav1.DeleteOptions{}))
	require.NoError(t, dyn.Resource(istioGVR("v1", "destinationrules")).Namespace(tg.Namespace).Delete(ctx(t), tg.CanaryService(), metav1.DeleteOptions{}))
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(40)))
	assert.Equal(t, canary.CanaryWeight(40), vsInspect(dyn, "v1")(t, tg))
	_, err = dyn.Resource(istioGVR("v1", "destinationrules")).Namespace(tg.Namespace).Get(ctx(t), tg.CanaryService(), metav1.GetOptions{})
	assert.NoError(t, err, "the canary's DestinationRule is back")
}

// istioAt returns a target and an Istio router (v1, on a fake) whose VirtualService for it
// routes w.
func istioAt(t *testing.T, w canary.Weights) (canary.Target, *fakedynamic.FakeDynamicClient, *Istio) {
	t.Helper()
	tg := newTarget()
	dyn := newIstioFake()
	r, err := NewIstio(IstioOptions{Client: dyn, Version: "v1"})
	require.NoError(t, err)
	require.NoError(t, r.Reconcile(ctx(t), tg))
	require.NoError(t, r.SetWeights(ctx(t), tg, w))
	return tg, dyn, r
}

func TestIstioReconcileReshapesKeepingWeights(t *testing.T) {
	tg, dyn, r := istioAt(t, canary.CanaryWeight(20))

	// drift: a retry policy and a changed host list, and a DestinationRule with a traffic policy
	vs := getVS(t, dyn, "v1", tg)
	require.NoError(t, unstructured.SetNestedStringSlice(vs.Object, []string{"other"}, "spec", "hosts"))
	http, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
	http[0].(map[string]any)["retries"] = map[string]any{"attempts": int64(3)}
	require.NoError(t, unstructured.SetNestedSlice(vs.Object, http, "spec", "http"))
	_, err := dyn.Resource(istioGVR("v1", "virtualservices")).Namespace(tg.Namespace).Update(ctx(t), vs, metav1.UpdateOptions{})
	require.NoError(t, err)
	drs := dyn.Resource(istioGVR("v1", "destinationrules")).Namespace(tg.Namespace)
	dr, err := drs.Get(ctx(t), tg.PrimaryService(), metav1.GetOptions{})
	require.NoError(t, err)
	require.NoError(t, unstructured.SetNestedField(dr.Object, "ROUND_ROBIN", "spec", "trafficPolicy", "loadBalancer", "simple"))
	_, err = drs.Update(ctx(t), dr, metav1.UpdateOptions{})
	require.NoError(t, err)

	w, err := r.ReconcileWeights(ctx(t), tg)
	require.NoError(t, err)
	assert.Equal(t, canary.CanaryWeight(20), w, "weights kept")
	vs = getVS(t, dyn, "v1", tg)
	hosts, _, _ := unstructured.NestedStringSlice(vs.Object, "spec", "hosts")
	assert.Equal(t, []string{tg.ApexService()}, hosts)
	http, _, _ = unstructured.NestedSlice(vs.Object, "spec", "http")
	assert.NotContains(t, http[0].(map[string]any), "retries")
	assert.Equal(t, canary.CanaryWeight(20), vsInspect(dyn, "v1")(t, tg))
	dr, err = drs.Get(ctx(t), tg.PrimaryService(), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"host": tg.PrimaryService()}, dr.Object["spec"])

	// a second Reconcile on the fixed objects is three reads
	from := len(dyn.Actions())
	require.NoError(t, r.Reconcile(ctx(t), tg))
	assert.Equal(t, []string{"get", "get", "get"}, verbs(&dyn.Fake, from))

	// the target stops matching: the A/B routes go
	tg.Match = abMatch
	require.NoError(t, r.Reconcile(ctx(t), tg))
	http, _, _ = unstructured.NestedSlice(getVS(t, dyn, "v1", tg).Object, "spec", "http")
	assert.Len(t, http, 2)
	tg.Match = nil
	require.NoError(t, r.Reconcile(ctx(t), tg))
	http, _, _ = unstructured.NestedSlice(getVS(t, dyn, "v1", tg).Object, "spec", "http")
	assert.Len(t, http, 1)
}

func TestIstioNotOwned(t *testing.T) {
	for _, kind := range []string{"VirtualService", "DestinationRule"} {
		t.Run(kind, func(t *testing.T) {
			tg := newTarget()
			name, resource := tg.ApexService(), "virtualservices"
			if kind == "DestinationRule" {
				name, resource = tg.CanaryService(), "destinationrules"
			}
			theirs := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "networking.istio.io/v1", "kind": kind,
				"metadata": map[string]any{"name": name, "namespace": tg.Namespace, "labels": map[string]any{canary.LabelManagedBy: "flagger"}},
				"spec":     map[string]any{"host": name},
			}}
			dyn := newIstioFake(theirs)
			r, err := NewIstio(IstioOptions{Client: dyn, Version: "v1"})
			require.NoError(t, err)
			err = r.Reconcile(ctx(t), tg)
			require.ErrorIs(t, err, ErrNotOwned)
			requirePermanent(t, err)
			assert.ErrorContains(t, err, kind+" "+tg.Namespace+"/"+name)
			got, err := dyn.Resource(istioGVR("v1", resource)).Namespace(tg.Namespace).Get(ctx(t), name, metav1.GetOptions{})
			require.NoError(t, err)
			assert.Equal(t, theirs.Object["spec"], got.Object["spec"], "left alone")
			if kind == "VirtualService" {
				err = r.SetWeights(ctx(t), tg, canary.CanaryWeight(10))
				assert.ErrorIs(t, err, ErrNotOwned)
			}
		})
	}
}

func TestIstioDiscovery(t *testing.T) {
	dyn := newIstioFake()
	disc := discoveryServing("networking.istio.io/v1beta1")
	r, err := NewIstio(IstioOptions{Client: dyn, Discovery: disc})
	require.NoError(t, err)
	v, err := r.APIVersion(ctx(t))
	require.NoError(t, err)
	assert.Equal(t, "networking.istio.io/v1beta1", v)
	tg := newTarget()
	require.NoError(t, r.Reconcile(ctx(t), tg))
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(5)))
	assert.Equal(t, canary.CanaryWeight(5), vsInspect(dyn, "v1beta1")(t, tg))
	assert.Equal(t, 1, countGroups(disc), "discovery runs once")

	none, err := NewIstio(IstioOptions{Client: dyn, Discovery: discoveryServing("split.smi-spec.io/v1alpha2")})
	require.NoError(t, err)
	err = none.Reconcile(ctx(t), tg)
	require.ErrorIs(t, err, ErrCRDMissing)
	requirePermanent(t, err)
	assert.ErrorContains(t, err, VirtualServiceCRD)
}

func TestIstioMissingCRDAndErrors(t *testing.T) {
	dyn := newIstioFake()
	crdMissingReactor(&dyn.Fake, IstioGroup, "destinationrules")
	r, err := NewIstio(IstioOptions{Client: dyn, Version: "v1"})
	require.NoError(t, err)
	err = r.Reconcile(ctx(t), newTarget())
	require.ErrorIs(t, err, ErrCRDMissing)
	assert.ErrorContains(t, err, DestinationRuleCRD)
	requirePermanent(t, err)

	dyn = newIstioFake()
	r, err = NewIstio(IstioOptions{Client: dyn, Version: "v1"})
	require.NoError(t, err)
	tg := newTarget()
	require.NoError(t, r.Reconcile(ctx(t), tg))
	failOnce(&dyn.Fake, "patch", "virtualservices", apierrors.NewServiceUnavailable("busy"))
	err = r.SetWeights(ctx(t), tg, canary.CanaryWeight(10))
	require.Error(t, err)
	assert.False(t, isPermanent(err), "a server error is retried: %v", err)
	failOnce(&dyn.Fake, "patch", "virtualservices", apierrors.NewForbidden(schema.GroupResource{Group: IstioGroup, Resource: "virtualservices"}, tg.ApexService(), errors.New("no")))
	requirePermanent(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(10)))
}

func TestNewIstioReportsEveryProblem(t *testing.T) {
	_, err := NewIstio(IstioOptions{Version: "v1alpha3"})
	require.Error(t, err)
	assert.ErrorContains(t, err, "Client is required")
	assert.ErrorContains(t, err, `Version "v1alpha3"`)
	_, err = NewIstio(IstioOptions{Client: newIstioFake()})
	assert.ErrorContains(t, err, "Discovery is required")
}

// With a destination port (Flagger's portDiscovery behind Istio gateways), every destination
// of the VirtualService names that port of its Service: a VirtualService written without it
// is reshaped with its weights kept, and the weights are read and written as before.
func TestIstioDestinationPort(t *testing.T) {
	tg, dyn, r := istioAt(t, canary.CanaryWeight(20))
	gw, err := r.WithService(istioapi.Service{Hosts: []string{"app.example.com"}, Gateways: []string{"istio-system/public"}})
	require.NoError(t, err)
	pr, err := gw.WithDestinationPort(9898)
	require.NoError(t, err)
	assert.Equal(t, int32(9898), pr.DestinationPort())
	assert.Equal(t, int32(0), gw.DestinationPort())

	ports := func() []any {
		http, _, err := unstructured.NestedSlice(getVS(t, dyn, "v1", tg).Object, "spec", "http")
		require.NoError(t, err)
		require.NotEmpty(t, http)
		var out []any
		for _, d := range http[0].(map[string]any)["route"].([]any) {
			out = append(out, d.(map[string]any)["destination"].(map[string]any)["port"])
		}
		return out
	}
	assert.Equal(t, []any{nil, nil}, ports())
	require.NoError(t, pr.Reconcile(ctx(t), tg))
	port := map[string]any{"number": int64(9898)}
	assert.Equal(t, []any{port, port}, ports())
	w, err := pr.Weights(ctx(t), tg)
	require.NoError(t, err)
	assert.Equal(t, canary.CanaryWeight(20), w, "the weights kept")
	require.NoError(t, pr.SetWeights(ctx(t), tg, canary.CanaryWeight(40)))
	w, err = pr.Weights(ctx(t), tg)
	require.NoError(t, err)
	assert.Equal(t, canary.CanaryWeight(40), w)
	assert.Equal(t, []any{port, port}, ports())

	_, err = r.WithDestinationPort(70000)
	assert.ErrorContains(t, err, "want 1..65535, or 0 for none")
}
