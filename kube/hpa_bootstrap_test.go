package kube

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
)

// staleHPACopy is a primary autoscaler "podinfo-primary" as an earlier run left it, for
// another spec of the target's autoscaler, with the given labels and annotations.
func staleHPACopy(labels, annotations map[string]string) *autoscalingv2.HorizontalPodAutoscaler {
	h := testenv.CPUAutoscaler("podinfo-primary", 1, 10)
	h.Namespace = "test"
	h.Labels, h.Annotations = labels, annotations
	return h
}

// The primary's autoscaler follows the target's when Bootstrap makes the primary: a copy an
// earlier run left with another spec (the target's HPA changed meanwhile) would otherwise scale
// the new primary by stale bounds and metrics until the first promotion. A primary that
// exists keeps its autoscaler as it is until the promotion, and a copy that is not the
// target's is refused and left alone.
func TestBootstrapBringsThePrimaryAutoscalerLevel(t *testing.T) {
	ours := map[string]string{canary.LabelManagedBy: canary.ManagedBy}
	oursAnnotations := map[string]string{AnnotationTarget: "podinfo", AnnotationCanary: "podinfo"}
	want := testenv.CPUAutoscaler("podinfo", 2, 4).Spec
	want.ScaleTargetRef.Name = "podinfo-primary"
	stale := staleHPACopy(nil, nil).Spec

	for _, tc := range []struct {
		name          string
		copy          *autoscalingv2.HorizontalPodAutoscaler
		primaryExists bool
		refused       string // Bootstrap's error, if it refuses
		spec          autoscalingv2.HorizontalPodAutoscalerSpec
	}{
		{name: "copy of an earlier canarykit", copy: staleHPACopy(ours, oursAnnotations), spec: want},
		{name: "copy of an earlier canarykit without the canary record",
			copy: staleHPACopy(ours, map[string]string{AnnotationTarget: "podinfo"}), spec: want},
		{name: "no copy", spec: want},
		{name: "primary exists", copy: staleHPACopy(ours, oursAnnotations), primaryExists: true, spec: stale},
		{name: "copy not the target's", copy: staleHPACopy(nil, nil),
			refused: "horizontalpodautoscaler test/podinfo-primary exists and is not managed by canarykit", spec: stale},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			d := testenv.PodinfoDeployment("podinfo", "podinfo:1", 2)
			d.Namespace = "test"
			hpa := testenv.CPUAutoscaler("podinfo", 2, 4)
			hpa.Namespace = "test"
			objs := []runtime.Object{d, hpa}
			if tc.copy != nil {
				objs = append(objs, tc.copy)
			}
			if tc.primaryExists {
				p := testenv.PodinfoDeployment("podinfo-primary", "podinfo:1", 2)
				p.Namespace = "test"
				p.Labels = map[string]string{canary.LabelManagedBy: canary.ManagedBy, "app": "podinfo-primary"}
				p.Annotations = map[string]string{AnnotationTarget: "podinfo", AnnotationCanary: "podinfo"}
				objs = append(objs, p)
			}
			client := fake.NewClientset(objs...)
			c, err := New(Options{Client: client})
			require.NoError(t, err)
			t.Cleanup(c.Close)
			target := canary.Target{Namespace: "test", Name: "podinfo"}
			w, err := c.Workload(WorkloadOptions{Target: target, Port: 9898, Autoscaler: "podinfo"})
			require.NoError(t, err)

			err = w.Bootstrap(ctx, target)
			if tc.refused != "" {
				require.ErrorContains(t, err, tc.refused)
			} else {
				require.NoError(t, err)
			}
			got, err := client.AutoscalingV2().HorizontalPodAutoscalers("test").Get(ctx, "podinfo-primary", metav1.GetOptions{})
			require.NoError(t, err)
			assert.Equal(t, tc.spec, got.Spec)
			if tc.refused != "" {
				assert.Empty(t, got.Labels, "a copy not the target's is left as it was")
			} else {
				assert.Equal(t, "podinfo", got.Annotations[AnnotationCanary], "the Canary is recorded on the copy")
			}
		})
	}
}

// A KEDA target's primary ScaledObject likewise follows the target's when Bootstrap makes the
// primary: a copy an earlier run left with other replica bounds and triggers is brought level.
func TestBootstrapBringsThePrimaryScaledObjectLevel(t *testing.T) {
	staleCopy := unstructuredYAML(t, `
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: podinfo-primary
  namespace: test
  labels: {app.kubernetes.io/managed-by: canarykit}
  annotations: {canarykit.dev/target: podinfo, canarykit.dev/canary: podinfo}
spec:
  scaleTargetRef: {name: podinfo-primary}
  minReplicaCount: 1
  maxReplicaCount: 10
  triggers:
    - type: cpu
      metadata: {value: "50"}
`)
	fresh := newKEDAFixture(t, nil, unstructuredYAML(t, flaggerScaledObject))
	require.NoError(t, fresh.w.Bootstrap(context.Background(), fresh.t))
	want := fresh.get(t, "podinfo-primary").Object["spec"]

	f := newKEDAFixture(t, nil, unstructuredYAML(t, flaggerScaledObject), staleCopy)
	require.NoError(t, f.w.Bootstrap(context.Background(), f.t))
	assert.Equal(t, want, f.get(t, "podinfo-primary").Object["spec"], "the copy Bootstrap makes when there is none")
}

// An autoscalerRef naming another app's HorizontalPodAutoscaler is refused, naming it and
// what it scales, before the primary's copy is made: its bounds and metrics are not the
// target's.
func TestBootstrapRefusesAnAutoscalerOfAnotherApp(t *testing.T) {
	ctx := context.Background()
	d := testenv.PodinfoDeployment("podinfo", "podinfo:1", 2)
	d.Namespace = "test"
	hpa := testenv.CPUAutoscaler("payments", 2, 4)
	hpa.Namespace = "test"
	client := fake.NewClientset(d, hpa)
	c, err := New(Options{Client: client})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	tg := canary.Target{Namespace: "test", Name: "podinfo"}
	w, err := c.Workload(WorkloadOptions{Target: tg, Port: 9898, Autoscaler: "payments"})
	require.NoError(t, err)
	err = w.Bootstrap(ctx, tg)
	require.ErrorContains(t, err, `autoscaler test/payments (autoscalerRef) scales Deployment "payments", not the target Deployment "podinfo"`)
	assert.True(t, canary.IsPermanent(err))
	_, err = client.AutoscalingV2().HorizontalPodAutoscalers("test").Get(ctx, "payments-primary", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "no copy made: %v", err)
}
