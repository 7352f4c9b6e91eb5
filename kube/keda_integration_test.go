package kube_test

import (
	"context"
	"sync"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/kube"
	"github.com/canarykit/canarykit/kube/kedaapi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/yaml"
)

var scaledObjects = schema.GroupVersionResource{Group: "keda.sh", Version: "v1alpha1", Resource: "scaledobjects"}

// kedaTargetScaledObject is the target's ScaledObject: a Prometheus trigger on the canary's
// requests and a CPU trigger.
const kedaTargetScaledObject = `
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: podinfo
  annotations: {scaledobject.keda.sh/transfer-hpa-ownership: "true"}
spec:
  scaleTargetRef: {name: podinfo}
  advanced: {horizontalPodAutoscalerConfig: {name: podinfo}}
  pollingInterval: 10
  minReplicaCount: 2
  maxReplicaCount: 4
  triggers:
    - type: prometheus
      name: rps
      metadata:
        serverAddress: http://prometheus.monitoring:9090
        query: sum(rate(http_requests_total{app="podinfo-canary"}[2m]))
        threshold: "100"
    - type: cpu
      metricType: Utilization
      metadata: {value: "60"}
`

// A release of a target with a KEDA ScaledObject on the real API server, with KEDA's own CRD
// (no KEDA operator runs: the objects are checked), under exactly kube.RBAC(): the bootstrap
// makes "podinfo-primary", which the CRD accepts, and pauses the target's ScaledObject at zero
// replicas with the target; the release resumes it while the canary runs and pauses it again
// at its end; the promotion brings the primary's copy level with the target's; the hand-back
// (RestoreTarget) leaves it unpaused.
func TestScaledObjectRelease(t *testing.T) {
	b := newBed(t)
	testenv.InstallCRDs(t, b.env.Config(), testenv.ScaledObjectCRD(t))
	admin, err := dynamic.NewForConfig(b.env.Config())
	require.NoError(t, err)
	dyn, err := dynamic.NewForConfig(b.env.ConfigFor(t, b.user))
	require.NoError(t, err)
	ctx := context.Background()
	b.createTarget(t, "podinfo:1")
	so := &unstructured.Unstructured{}
	require.NoError(t, yaml.Unmarshal([]byte(kedaTargetScaledObject), &so.Object))
	_, err = admin.Resource(scaledObjects).Namespace(b.ns).Create(ctx, so, metav1.CreateOptions{})
	require.NoError(t, err)
	get := func(name string) *unstructured.Unstructured {
		t.Helper()
		u, err := admin.Resource(scaledObjects).Namespace(b.ns).Get(ctx, name, metav1.GetOptions{})
		require.NoError(t, err)
		return u
	}
	paused := func(u *unstructured.Unstructured) (string, bool) {
		v, ok := u.GetAnnotations()[kedaapi.PausedReplicasAnnotation]
		return v, ok
	}

	var mu sync.Mutex
	var progressing []map[string]string // the target's annotations while the canary runs
	workload := func(o *kube.WorkloadOptions) {
		o.AutoscalerKind = kube.KindScaledObject
		o.PrimaryMaxReplicas = 6
	}
	d := b.driver(t, driverOptions{autoscaler: "podinfo", dynamic: dyn, workload: workload, then: func(e canary.Event) {
		if e.Phase == canary.PhaseProgressing && e.Weights.Canary > 0 {
			u, err := admin.Resource(scaledObjects).Namespace(b.ns).Get(ctx, "podinfo", metav1.GetOptions{})
			if err == nil {
				mu.Lock()
				progressing = append(progressing, u.GetAnnotations())
				mu.Unlock()
			}
		}
	}})

	// bootstrap: the primary's copy, accepted by KEDA's CRD; the target paused with the canary
	res := d.mustRun(t)
	require.Equal(t, canary.PhaseInitialized, res.Phase)
	p := get("podinfo-primary")
	ref, _, _ := unstructured.NestedString(p.Object, "spec", "scaleTargetRef", "name")
	hpa, _, _ := unstructured.NestedString(p.Object, "spec", "advanced", "horizontalPodAutoscalerConfig", "name")
	maxCount, _, _ := unstructured.NestedInt64(p.Object, "spec", "maxReplicaCount")
	assert.Equal(t, []any{"podinfo-primary", "podinfo-primary", int64(6)}, []any{ref, hpa, maxCount})
	triggers, _, _ := unstructured.NestedSlice(p.Object, "spec", "triggers")
	require.Len(t, triggers, 2)
	assert.Equal(t, `sum(rate(http_requests_total{app="podinfo-primary"}[2m]))`, triggers[0].(map[string]any)["metadata"].(map[string]any)["query"])
	assert.Equal(t, canary.ManagedBy, p.GetLabels()[canary.LabelManagedBy])
	_, primaryPaused := paused(p)
	assert.False(t, primaryPaused, "the primary's copy scales")
	v, ok := paused(get("podinfo"))
	assert.True(t, ok && v == "0", "the target's ScaledObject is paused at zero: %v", get("podinfo").GetAnnotations())
	assert.Equal(t, int32(0), *b.deployment(t, "podinfo").Spec.Replicas)

	// the target's ScaledObject changes with the new revision
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		u := get("podinfo")
		if err := unstructured.SetNestedField(u.Object, int64(20), "spec", "pollingInterval"); err != nil {
			return err
		}
		_, err := admin.Resource(scaledObjects).Namespace(b.ns).Update(ctx, u, metav1.UpdateOptions{})
		return err
	}))
	b.setImage(t, "podinfo:2")
	res = d.mustRun(t)
	require.Equal(t, canary.PhaseSucceeded, res.Phase, res.Reason)
	mu.Lock()
	require.NotEmpty(t, progressing)
	for _, a := range progressing {
		assert.NotContains(t, a, kedaapi.PausedReplicasAnnotation, "resumed while the canary runs")
	}
	mu.Unlock()
	v, ok = paused(get("podinfo"))
	assert.True(t, ok && v == "0", "paused again with the canary at zero")
	poll, _, _ := unstructured.NestedInt64(get("podinfo-primary").Object, "spec", "pollingInterval")
	assert.Equal(t, int64(20), poll, "the primary's copy is brought level at promotion")

	// hand-back: resumed
	w, err := d.cluster.Workload(kube.WorkloadOptions{Target: b.target, Port: 9898, Autoscaler: "podinfo", AutoscalerKind: kube.KindScaledObject})
	require.NoError(t, err)
	_, err = w.RestoreTarget(ctx, b.target)
	require.NoError(t, err)
	_, ok = paused(get("podinfo"))
	assert.False(t, ok, "handed back unpaused: %v", get("podinfo").GetAnnotations())
	assert.Equal(t, "true", get("podinfo").GetAnnotations()["scaledobject.keda.sh/transfer-hpa-ownership"], "the user's annotations are kept")
}
