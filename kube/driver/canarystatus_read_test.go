package driver

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	fakedynamic "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// canaryObject is a Canary named name in ns, with status when not nil.
func canaryObject(ns, name string, status map[string]any) *unstructured.Unstructured {
	obj := map[string]any{
		"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
		"metadata": map[string]any{"name": name, "namespace": ns, "resourceVersion": "7"},
		"spec":     map[string]any{"targetRef": map[string]any{"kind": "Deployment", "name": "podinfo"}},
	}
	if status != nil {
		obj["status"] = status
	}
	return &unstructured.Unstructured{Object: obj}
}

func readerLease(t *testing.T, client *fake.Clientset, target canary.Target) *kube.Lease {
	t.Helper()
	l, err := kube.NewLease(kube.LeaseOptions{Client: client, Target: target, Identity: "reader"})
	require.NoError(t, err)
	return l
}

func TestLoadCanaryStatusReadsTheCanary(t *testing.T) {
	ctx := context.Background()
	started := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	target := canary.Target{Namespace: "ns", Name: "podinfo", Canary: "web"}
	client := fake.NewClientset()

	// a driver of an earlier version kept the analysis' start in the lease; this one keeps it
	// in the Analysis condition, which is read first
	writer, err := kube.NewLease(kube.LeaseOptions{Client: client, Target: target, Identity: "driver"})
	require.NoError(t, err)
	require.NoError(t, writer.Acquire(ctx))
	_, err = writer.Save(ctx, target, canary.Status{StartedAt: started.Add(-time.Hour), Paused: true})
	require.NoError(t, err)

	dyn := fakedynamic.NewSimpleDynamicClient(runtime.NewScheme(),
		canaryObject("ns", "web", map[string]any{
			"phase": "Progressing", "canaryWeight": int64(40), "failedChecks": int64(1), "iterations": int64(2),
			"lastAppliedSpec": "rev-2", "lastPromotedSpec": "rev-1", "lastTransitionTime": "2026-01-02T03:05:00Z",
			"conditions": []any{map[string]any{"type": ConditionAnalysis, "status": "True", "reason": "Started",
				"message": `{"startedAt":"2026-01-02T03:04:05Z"}`}},
		}),
		canaryObject("ns", "podinfo", map[string]any{"phase": "Succeeded"})) // another Canary: not read

	st, err := LoadCanaryStatus(ctx, dyn, readerLease(t, client, target), target)
	require.NoError(t, err)
	assert.Equal(t, canary.PhaseProgressing, st.Phase, "the Canary named by target.Canary")
	assert.Equal(t, 40, st.CanaryWeight)
	assert.Equal(t, 1, st.FailedChecks)
	assert.Equal(t, 2, st.Iterations)
	assert.Equal(t, "rev-2", st.LastAppliedSpec)
	assert.Equal(t, "rev-1", st.LastPromotedSpec)
	assert.True(t, st.LastTransitionTime.Equal(time.Date(2026, 1, 2, 3, 5, 0, 0, time.UTC)))
	assert.True(t, st.StartedAt.Equal(started), "the analysis' start comes from the condition: %s", st.StartedAt)
	assert.False(t, st.Paused, "not from the lease an earlier driver wrote")
	assert.Equal(t, "7", st.Version)
}

func TestLoadCanaryStatusErrors(t *testing.T) {
	ctx := context.Background()
	target := canary.Target{Namespace: "ns", Name: "podinfo"}
	client := fake.NewClientset()

	// no Canary: NotFound
	dyn := fakedynamic.NewSimpleDynamicClient(runtime.NewScheme())
	_, err := LoadCanaryStatus(ctx, dyn, readerLease(t, client, target), target)
	require.Error(t, err)
	assert.True(t, apierrors.IsNotFound(err), "%v", err)
	assert.True(t, canary.IsPermanent(err))

	// no permission to read canaries: Forbidden
	dyn = fakedynamic.NewSimpleDynamicClient(runtime.NewScheme(), canaryObject("ns", "podinfo", map[string]any{"phase": "Failed"}))
	dyn.PrependReactor("get", "canaries", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(CanaryGVR.GroupResource(), "podinfo", errors.New("rbac"))
	})
	_, err = LoadCanaryStatus(ctx, dyn, readerLease(t, client, target), target)
	require.Error(t, err)
	assert.True(t, apierrors.IsForbidden(err), "%v", err)

	// a status written by someone else that is out of bounds names the field
	dyn = fakedynamic.NewSimpleDynamicClient(runtime.NewScheme(), canaryObject("ns", "podinfo", map[string]any{"phase": "Progressing", "canaryWeight": int64(400)}))
	_, err = LoadCanaryStatus(ctx, dyn, readerLease(t, client, target), target)
	require.ErrorContains(t, err, ".status.canaryWeight")

	// a Canary without a status is the zero status
	dyn = fakedynamic.NewSimpleDynamicClient(runtime.NewScheme(), canaryObject("ns", "podinfo", nil))
	st, err := LoadCanaryStatus(ctx, dyn, readerLease(t, client, target), target)
	require.NoError(t, err)
	assert.Equal(t, canary.Phase(""), st.Phase)

	_, err = LoadCanaryStatus(ctx, nil, readerLease(t, client, target), target)
	require.Error(t, err)
}
