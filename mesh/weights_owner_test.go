package mesh

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/canarykit/canarykit/canary"
)

// Weights reads what Reconcile would adopt for the target: a route object of an earlier
// canarykit (labelled, recording no target) and one Flagger generated for the target's Canary;
// it refuses one of another manager, as Reconcile does.
func TestRoutersWeightsReadWhatReconcileAdopts(t *testing.T) {
	tg := newTarget()
	tg.Canary, tg.CanaryUID = tg.Name+"-canary-object", "uid-1"
	managed := map[string]string{canary.LabelManagedBy: canary.ManagedBy}
	for _, c := range []struct {
		name  string
		label map[string]string
		owner []metav1.OwnerReference
		ok    bool
	}{
		{"an earlier canarykit's", managed, nil, true},
		{"Flagger's for the Canary", nil, []metav1.OwnerReference{flaggerRef(tg.Canary, "uid-1")}, true},
		{"Flagger's for an earlier Canary of the name", nil, []metav1.OwnerReference{flaggerRef(tg.Canary, "uid-0")}, false},
		{"another manager's", map[string]string{canary.LabelManagedBy: "argo-rollouts"}, nil, false},
		{"a user's", nil, nil, false},
	} {
		split, route, vs := flaggerRoutes(t, tg, flaggerRef(tg.Canary, "uid-1"))
		for _, m := range []metav1.Object{split, route, vs} {
			m.SetLabels(c.label)
			m.SetOwnerReferences(c.owner)
		}
		for name, bed := range routerBeds(t, split, route, vs) {
			t.Run(c.name+"/"+name, func(t *testing.T) {
				w, err := bed.router.Weights(ctx(t), tg)
				rerr := bed.router.Reconcile(ctx(t), tg)
				if !c.ok {
					requirePermanent(t, err)
					assert.ErrorIs(t, err, ErrNotOwned)
					assert.ErrorIs(t, rerr, ErrNotOwned, "Reconcile refuses it too")
					return
				}
				require.NoError(t, err)
				assert.Equal(t, canary.CanaryWeight(20), w)
				require.NoError(t, rerr, "Reconcile adopts it too")
			})
		}
	}
}

// The Kubernetes router reads and switches an apex Service only for the target it records
// (kube's Workload records it on the Services it makes or adopts); an apex recording none
// (Flagger's, or the user's before adoption) is the target's.
func TestKubernetesRefusesAnotherTargetsApex(t *testing.T) {
	kube := fake.NewClientset()
	a, b := newTarget(), newTarget()
	a.Service, b.Service = "web", "web"
	services(t, kube, a)
	r, err := NewKubernetes(KubernetesOptions{Client: kube.CoreV1()})
	require.NoError(t, err)
	require.NoError(t, r.Reconcile(ctx(t), b), "an apex recording no target")
	w, err := r.Weights(ctx(t), b)
	require.NoError(t, err)
	assert.Equal(t, canary.AllPrimary(), w)

	apex, err := kube.CoreV1().Services(a.Namespace).Get(ctx(t), a.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	if apex.Annotations == nil {
		apex.Annotations = map[string]string{}
	}
	apex.Annotations[canary.AnnotationTarget] = a.Name
	_, err = kube.CoreV1().Services(a.Namespace).Update(ctx(t), apex, metav1.UpdateOptions{})
	require.NoError(t, err)

	_, err = r.Weights(ctx(t), b)
	requirePermanent(t, err)
	assert.ErrorIs(t, err, ErrNotOwned)
	assert.ErrorContains(t, err, "for target "+a.Name)
	assert.ErrorContains(t, err, "not for "+b.Name)
	assert.ErrorIs(t, r.Reconcile(ctx(t), b), ErrNotOwned)

	w, err = r.Weights(ctx(t), a)
	require.NoError(t, err)
	assert.Equal(t, canary.AllPrimary(), w)
	require.NoError(t, r.Reconcile(ctx(t), a))
}

// The Kubernetes router's switch is made only while the apex still records the target it
// recorded at Reconcile: an apex another target took since is refused, its selector untouched.
func TestKubernetesSetWeightsRefusesAnApexTakenSinceReconcile(t *testing.T) {
	kube := fake.NewClientset()
	a, b := newTarget(), newTarget()
	a.Service, b.Service = "web", "web"
	services(t, kube, a)
	record := func(target string) {
		t.Helper()
		apex, err := kube.CoreV1().Services(a.Namespace).Get(ctx(t), a.ApexService(), metav1.GetOptions{})
		require.NoError(t, err)
		if apex.Annotations == nil {
			apex.Annotations = map[string]string{}
		}
		apex.Annotations[canary.AnnotationTarget] = target
		_, err = kube.CoreV1().Services(a.Namespace).Update(ctx(t), apex, metav1.UpdateOptions{})
		require.NoError(t, err)
	}
	record(a.Name)
	r, err := NewKubernetes(KubernetesOptions{Client: kube.CoreV1()})
	require.NoError(t, err)
	require.NoError(t, r.Reconcile(ctx(t), a))
	require.NoError(t, r.SetWeights(ctx(t), a, canary.AllCanary()), "its own apex")
	w, err := r.Weights(ctx(t), a)
	require.NoError(t, err)
	assert.Equal(t, canary.AllCanary(), w)

	record(b.Name)
	err = r.SetWeights(ctx(t), a, canary.AllPrimary())
	requirePermanent(t, err)
	assert.ErrorIs(t, err, ErrNotOwned)
	assert.ErrorContains(t, err, "for target "+b.Name)
	apex, err := kube.CoreV1().Services(a.Namespace).Get(ctx(t), a.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"app": a.Name}, apex.Spec.Selector, "the selector is left as the other target has it")
	assert.Equal(t, "canary", apex.Annotations[RoutedToAnnotation])

	record(a.Name)
	require.NoError(t, r.SetWeights(ctx(t), a, canary.AllPrimary()), "given back, it is switched again")
	apex, err = kube.CoreV1().Services(a.Namespace).Get(ctx(t), a.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"app": a.Name + "-primary"}, apex.Spec.Selector)
}

// Routers used without a Rollout check match conditions as a Rollout's spec does, bounds and
// paths included: a header value beyond canary.MaxMatchValueLen is refused before any request.
func TestRoutersRefuseMatchesASpecRefuses(t *testing.T) {
	tg := newTarget()
	tg.Match = []canary.Match{{Headers: map[string]canary.StringMatch{
		"x-user": {Exact: strings.Repeat("a", canary.MaxMatchValueLen+1)},
		"":       {Regex: "(("},
	}}}
	for name, bed := range routerBeds(t, nil, nil, nil) {
		t.Run(name, func(t *testing.T) {
			err := bed.router.Reconcile(ctx(t), tg)
			assert.Empty(t, bed.fake.Actions(), "no request")
			requirePermanent(t, err)
			assert.ErrorIs(t, err, canary.ErrInvalidSpec)
			assert.ErrorContains(t, err, `invalid match: match[0].headers[""]: header name must not be empty`)
			assert.ErrorContains(t, err, `match[0].headers[""].regex: `)
			assert.ErrorContains(t, err, `match[0].headers.x-user.exact: at most 1024 bytes, got 1025`)
		})
	}
}
