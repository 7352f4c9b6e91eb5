package mesh

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/canarykit/canarykit/canary"
)

// The user's Ingress carries a GitOps tool's marks of its own objects: Argo CD's tracking
// label app.kubernetes.io/instance and argocd.argoproj.io/* keys, Flux's
// *.toolkit.fluxcd.io/* keys. The canary Ingress is not in the tool's source; carrying the
// marks, the tool would take it for one of its objects missing from its source and prune it
// (Argo CD with label tracking prunes an object without owner reference), so that ingress-nginx
// loses the canary mid-release. The copy leaves them out, keeps the user's other labels and
// annotations, and a canary Ingress copied with them earlier loses them at its next reshape.
func TestNGINXCanaryIngressDoesNotCarryAGitOpsToolsMarks(t *testing.T) {
	tg := newTarget()
	user := userIngress(tg)
	marks := canary.Metadata{
		Labels: map[string]string{"app.kubernetes.io/instance": "podinfo", "kustomize.toolkit.fluxcd.io/name": "apps",
			"kustomize.toolkit.fluxcd.io/namespace": "flux-system", "argocd.argoproj.io/instance": "podinfo"},
		Annotations: map[string]string{"argocd.argoproj.io/tracking-id": "podinfo:networking.k8s.io/Ingress:test/" + tg.IngressName(),
			"argocd.argoproj.io/sync-options": "Prune=true", "kustomize.toolkit.fluxcd.io/ssa": "Merge"},
	}
	for k, v := range marks.Labels {
		user.Labels[k] = v
	}
	for k, v := range marks.Annotations {
		user.Annotations[k] = v
	}
	cs := fake.NewClientset(user)
	r := newNGINX(t, NGINXOptions{Client: cs.NetworkingV1()})
	ings := cs.NetworkingV1().Ingresses(tg.Namespace)

	require.NoError(t, r.Reconcile(ctx(t), tg))
	got, err := ings.Get(ctx(t), CanaryIngressName(tg), metav1.GetOptions{})
	require.NoError(t, err)
	for k := range marks.Labels {
		assert.NotContains(t, got.Labels, k, "label")
	}
	for k := range marks.Annotations {
		assert.NotContains(t, got.Annotations, k, "annotation")
	}
	assert.Equal(t, tg.Name, got.Labels["app"], "the user's other labels are copied")
	assert.Equal(t, "nginx", got.Annotations["kubernetes.io/ingress.class"], "the user's other annotations are copied")

	// a canary Ingress copied with the marks, recording them as copied, loses them at adoption
	old := got.DeepCopy()
	for k, v := range marks.Labels {
		old.Labels[k] = v
	}
	for k, v := range marks.Annotations {
		old.Annotations[k] = v
	}
	old.Annotations[canary.AnnotationMetadata] = `{"labels":["app","app.kubernetes.io/instance","argocd.argoproj.io/instance","kustomize.toolkit.fluxcd.io/name","kustomize.toolkit.fluxcd.io/namespace"],` +
		`"annotations":["argocd.argoproj.io/sync-options","argocd.argoproj.io/tracking-id","kubernetes.io/ingress.class","kustomize.toolkit.fluxcd.io/ssa","` + ann + `configuration-snippet"]}`
	_, err = ings.Update(ctx(t), old, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.NoError(t, r.Reconcile(ctx(t), tg))
	got, err = ings.Get(ctx(t), CanaryIngressName(tg), metav1.GetOptions{})
	require.NoError(t, err)
	for k := range marks.Labels {
		assert.NotContains(t, got.Labels, k, "label, after adoption")
	}
	for k := range marks.Annotations {
		assert.NotContains(t, got.Annotations, k, "annotation, after adoption")
	}
	assert.Equal(t, "nginx", got.Annotations["kubernetes.io/ingress.class"])
}
