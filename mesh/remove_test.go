package mesh

import (
	"errors"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
)

func TestIstioRemoveDeletesItsObjects(t *testing.T) {
	dyn := newIstioFake()
	r, err := NewIstio(IstioOptions{Client: dyn, Version: "v1"})
	require.NoError(t, err)
	tg, other := newTarget(), newTarget()
	require.NoError(t, r.Reconcile(ctx(t), tg))
	require.NoError(t, r.Reconcile(ctx(t), other))

	require.NoError(t, r.Remove(ctx(t), tg))
	for _, o := range []struct{ resource, name string }{
		{"virtualservices", tg.ApexService()}, {"destinationrules", tg.PrimaryService()}, {"destinationrules", tg.CanaryService()},
	} {
		_, err := dyn.Resource(istioGVR("v1", o.resource)).Namespace(tg.Namespace).Get(ctx(t), o.name, metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err), "%s %s: %v", o.resource, o.name, err)
	}
	assert.Equal(t, canary.AllPrimary(), vsInspect(dyn, "v1")(t, other), "another target's route is kept")

	// idempotent: a second removal finds nothing to do
	from := len(dyn.Actions())
	require.NoError(t, r.Remove(ctx(t), tg))
	assert.Equal(t, []string{"get", "get", "get"}, verbs(&dyn.Fake, from))
}

func TestIstioRemoveLeavesOthersObjects(t *testing.T) {
	tg := newTarget()
	theirs := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
		"metadata": map[string]any{"name": tg.ApexService(), "namespace": tg.Namespace, "labels": map[string]any{canary.LabelManagedBy: "flagger"}},
		"spec":     map[string]any{"hosts": []any{tg.ApexService()}},
	}}
	unlabelled := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
		"metadata": map[string]any{"name": tg.PrimaryService(), "namespace": tg.Namespace},
		"spec":     map[string]any{"host": tg.PrimaryService()},
	}}
	dyn := newIstioFake(theirs, unlabelled)
	r, err := NewIstio(IstioOptions{Client: dyn, Version: "v1"})
	require.NoError(t, err)
	require.NoError(t, r.Remove(ctx(t), tg))
	_, err = dyn.Resource(istioGVR("v1", "virtualservices")).Namespace(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
	assert.NoError(t, err, "a VirtualService managed by someone else is kept")
	_, err = dyn.Resource(istioGVR("v1", "destinationrules")).Namespace(tg.Namespace).Get(ctx(t), tg.PrimaryService(), metav1.GetOptions{})
	assert.NoError(t, err, "an unlabelled DestinationRule is kept")
	for _, a := range dyn.Actions() {
		assert.NotEqual(t, "delete", a.GetVerb(), "nothing deleted")
	}
}

func TestIstioRemoveWithoutIstioAndErrors(t *testing.T) {
	tg := newTarget()
	none, err := NewIstio(IstioOptions{Client: newIstioFake(), Discovery: discoveryServing("split.smi-spec.io/v1alpha2")})
	require.NoError(t, err)
	assert.NoError(t, none.Remove(ctx(t), tg), "a server without Istio has nothing to remove")

	dyn := newIstioFake()
	crdMissingReactor(&dyn.Fake, IstioGroup, "destinationrules")
	r, err := NewIstio(IstioOptions{Client: dyn, Version: "v1"})
	require.NoError(t, err)
	assert.NoError(t, r.Remove(ctx(t), tg), "a kind not served has nothing to remove")

	dyn = newIstioFake()
	r, err = NewIstio(IstioOptions{Client: dyn, Version: "v1"})
	require.NoError(t, err)
	require.NoError(t, r.Reconcile(ctx(t), tg))
	failOnce(&dyn.Fake, "delete", "virtualservices", apierrors.NewForbidden(schema.GroupResource{Group: IstioGroup, Resource: "virtualservices"}, tg.ApexService(), errors.New("no")))
	err = r.Remove(ctx(t), tg)
	requirePermanent(t, err)
	assert.ErrorContains(t, err, "delete VirtualService "+tg.Namespace+"/"+tg.ApexService())
	failOnce(&dyn.Fake, "delete", "destinationrules", apierrors.NewServiceUnavailable("busy"))
	err = r.Remove(ctx(t), tg)
	require.Error(t, err)
	assert.False(t, isPermanent(err), "a server error is retried: %v", err)
	require.NoError(t, r.Remove(ctx(t), tg), "finished by running it again")
}

func TestNGINXRemoveDeletesOnlyTheCanaryIngress(t *testing.T) {
	cs := fake.NewClientset()
	r := newNGINX(t, NGINXOptions{Client: cs.NetworkingV1()})
	tg := newTarget()
	_, err := cs.NetworkingV1().Ingresses(tg.Namespace).Create(ctx(t), userIngress(tg), metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, r.Reconcile(ctx(t), tg))
	_, err = fakeIngresses(cs)(tg.Namespace, CanaryIngressName(tg))
	require.NoError(t, err)

	require.NoError(t, r.Remove(ctx(t), tg))
	_, err = fakeIngresses(cs)(tg.Namespace, CanaryIngressName(tg))
	assert.True(t, apierrors.IsNotFound(err), "the canary Ingress is deleted: %v", err)
	user, err := fakeIngresses(cs)(tg.Namespace, tg.IngressName())
	require.NoError(t, err, "the user's Ingress is kept")
	assert.Equal(t, userIngress(tg).Spec, user.Spec)
	require.NoError(t, r.Remove(ctx(t), tg), "nothing left to remove")
}

func TestNGINXRemoveLeavesOthersCanaryIngress(t *testing.T) {
	tg := newTarget()
	theirs := userIngress(tg)
	theirs.Name = CanaryIngressName(tg)
	theirs.Labels = map[string]string{canary.LabelManagedBy: "flagger"}
	cs := fake.NewClientset(theirs)
	r := newNGINX(t, NGINXOptions{Client: cs.NetworkingV1()})
	require.NoError(t, r.Remove(ctx(t), tg))
	_, err := fakeIngresses(cs)(tg.Namespace, CanaryIngressName(tg))
	assert.NoError(t, err, "a canary Ingress managed by someone else is kept")

	failOnce(&cs.Fake, "get", "ingresses", apierrors.NewForbidden(schema.GroupResource{Group: "networking.k8s.io", Resource: "ingresses"}, theirs.Name, errors.New("no")))
	requirePermanent(t, r.Remove(ctx(t), tg))
}
