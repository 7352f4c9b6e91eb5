package kube

import (
	"context"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/kube/kedaapi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"
)

// flaggerScaledObject is the ScaledObject of Flagger's own tests (newScaledObject in
// pkg/canary/scaler_reconciler_fixture_test.go), in namespace test.
const flaggerScaledObject = `
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: podinfo
  namespace: test
  annotations: {scaledobject.keda.sh/transfer-hpa-ownership: "true"}
  labels: {team: a}
spec:
  scaleTargetRef: {name: podinfo}
  advanced: {horizontalPodAutoscalerConfig: {name: podinfo}}
  pollingInterval: 10
  minReplicaCount: 1
  maxReplicaCount: 4
  triggers:
    - type: prometheus
      metricType: AverageValue
      metadata:
        serverAddress: http://flagger-prometheus.projectcontour:9090
        metricName: http_requests_total
        query: sum(rate(http_requests_total{app="podinfo-canary"}[2m]))
        threshold: "100"
`

// waitFor and tick bound the waits for the fakes' watches to reach the caches.
const (
	waitFor = 5 * time.Second
	tick    = 10 * time.Millisecond
)

func unstructuredYAML(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	require.NoError(t, yaml.Unmarshal([]byte(doc), &u.Object))
	return u
}

// kedaFixture is a Cluster over fake clients holding the podinfo Deployment and the given
// ScaledObjects, and a Workload for podinfo with its ScaledObject "podinfo".
type kedaFixture struct {
	dyn *dynamicfake.FakeDynamicClient
	w   *Workload
	t   canary.Target
}

func newKEDAFixture(t *testing.T, edit func(*WorkloadOptions), objs ...runtime.Object) *kedaFixture {
	t.Helper()
	d := testenv.PodinfoDeployment("podinfo", "podinfo:1", 2)
	d.Namespace = "test"
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{scaledObjectsGVR: "ScaledObjectList"}, objs...)
	c, err := New(Options{Client: fake.NewClientset(d), Dynamic: dyn})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	target := canary.Target{Namespace: "test", Name: "podinfo"}
	opts := WorkloadOptions{Target: target, Port: 9898, Autoscaler: "podinfo", AutoscalerKind: KindScaledObject}
	if edit != nil {
		edit(&opts)
	}
	w, err := c.Workload(opts)
	require.NoError(t, err)
	return &kedaFixture{dyn: dyn, w: w, t: target}
}

func (f *kedaFixture) get(t *testing.T, name string) *unstructured.Unstructured {
	t.Helper()
	u, err := f.dyn.Resource(scaledObjectsGVR).Namespace("test").Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return u
}

// waitCached waits until the Workload's cache holds name with a spec equal to want's (the
// fake's watch delivers writes a moment later).
func (f *kedaFixture) waitCached(t *testing.T, name string, ok func(*unstructured.Unstructured) bool) {
	t.Helper()
	nc, err := f.w.c.namespace(context.Background(), "test", kedaScalers)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		u, err := nc.scaledObject(name)
		return err == nil && ok(u)
	}, waitFor, tick)
}

// The primary's ScaledObject is Flagger's (Test_reconcilePrimaryScaledObject): the target's
// spec scaling podinfo-primary, KEDA's HPA named podinfo-primary, the query rewritten for the
// primary, the target's labels and annotations carried over, and canarykit's ownership marks.
func TestPrimaryScaledObjectIsFlaggers(t *testing.T) {
	f := newKEDAFixture(t, nil, unstructuredYAML(t, flaggerScaledObject))
	require.NoError(t, f.w.Bootstrap(context.Background(), f.t))
	p := f.get(t, "podinfo-primary")
	want := unstructuredYAML(t, `
spec:
  scaleTargetRef: {name: podinfo-primary}
  advanced: {horizontalPodAutoscalerConfig: {name: podinfo-primary}}
  pollingInterval: 10
  minReplicaCount: 1
  maxReplicaCount: 4
  triggers:
    - type: prometheus
      metricType: AverageValue
      metadata:
        serverAddress: http://flagger-prometheus.projectcontour:9090
        metricName: http_requests_total
        query: sum(rate(http_requests_total{app="podinfo-primary"}[2m]))
        threshold: "100"
`)
	assert.Equal(t, want.Object["spec"], p.Object["spec"])
	assert.Equal(t, kedaapi.APIVersion, p.GetAPIVersion())
	assert.Equal(t, "ScaledObject", p.GetKind())
	assert.Equal(t, map[string]string{"team": "a", canary.LabelManagedBy: canary.ManagedBy}, p.GetLabels())
	assert.Equal(t, map[string]string{"scaledobject.keda.sh/transfer-hpa-ownership": "true",
		AnnotationTarget: "podinfo", AnnotationCanary: "podinfo"}, p.GetAnnotations())

	// without its own HPA name, KEDA's default ("keda-hpa-<name>") names the primary's
	// "keda-hpa-podinfo-primary": the copy leaves the name out, as Flagger's does
	so := unstructuredYAML(t, flaggerScaledObject)
	unstructured.RemoveNestedField(so.Object, "spec", "advanced")
	f = newKEDAFixture(t, func(o *WorkloadOptions) { o.PrimaryMinReplicas, o.PrimaryMaxReplicas = 2, 15 }, so)
	require.NoError(t, f.w.Bootstrap(context.Background(), f.t))
	p = f.get(t, "podinfo-primary")
	advanced, _, _ := unstructured.NestedMap(p.Object, "spec", "advanced")
	assert.Equal(t, map[string]any{"horizontalPodAutoscalerConfig": map[string]any{}}, advanced)
	minCount, _, _ := unstructured.NestedInt64(p.Object, "spec", "minReplicaCount")
	maxCount, _, _ := unstructured.NestedInt64(p.Object, "spec", "maxReplicaCount")
	assert.Equal(t, []int64{2, 15}, []int64{minCount, maxCount}, "primaryScalerReplicas")
}

// primaryScalerQueries replace the queries of the triggers they name, and leave the others'
// as written; a name the ScaledObject has no trigger of is refused before anything is made.
func TestPrimaryScaledObjectQueries(t *testing.T) {
	so := unstructuredYAML(t, `
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: podinfo, namespace: test}
spec:
  scaleTargetRef: {name: podinfo, kind: Deployment, apiVersion: apps/v1}
  triggers:
    - {type: prometheus, name: rps, metadata: {query: 'sum(rate(x{app="podinfo"}[1m]))', threshold: "10"}}
    - {type: prometheus, name: lag, metadata: {query: 'max(lag{app="podinfo"})', threshold: "5"}}
    - {type: cpu, metricType: Utilization, metadata: {value: "60"}}
`)
	queries := map[string]string{"rps": `sum(rate(envoy_cluster_upstream_rq{envoy_cluster_name="test_podinfo-primary_80"}[30s]))`}
	f := newKEDAFixture(t, func(o *WorkloadOptions) { o.PrimaryScalerQueries = queries }, so)
	require.NoError(t, f.w.Bootstrap(context.Background(), f.t))
	p := f.get(t, "podinfo-primary")
	triggers, _, _ := unstructured.NestedSlice(p.Object, "spec", "triggers")
	require.Len(t, triggers, 3)
	assert.Equal(t, map[string]any{"query": queries["rps"], "threshold": "10"}, triggers[0].(map[string]any)["metadata"])
	assert.Equal(t, map[string]any{"query": `max(lag{app="podinfo"})`, "threshold": "5"}, triggers[1].(map[string]any)["metadata"],
		"a trigger primaryScalerQueries do not name keeps its query, as in Flagger")
	assert.Equal(t, map[string]any{"value": "60"}, triggers[2].(map[string]any)["metadata"])
	ref, _, _ := unstructured.NestedStringMap(p.Object, "spec", "scaleTargetRef")
	assert.Equal(t, map[string]string{"name": "podinfo-primary", "kind": "Deployment", "apiVersion": "apps/v1"}, ref)

	f = newKEDAFixture(t, func(o *WorkloadOptions) { o.PrimaryScalerQueries = map[string]string{"rps": "q", "latency": "q"} }, so)
	err := f.w.Bootstrap(context.Background(), f.t)
	require.Error(t, err)
	assert.True(t, canary.IsPermanent(err))
	assert.EqualError(t, err, `spec.autoscalerRef.primaryScalerQueries: scaledobject test/podinfo (autoscalerRef) has no trigger named "latency" (its triggers: ["rps" "lag" ""])`)
	_, err = f.w.c.client.AppsV1().Deployments("test").Get(context.Background(), "podinfo-primary", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "refused before anything is made: %v", err)
}

// A missing ScaledObject, one that scales another workload, and a cluster without KEDA's CRD
// are permanent errors, before anything is made.
func TestScaledObjectRefusals(t *testing.T) {
	f := newKEDAFixture(t, nil)
	err := f.w.Bootstrap(context.Background(), f.t)
	assert.True(t, canary.IsPermanent(err))
	assert.EqualError(t, err, "scaledobject test/podinfo (autoscalerRef) not found")

	other := unstructuredYAML(t, flaggerScaledObject)
	require.NoError(t, unstructured.SetNestedField(other.Object, "frontend", "spec", "scaleTargetRef", "name"))
	f = newKEDAFixture(t, nil, other)
	err = f.w.Bootstrap(context.Background(), f.t)
	assert.True(t, canary.IsPermanent(err))
	assert.EqualError(t, err, `scaledobject test/podinfo (autoscalerRef) scales Deployment "frontend", not the target Deployment "podinfo"`)
	_, err = f.w.c.client.AppsV1().Deployments("test").Get(context.Background(), "podinfo-primary", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "refused before anything is made: %v", err)

	f = newKEDAFixture(t, nil)
	f.dyn.PrependReactor("list", "scaledobjects", func(k8stesting.Action) (bool, runtime.Object, error) {
		// what an API server without the CRD answers
		return true, nil, apierrors.NewGenericServerResponse(404, "GET", scaledObjectsGVR.GroupResource(), "", "", 0, true)
	})
	err = f.w.Bootstrap(context.Background(), f.t)
	assert.True(t, canary.IsPermanent(err))
	assert.ErrorContains(t, err, "spec.autoscalerRef: kind ScaledObject, but the cluster does not serve scaledobjects.keda.sh/v1alpha1: install KEDA")

	c, err := New(Options{Client: fake.NewClientset()})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Workload(WorkloadOptions{Target: f.t, Port: 9898, Autoscaler: "podinfo", AutoscalerKind: KindScaledObject,
		PrimaryScalerQueries: map[string]string{"rps": ""}})
	assert.ErrorContains(t, err, "autoscalerRef.kind: ScaledObject needs kube.Options.Dynamic")
	assert.ErrorContains(t, err, "autoscalerRef.primaryScalerQueries.rps: the query must not be empty")
	_, err = c.Workload(WorkloadOptions{Target: f.t, Port: 9898, Autoscaler: "podinfo", PrimaryScalerQueries: map[string]string{"rps": "q"}})
	assert.ErrorContains(t, err, "autoscalerRef.primaryScalerQueries: needs a ScaledObject (AutoscalerKind)")
	_, err = c.Workload(WorkloadOptions{Target: f.t, Port: 9898, Autoscaler: "podinfo", AutoscalerKind: "ScaledJob"})
	assert.ErrorContains(t, err, `autoscalerRef.kind: must be HorizontalPodAutoscaler or ScaledObject, got "ScaledJob"`)
}

// The target's ScaledObject is paused at zero replicas when the target is scaled to zero, and
// resumed (the annotation removed, the user's others kept) when it is scaled up and when it is
// handed back; the primary's copy is brought level at promotion.
func TestScaledObjectPauseResumeAndPromotion(t *testing.T) {
	so := unstructuredYAML(t, flaggerScaledObject)
	so.SetAnnotations(map[string]string{"owner": "team-a"})
	require.NoError(t, unstructured.SetNestedField(so.Object, int64(3), "spec", "minReplicaCount"))
	f := newKEDAFixture(t, nil, so)
	ctx := context.Background()
	require.NoError(t, f.w.Bootstrap(ctx, f.t))
	require.NoError(t, f.w.ScaleDown(ctx, f.t))
	assert.Equal(t, map[string]string{"owner": "team-a", kedaapi.PausedReplicasAnnotation: "0"}, f.get(t, "podinfo").GetAnnotations())
	d, err := f.w.c.client.AppsV1().Deployments("test").Get(ctx, "podinfo", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(0), *d.Spec.Replicas)

	f.waitCached(t, "podinfo", func(u *unstructured.Unstructured) bool {
		return u.GetAnnotations()[kedaapi.PausedReplicasAnnotation] == "0"
	})
	require.Eventually(t, func() bool {
		nc, _, err := f.w.lookup(ctx, f.t)
		require.NoError(t, err)
		d, err := nc.deployment("test", "podinfo")
		return err == nil && *d.Spec.Replicas == 0
	}, waitFor, tick)
	require.NoError(t, f.w.ScaleUp(ctx, f.t))
	assert.Equal(t, map[string]string{"owner": "team-a"}, f.get(t, "podinfo").GetAnnotations(), "resumed")
	d, err = f.w.c.client.AppsV1().Deployments("test").Get(ctx, "podinfo", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(3), *d.Spec.Replicas, "scaled up to the ScaledObject's minReplicaCount")

	// promotion: the target's ScaledObject changed; the primary's copy follows
	cur := f.get(t, "podinfo")
	require.NoError(t, unstructured.SetNestedField(cur.Object, int64(20), "spec", "pollingInterval"))
	triggers, _, _ := unstructured.NestedSlice(cur.Object, "spec", "triggers")
	triggers[0].(map[string]any)["metadata"].(map[string]any)["query"] = `sum(rate(http_requests_total{app="podinfo-canary"}[10m]))`
	require.NoError(t, unstructured.SetNestedSlice(cur.Object, triggers, "spec", "triggers"))
	_, err = f.dyn.Resource(scaledObjectsGVR).Namespace("test").Update(ctx, cur, metav1.UpdateOptions{})
	require.NoError(t, err)
	f.waitCached(t, "podinfo", func(u *unstructured.Unstructured) bool {
		v, _, _ := unstructured.NestedInt64(u.Object, "spec", "pollingInterval")
		return v == 20
	})
	f.waitCached(t, "podinfo-primary", func(*unstructured.Unstructured) bool { return true })
	rev, err := f.w.Observe(ctx, f.t)
	require.NoError(t, err)
	require.NoError(t, f.w.Promote(ctx, f.t, rev.Revision))
	p := f.get(t, "podinfo-primary")
	poll, _, _ := unstructured.NestedInt64(p.Object, "spec", "pollingInterval")
	assert.Equal(t, int64(20), poll)
	pt, _, _ := unstructured.NestedSlice(p.Object, "spec", "triggers")
	assert.Equal(t, `sum(rate(http_requests_total{app="podinfo-primary"}[10m]))`, pt[0].(map[string]any)["metadata"].(map[string]any)["query"])

	// handed back: paused again at zero, then resumed by RestoreTarget
	require.NoError(t, f.w.ScaleDown(ctx, f.t))
	f.waitCached(t, "podinfo", func(u *unstructured.Unstructured) bool {
		return u.GetAnnotations()[kedaapi.PausedReplicasAnnotation] == "0"
	})
	_, err = f.w.RestoreTarget(ctx, f.t)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"owner": "team-a"}, f.get(t, "podinfo").GetAnnotations(), "resumed at hand-back")
}
