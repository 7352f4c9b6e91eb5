package mesh

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	splitv1alpha2 "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/split/v1alpha2"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh/istioapi"
)

// flaggerRef is the controller owner reference Flagger gives what it generates for Canary
// name (metav1.NewControllerRef of the Canary).
func flaggerRef(name, uid string) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "flagger.app/v1beta1", Kind: "Canary", Name: name, UID: types.UID(uid),
		Controller: ptrTo(true), BlockOwnerDeletion: ptrTo(true)}
}

// flaggerRoutes are t's route objects as Flagger writes them for Canary t.CanaryName(): no
// canarykit label or annotation, the Canary as controller (owner as given), 20 % canary.
func flaggerRoutes(t *testing.T, tg canary.Target, owner metav1.OwnerReference) (*splitv1alpha2.TrafficSplit, *gwv1.HTTPRoute, *unstructured.Unstructured) {
	t.Helper()
	meta := metav1.ObjectMeta{Name: tg.ApexService(), Namespace: tg.Namespace, OwnerReferences: []metav1.OwnerReference{owner}}
	split := &splitv1alpha2.TrafficSplit{ObjectMeta: *meta.DeepCopy(),
		Spec: splitv1alpha2.TrafficSplitSpec{Service: tg.ApexService(), Backends: []splitv1alpha2.TrafficSplitBackend{
			{Service: tg.CanaryService(), Weight: 20}, {Service: tg.PrimaryService(), Weight: 80}}}}
	route := &gwv1.HTTPRoute{ObjectMeta: *meta.DeepCopy(), Spec: routeSpec(tg, nil, nil, 80, canary.CanaryWeight(20))}
	vsSpec, err := specMap(virtualService(tg, istioapi.Service{}, canary.CanaryWeight(20)))
	require.NoError(t, err)
	vs := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
		"metadata": map[string]any{"name": tg.ApexService(), "namespace": tg.Namespace},
		"spec":     vsSpec,
	}}
	vs.SetOwnerReferences([]metav1.OwnerReference{owner})
	return split, route, vs
}

// A route object Flagger generated for the target's Canary (its controller is that Canary, by
// name and UID) is adopted: the router's first write labels it as the router's and records the
// target, keeping the weights and Flagger's owner reference.
func TestRoutersAdoptFlaggersRoute(t *testing.T) {
	tg := newTarget()
	tg.Canary, tg.CanaryUID = tg.Name+"-canary-object", "uid-1"
	owner := flaggerRef(tg.Canary, "uid-1")
	for _, step := range []string{"Reconcile", "SetWeights"} {
		split, route, vs := flaggerRoutes(t, tg, owner)
		for name, bed := range routerBeds(t, split, route, vs) {
			t.Run(step+"/"+name, func(t *testing.T) {
				want := canary.CanaryWeight(20)
				if step == "Reconcile" {
					require.NoError(t, bed.router.Reconcile(ctx(t), tg))
				} else {
					want = canary.CanaryWeight(60)
					require.NoError(t, bed.router.SetWeights(ctx(t), tg, want))
				}
				m := bed.meta(t, tg)
				assert.Equal(t, canary.ManagedBy, m.GetLabels()[canary.LabelManagedBy], "labelled as the router's")
				assert.Equal(t, tg.Name, m.GetAnnotations()[canary.AnnotationTarget], "claimed for the target")
				assert.Equal(t, []metav1.OwnerReference{owner}, m.GetOwnerReferences(), "Flagger's owner reference is kept")
				assert.Equal(t, want, bed.weights(t, tg))

				require.NoError(t, bed.router.SetWeights(ctx(t), tg, canary.CanaryWeight(40)))
				assert.Equal(t, canary.CanaryWeight(40), bed.weights(t, tg))
			})
		}
	}
}

// Flagger's route objects of any other Canary are refused and left as they are: one owned by
// a Canary of another name, by the same name with another UID (an earlier Canary), by a kind
// Canary of another API group, or owned by the Canary without being its controller. The same
// route controlled by the target's Canary is adopted.
func TestRoutersRefuseFlaggerRoutesOfAnotherCanary(t *testing.T) {
	tg := newTarget()
	tg.CanaryUID = "uid-1"
	notController := flaggerRef(tg.CanaryName(), "uid-1")
	notController.Controller = nil
	otherGroup := flaggerRef(tg.CanaryName(), "uid-1")
	otherGroup.APIVersion = "example.com/v1"
	for what, tc := range map[string]struct {
		owner   metav1.OwnerReference
		adopted bool
	}{
		"another name":     {owner: flaggerRef("other", "uid-1")},
		"another UID":      {owner: flaggerRef(tg.CanaryName(), "uid-2")},
		"another group":    {owner: otherGroup},
		"not controller":   {owner: notController},
		"the target's own": {owner: flaggerRef(tg.CanaryName(), "uid-1"), adopted: true},
	} {
		split, route, vs := flaggerRoutes(t, tg, tc.owner)
		for name, bed := range routerBeds(t, split, route, vs) {
			t.Run(what+"/"+name, func(t *testing.T) {
				err := bed.router.Reconcile(ctx(t), tg)
				if tc.adopted {
					require.NoError(t, err)
					assert.Equal(t, canary.ManagedBy, bed.meta(t, tg).GetLabels()[canary.LabelManagedBy])
					return
				}
				requirePermanent(t, err)
				assert.ErrorIs(t, err, ErrNotOwned)
				err = bed.router.SetWeights(ctx(t), tg, canary.CanaryWeight(50))
				requirePermanent(t, err)
				assert.ErrorIs(t, err, ErrNotOwned)
				m := bed.meta(t, tg)
				assert.Empty(t, m.GetLabels()[canary.LabelManagedBy])
				assert.Empty(t, m.GetAnnotations()[canary.AnnotationTarget])
				assert.Equal(t, canary.CanaryWeight(20), bed.weights(t, tg))
			})
		}
	}
}

// Without the Canary's UID (a Canary read from a file), the name decides.
func TestRoutersAdoptFlaggersRouteByNameWithoutUID(t *testing.T) {
	tg := newTarget()
	split, route, vs := flaggerRoutes(t, tg, flaggerRef(tg.CanaryName(), "uid-9"))
	for name, bed := range routerBeds(t, split, route, vs) {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, bed.router.Reconcile(ctx(t), tg))
			assert.Equal(t, tg.Name, bed.meta(t, tg).GetAnnotations()[canary.AnnotationTarget])
		})
	}
}
