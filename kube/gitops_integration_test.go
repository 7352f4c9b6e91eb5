package kube_test

import (
	"context"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// gitService is an apex Service as a user keeps it in Git: their own labels and annotations,
// selecting the target's pods, another port.
func gitService(labels map[string]string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Labels: labels, Annotations: map[string]string{"git.example/path": "apps/podinfo.yaml"}},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "podinfo"}, Ports: []corev1.ServicePort{{Name: "web", Port: 80}}},
	}
}

// An apex Service that a user keeps in Git (no managed-by label) is adopted, as Flagger does:
// labelled, pointed at the primary with canarykit's port, the user's labels and annotations
// kept, no owner reference added.
func TestApexServiceKeptInGitIsAdopted(t *testing.T) {
	b := newBed(t)
	b.createTarget(t, "podinfo:1")
	ctx := context.Background()
	_, err := b.admin.CoreV1().Services(b.ns).Create(ctx, gitService(map[string]string{"team": "a"}), metav1.CreateOptions{})
	require.NoError(t, err)
	d := b.driver(t, driverOptions{workload: func(o *kube.WorkloadOptions) { o.OwnerReferences = true }})
	res := d.mustRun(t)
	require.Equal(t, canary.PhaseInitialized, res.Phase)

	apex, err := b.admin.CoreV1().Services(b.ns).Get(ctx, "podinfo", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"team": "a", canary.LabelManagedBy: canary.ManagedBy}, apex.Labels)
	assert.Equal(t, map[string]string{"git.example/path": "apps/podinfo.yaml", kube.AnnotationTarget: "podinfo", kube.AnnotationCanary: "podinfo",
		kube.AnnotationAdopted: "true"}, apex.Annotations)
	assert.Equal(t, map[string]string{"app": "podinfo-primary"}, apex.Spec.Selector)
	require.Len(t, apex.Spec.Ports, 1)
	assert.Equal(t, int32(9898), apex.Spec.Ports[0].Port)
	assert.Equal(t, "http", apex.Spec.Ports[0].Name)
	assert.Empty(t, apex.OwnerReferences, "the user's object is not tied to the target's lifetime")
	primarySvc, err := b.admin.CoreV1().Services(b.ns).Get(ctx, "podinfo-primary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.NotEmpty(t, primarySvc.OwnerReferences, "what canarykit creates still gets its owner")
}

// Only the apex Service is adopted, and only without a managed-by label: one another tool
// labels as its own, or a primary Deployment canarykit did not create, is refused.
func TestOnlyAnUnlabelledApexServiceIsAdopted(t *testing.T) {
	t.Run("apex managed by another tool", func(t *testing.T) {
		b := newBed(t)
		b.createTarget(t, "podinfo:1")
		ctx := context.Background()
		_, err := b.admin.CoreV1().Services(b.ns).Create(ctx, gitService(map[string]string{canary.LabelManagedBy: "Helm"}), metav1.CreateOptions{})
		require.NoError(t, err)
		_, err = b.driver(t, driverOptions{}).run(ctx)
		require.ErrorContains(t, err, "service "+b.ns+"/podinfo exists and is not managed by canarykit")
		apex, err := b.admin.CoreV1().Services(b.ns).Get(ctx, "podinfo", metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, "podinfo", apex.Spec.Selector["app"], "untouched")
		assert.Equal(t, "Helm", apex.Labels[canary.LabelManagedBy])
	})
	t.Run("primary deployment", func(t *testing.T) {
		b := newBed(t)
		b.createTarget(t, "podinfo:1")
		ctx := context.Background()
		p := b.deployment(t, "podinfo").DeepCopy()
		p.ObjectMeta = metav1.ObjectMeta{Name: "podinfo-primary", Labels: map[string]string{"app": "podinfo-primary"}}
		p.Spec.Selector.MatchLabels = map[string]string{"app": "podinfo-primary"}
		p.Spec.Template.Labels = map[string]string{"app": "podinfo-primary"}
		p.Status = appsv1.DeploymentStatus{}
		_, err := b.admin.AppsV1().Deployments(b.ns).Create(ctx, p, metav1.CreateOptions{})
		require.NoError(t, err)
		_, err = b.driver(t, driverOptions{}).run(ctx)
		require.ErrorContains(t, err, "deployment "+b.ns+"/podinfo-primary exists and is not managed by canarykit")
		_, err = b.admin.CoreV1().Services(b.ns).Get(ctx, "podinfo", metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err), "nothing adopted or created before the refusal")
	})
}

// With ApexSelectsPrimary (a router with its own route object), an apex selector re-applied
// mid-release by an outside writer (selecting the target's pods) is pointed back at the
// primary before the target is scaled to zero; the next release's Bootstrap corrects it too.
func TestApexSelectorDriftIsCorrectedBeforeScaleDown(t *testing.T) {
	b := newBed(t)
	b.createTarget(t, "podinfo:1")
	ctx := context.Background()
	withApex := func(o *kube.WorkloadOptions) { o.ApexSelectsPrimary = true }
	b.driver(t, driverOptions{workload: withApex}).mustRun(t)
	drift := func() error {
		_, err := b.admin.CoreV1().Services(b.ns).Patch(ctx, "podinfo", types.MergePatchType, []byte(`{"spec":{"selector":{"app":"podinfo"}}}`), metav1.PatchOptions{})
		return err
	}
	b.setImage(t, "podinfo:2")
	var patchErr error
	patched := false
	d := b.driver(t, driverOptions{workload: withApex, then: func(e canary.Event) {
		if e.Reason == canary.ReasonAdvanced && !patched { // on the driver's goroutine: no assertion here
			patched = true
			patchErr = drift()
		}
	}})
	res := d.mustRun(t)
	require.NoError(t, patchErr)
	require.True(t, patched)
	require.Equal(t, canary.PhaseSucceeded, res.Phase)
	apex, err := b.admin.CoreV1().Services(b.ns).Get(ctx, "podinfo", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"app": "podinfo-primary"}, apex.Spec.Selector)
	assert.Equal(t, int32(0), *b.deployment(t, "podinfo").Spec.Replicas)
	assert.Equal(t, intstr.FromInt32(9898), apex.Spec.Ports[0].TargetPort)
}
