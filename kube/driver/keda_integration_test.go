package driver

import (
	"context"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/kube"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/kube/kedaapi"
	"github.com/go-logr/logr/testr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// kedaManifest is a Canary of podinfo whose autoscalerRef is the KEDA ScaledObject podinfo,
// with the primary's query of its trigger "rps" given; blue/green on the apex Service
// (provider kubernetes), so no route CRD is needed.
func kedaManifest(ns string) []byte {
	return []byte(`apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: ` + ns + `}
spec:
  provider: kubernetes
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  autoscalerRef:
    apiVersion: keda.sh/v1alpha1
    kind: ScaledObject
    name: podinfo
    primaryScalerReplicas: {minReplicas: 2}
    primaryScalerQueries:
      rps: sum(rate(http_requests_total{deployment="podinfo-primary"}[1m]))
  service: {port: 9898}
  analysis: {interval: 1s, threshold: 1, iterations: 2}
`)
}

// A Flagger Canary with a KEDA ScaledObject, released by the driver on the real API server
// with KEDA's CRD (no KEDA operator: the objects are checked), under exactly kube.RBAC(),
// kube.RevertRBAC() and the kubernetes router's rule: the primary's ScaledObject is created
// with primaryScalerQueries' query and primaryScalerReplicas, the target's is paused with the
// canary at zero after the bootstrap and after the release, and the revert
// (spec.revertOnDeletion) leaves it unpaused and removes the primary's copy.
func TestKEDAScaledObjectReleaseAndRevert(t *testing.T) {
	env := testenv.Shared(t)
	ctx, _, ns := bedNamespace(t, env, testenv.ScaledObjectCRD(t))
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	createPodinfo(ctx, t, env, ns)
	gvr := schema.GroupVersionResource{Group: kedaapi.Group, Version: kedaapi.Version, Resource: kedaapi.Resource}
	admin, err := dynamic.NewForConfig(env.Config())
	require.NoError(t, err)
	so := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": kedaapi.APIVersion, "kind": kedaapi.Kind,
		"metadata": map[string]any{"name": "podinfo"},
		"spec": map[string]any{
			"scaleTargetRef":  map[string]any{"name": "podinfo"},
			"minReplicaCount": int64(1), "maxReplicaCount": int64(3),
			"triggers": []any{map[string]any{"type": "prometheus", "name": "rps", "metadata": map[string]any{
				"serverAddress": "http://prometheus.monitoring:9090", "threshold": "50",
				"query": `sum(rate(http_requests_total{deployment="podinfo"}[1m]))`}}},
		},
	}}
	_, err = admin.Resource(gvr).Namespace(ns).Create(ctx, so, metav1.CreateOptions{})
	require.NoError(t, err)
	get := func(name string) (*unstructured.Unstructured, error) {
		return admin.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	}
	pausedAt := func() string {
		t.Helper()
		u, err := get("podinfo")
		require.NoError(t, err)
		v, ok := u.GetAnnotations()[kedaapi.PausedReplicasAnnotation]
		if !ok {
			return "not paused"
		}
		return v
	}

	name, cfg := env.NewUser(t)
	env.Grant(t, name, ns, append(embeddedRules(t, kube.RBAC(), kube.RevertRBAC()),
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"get", "patch"}})...)
	d, err := New(Options{Config: cfg, HookTransport: hookAnswers{}, Logger: testr.New(t)})
	require.NoError(t, err)
	defer d.Close()
	c, err := flagger.LoadCanary(kedaManifest(ns))
	require.NoError(t, err)
	release := func() canary.Result {
		t.Helper()
		rel, err := d.Release(ctx, c, nil)
		require.NoError(t, err)
		res, err := rel.Run(ctx)
		require.NoError(t, err)
		return res
	}

	res := release()
	require.Equal(t, canary.PhaseInitialized, res.Phase, res.Reason)
	p, err := get("podinfo-primary")
	require.NoError(t, err, "the primary's ScaledObject, accepted by KEDA's CRD")
	triggers, _, _ := unstructured.NestedSlice(p.Object, "spec", "triggers")
	require.Len(t, triggers, 1)
	assert.Equal(t, `sum(rate(http_requests_total{deployment="podinfo-primary"}[1m]))`, triggers[0].(map[string]any)["metadata"].(map[string]any)["query"])
	minCount, _, _ := unstructured.NestedInt64(p.Object, "spec", "minReplicaCount")
	assert.Equal(t, int64(2), minCount)
	assert.Equal(t, "0", pausedAt(), "paused with the canary at zero")

	setImage(ctx, t, env, ns, "podinfo", "podinfo:2")
	res = release()
	require.Equal(t, canary.PhaseSucceeded, res.Phase, res.Reason)
	assert.Equal(t, "0", pausedAt(), "paused again once the release is over")

	require.NoError(t, d.Retire(ctx, c, Retirement{Revert: true}))
	assert.Equal(t, "not paused", pausedAt(), "handed back unpaused")
	_, err = get("podinfo-primary")
	assert.True(t, apierrors.IsNotFound(err), "the primary's ScaledObject is removed with the primary: %v", err)
	dep, err := env.Client().AppsV1().Deployments(ns).Get(ctx, "podinfo", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Positive(t, *dep.Spec.Replicas, "the target runs again")
}
