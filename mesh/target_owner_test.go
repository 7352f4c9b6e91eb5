package mesh

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayfake "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned/fake"

	splitv1alpha2 "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/split/v1alpha2"
	splitfake "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/split/clientset/versioned/fake"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh/istioapi"
)

// routerBed is a router on fakes with what a test needs to look at its route object (named
// after the apex service) without the router's code.
type routerBed struct {
	router  canary.MeshRouter
	weights func(t *testing.T, tg canary.Target) canary.Weights
	meta    func(t *testing.T, tg canary.Target) metav1.Object
	fake    *clienttesting.Fake
}

// routerBeds are the routers whose route object is named after the apex service, each with
// objs (a route object made earlier, or nothing) in its fake.
func routerBeds(t *testing.T, split *splitv1alpha2.TrafficSplit, route *gwv1.HTTPRoute, vs *unstructured.Unstructured) map[string]routerBed {
	t.Helper()
	var splitObjs, routeObjs, vsObjs []runtime.Object
	if split != nil {
		splitObjs = append(splitObjs, split)
	}
	if route != nil {
		routeObjs = append(routeObjs, route)
	}
	if vs != nil {
		vsObjs = append(vsObjs, vs)
	}
	scs := splitfake.NewSimpleClientset(splitObjs...)
	ts, err := NewTrafficSplit(TrafficSplitOptions{Client: scs, Version: "v1alpha2"})
	require.NoError(t, err)
	gcs := gatewayfake.NewSimpleClientset(routeObjs...)
	hr, err := NewHTTPRoute(HTTPRouteOptions{Client: gcs, Port: 80})
	require.NoError(t, err)
	dyn := newIstioFake(vsObjs...)
	is, err := NewIstio(IstioOptions{Client: dyn, Version: "v1"})
	require.NoError(t, err)
	return map[string]routerBed{
		"TrafficSplit": {router: ts, weights: fakeInspect(scs, "v1alpha2"), fake: &scs.Fake,
			meta: func(t *testing.T, tg canary.Target) metav1.Object {
				got, err := scs.SplitV1alpha2().TrafficSplits(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
				require.NoError(t, err)
				return got
			}},
		"HTTPRoute": {router: hr, weights: routeInspect(gcs), fake: &gcs.Fake,
			meta: func(t *testing.T, tg canary.Target) metav1.Object {
				got, err := gcs.GatewayV1().HTTPRoutes(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
				require.NoError(t, err)
				return got
			}},
		"Istio": {router: is, weights: vsInspect(dyn, "v1"), fake: &dyn.Fake,
			meta: func(t *testing.T, tg canary.Target) metav1.Object { return getVS(t, dyn, "v1", tg) }},
	}
}

// Two targets whose service names the same apex share the names of its route objects: the
// router made them for the first, and refuses them to the second, which changes nothing.
func TestRoutersRefuseAnotherTargetsRoute(t *testing.T) {
	for name, bed := range routerBeds(t, nil, nil, nil) {
		t.Run(name, func(t *testing.T) {
			a, b := newTarget(), newTarget()
			a.Service, b.Service = "web", "web"
			require.NoError(t, bed.router.Reconcile(ctx(t), a))
			require.NoError(t, bed.router.SetWeights(ctx(t), a, canary.CanaryWeight(30)))
			assert.Equal(t, a.Name, bed.meta(t, a).GetAnnotations()[canary.AnnotationTarget], "the route records its target")

			from := len(bed.fake.Actions())
			err := bed.router.Reconcile(ctx(t), b)
			requirePermanent(t, err)
			assert.ErrorIs(t, err, ErrNotOwned)
			assert.ErrorContains(t, err, "for target "+a.Name)
			assert.ErrorContains(t, err, "not for "+b.Name)
			err = bed.router.SetWeights(ctx(t), b, canary.CanaryWeight(50))
			requirePermanent(t, err)
			assert.ErrorIs(t, err, ErrNotOwned)
			_, err = bed.router.Weights(ctx(t), b)
			requirePermanent(t, err)
			assert.ErrorIs(t, err, ErrNotOwned, "Weights refuses it as Reconcile does")
			assert.ErrorContains(t, err, "for target "+a.Name)
			for _, verb := range verbs(bed.fake, from) {
				assert.Contains(t, []string{"get", "patch"}, verb, "nothing but reads and refused patches")
			}
			assert.Equal(t, canary.CanaryWeight(30), bed.weights(t, a), "the first target's weights are kept")
			assert.Equal(t, a.Name, bed.meta(t, a).GetAnnotations()[canary.AnnotationTarget])

			require.NoError(t, bed.router.SetWeights(ctx(t), a, canary.CanaryWeight(40)), "its own target still writes it")
			assert.Equal(t, canary.CanaryWeight(40), bed.weights(t, a))
			w, err := bed.router.Weights(ctx(t), a)
			require.NoError(t, err, "and reads it")
			assert.Equal(t, canary.CanaryWeight(40), w)
		})
	}
}

// A route object labelled as the router's but recording no target (made before routers
// recorded theirs) is taken as the target's and claimed at the next write, weights kept.
func TestRoutersClaimRoutesRecordingNoTarget(t *testing.T) {
	tg := newTarget()
	managed := map[string]string{canary.LabelManagedBy: canary.ManagedBy}
	split := &splitv1alpha2.TrafficSplit{ObjectMeta: metav1.ObjectMeta{Name: tg.ApexService(), Namespace: tg.Namespace, Labels: managed},
		Spec: splitv1alpha2.TrafficSplitSpec{Service: tg.ApexService(), Backends: []splitv1alpha2.TrafficSplitBackend{
			{Service: tg.CanaryService(), Weight: 20}, {Service: tg.PrimaryService(), Weight: 80}}}}
	route := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: tg.ApexService(), Namespace: tg.Namespace, Labels: managed},
		Spec: routeSpec(tg, nil, nil, 80, canary.CanaryWeight(20))}
	vsSpec, err := specMap(virtualService(tg, istioapi.Service{}, canary.CanaryWeight(20)))
	require.NoError(t, err)
	vs := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
		"metadata": map[string]any{"name": tg.ApexService(), "namespace": tg.Namespace, "labels": map[string]any{canary.LabelManagedBy: canary.ManagedBy}},
		"spec":     vsSpec,
	}}

	for _, step := range []string{"Reconcile", "SetWeights"} {
		for name, bed := range routerBeds(t, split.DeepCopy(), route.DeepCopy(), vs.DeepCopy()) {
			t.Run(step+"/"+name, func(t *testing.T) {
				want := canary.CanaryWeight(20)
				if step == "Reconcile" {
					require.NoError(t, bed.router.Reconcile(ctx(t), tg))
				} else {
					want = canary.CanaryWeight(60)
					require.NoError(t, bed.router.SetWeights(ctx(t), tg, want))
				}
				assert.Equal(t, tg.Name, bed.meta(t, tg).GetAnnotations()[canary.AnnotationTarget], "claimed for the target")
				assert.Equal(t, want, bed.weights(t, tg))

				other := canary.Target{Namespace: tg.Namespace, Name: tg.Name + "-other", Service: tg.ApexService()}
				err := bed.router.Reconcile(ctx(t), other)
				assert.ErrorIs(t, err, ErrNotOwned, "once claimed, the route is refused to another target")
			})
		}
	}
}

// sharedIngress is an Ingress in front of two targets, a path each.
func sharedIngress(a, b canary.Target) *networkingv1.Ingress {
	ing := userIngress(a)
	ing.Name = "web"
	path := ing.Spec.Rules[0].HTTP.Paths[0]
	path.Path = "/b"
	path.Backend = *path.Backend.DeepCopy()
	path.Backend.Service.Name = b.ApexService()
	ing.Spec.Rules[0].HTTP.Paths = append(ing.Spec.Rules[0].HTTP.Paths, path)
	return ing
}

// Two targets whose ingressRef names the same Ingress share the name of its canary Ingress:
// the router made it for the first and refuses it to the second, whose Remove keeps it.
func TestNGINXTargetsSharingAnIngress(t *testing.T) {
	a, b := newTarget(), newTarget()
	a.Ingress, b.Ingress = "web", "web"
	cs := fake.NewClientset(sharedIngress(a, b))
	r := newNGINX(t, NGINXOptions{Client: cs.NetworkingV1()})
	require.NoError(t, r.Reconcile(ctx(t), a))
	require.NoError(t, r.SetWeights(ctx(t), a, canary.CanaryWeight(30)))
	before, err := fakeIngresses(cs)(a.Namespace, "web-canary")
	require.NoError(t, err)
	assert.Equal(t, a.Name, before.Annotations[canary.AnnotationTarget])

	err = r.Reconcile(ctx(t), b)
	requirePermanent(t, err)
	assert.ErrorIs(t, err, ErrNotOwned)
	assert.ErrorContains(t, err, "Ingress test/web-canary")
	assert.ErrorContains(t, err, "for target "+a.Name)
	err = r.SetWeights(ctx(t), b, canary.CanaryWeight(50))
	requirePermanent(t, err)
	assert.ErrorIs(t, err, ErrNotOwned)
	_, err = r.Weights(ctx(t), b)
	requirePermanent(t, err)
	assert.ErrorIs(t, err, ErrNotOwned, "Weights refuses it as Reconcile does")
	assert.ErrorContains(t, err, "for target "+a.Name)
	require.NoError(t, r.Remove(ctx(t), b), "another target's canary Ingress is left alone")

	after, err := fakeIngresses(cs)(a.Namespace, "web-canary")
	require.NoError(t, err, "the first target's canary Ingress is kept")
	assert.Equal(t, before.Spec, after.Spec)
	assert.Equal(t, before.Annotations, after.Annotations)
	assert.Equal(t, a.CanaryService(), after.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name)
	assert.Equal(t, canary.CanaryWeight(30), nginxInspect(t, fakeIngresses(cs))(t, a))

	require.NoError(t, r.Remove(ctx(t), a))
	_, err = fakeIngresses(cs)(a.Namespace, "web-canary")
	assert.True(t, apierrors.IsNotFound(err), "its own target removes it: %v", err)
}

// A canary Ingress made before routers recorded their target is the one of the targets
// sharing its Ingress whose canary Service it routes to.
func TestNGINXClaimsACanaryIngressRecordingNoTarget(t *testing.T) {
	a, b := newTarget(), newTarget()
	a.Ingress, b.Ingress = "web", "web"
	cs := fake.NewClientset(sharedIngress(a, b))
	r := newNGINX(t, NGINXOptions{Client: cs.NetworkingV1()})
	require.NoError(t, r.Reconcile(ctx(t), a))
	require.NoError(t, r.SetWeights(ctx(t), a, canary.CanaryWeight(30)))
	old, err := fakeIngresses(cs)(a.Namespace, "web-canary")
	require.NoError(t, err)
	delete(old.Annotations, canary.AnnotationTarget)
	_, err = cs.NetworkingV1().Ingresses(a.Namespace).Update(ctx(t), old, metav1.UpdateOptions{})
	require.NoError(t, err)

	err = r.Reconcile(ctx(t), b)
	assert.ErrorIs(t, err, ErrNotOwned, "it routes nothing to %s", b.CanaryService())
	assert.ErrorContains(t, err, "routes nothing to "+b.CanaryService())
	_, err = r.Weights(ctx(t), b)
	assert.ErrorIs(t, err, ErrNotOwned, "Weights refuses it as Reconcile does")
	assert.ErrorContains(t, err, "routes nothing to "+b.CanaryService())
	w, err := r.Weights(ctx(t), a)
	require.NoError(t, err, "its own target reads it")
	assert.Equal(t, canary.CanaryWeight(30), w)
	require.NoError(t, r.Remove(ctx(t), b))
	_, err = fakeIngresses(cs)(a.Namespace, "web-canary")
	require.NoError(t, err, "kept by the other target's Remove")

	require.NoError(t, r.SetWeights(ctx(t), a, canary.CanaryWeight(40)))
	got, err := fakeIngresses(cs)(a.Namespace, "web-canary")
	require.NoError(t, err)
	assert.Equal(t, a.Name, got.Annotations[canary.AnnotationTarget], "claimed at the next write")
	assert.Equal(t, canary.CanaryWeight(40), nginxInspect(t, fakeIngresses(cs))(t, a))
}

// Remove deletes with preconditions on the UID and resourceVersion it read; an object that
// changed meanwhile (here: claimed for another target) is read again and, no longer the
// target's, kept.
func TestRemoveJudgesAChangedObjectAgain(t *testing.T) {
	tg := newTarget()
	old := userIngress(tg)
	old.Name = CanaryIngressName(tg)
	old.UID, old.ResourceVersion = "uid-1", "7"
	retarget(&old.Spec.Rules[0].HTTP.Paths[0].Backend, tg)
	old.Labels = map[string]string{canary.LabelManagedBy: canary.ManagedBy} // recording no target
	cs := fake.NewClientset(old)
	var deletes []metav1.DeleteOptions
	cs.PrependReactor("delete", "ingresses", func(a clienttesting.Action) (bool, runtime.Object, error) {
		deletes = append(deletes, a.(clienttesting.DeleteActionImpl).DeleteOptions)
		// what the API server does when the object changed between the read and the delete
		cur, err := cs.Tracker().Get(schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"}, tg.Namespace, old.Name)
		require.NoError(t, err)
		ing := cur.(*networkingv1.Ingress).DeepCopy()
		ing.Annotations[canary.AnnotationTarget] = "someone-else"
		ing.ResourceVersion = "8"
		require.NoError(t, cs.Tracker().Update(schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"}, ing, tg.Namespace))
		return true, nil, apierrors.NewConflict(schema.GroupResource{Group: "networking.k8s.io", Resource: "ingresses"}, old.Name, errors.New("precondition failed"))
	})
	r := newNGINX(t, NGINXOptions{Client: cs.NetworkingV1()})
	require.NoError(t, r.Remove(ctx(t), tg))

	require.Len(t, deletes, 1, "read again, then left alone")
	require.NotNil(t, deletes[0].Preconditions)
	assert.Equal(t, "uid-1", string(*deletes[0].Preconditions.UID))
	require.NotNil(t, deletes[0].Preconditions.ResourceVersion)
	assert.Equal(t, "7", *deletes[0].Preconditions.ResourceVersion)
	_, err := fakeIngresses(cs)(tg.Namespace, old.Name)
	assert.NoError(t, err, "the changed object is kept")
}

// An object that keeps changing under Remove is a transient error, for Retire to run again.
func TestRemoveGivesUpOnAnObjectThatKeepsChanging(t *testing.T) {
	dyn := newIstioFake()
	r, err := NewIstio(IstioOptions{Client: dyn, Version: "v1"})
	require.NoError(t, err)
	tg := newTarget()
	require.NoError(t, r.Reconcile(ctx(t), tg))
	dyn.PrependReactor("delete", "virtualservices", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewConflict(schema.GroupResource{Group: IstioGroup, Resource: "virtualservices"}, tg.ApexService(), errors.New("changed"))
	})
	err = r.Remove(ctx(t), tg)
	require.Error(t, err)
	assert.False(t, isPermanent(err), "retried: %v", err)
	getVS(t, dyn, "v1", tg)
}
