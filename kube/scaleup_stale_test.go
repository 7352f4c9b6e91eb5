package kube

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/canarykit/canarykit/canary"
)

// bumpGenerationOnPatch makes client's Deployment patches bump the object's generation, as the
// API server does for a spec change (client-go's fakes keep it as it is).
func bumpGenerationOnPatch(client *fake.Clientset) {
	apply := k8stesting.ObjectReaction(client.Tracker())
	client.PrependReactor("patch", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		_, obj, err := apply(a)
		if err != nil {
			return true, nil, err
		}
		d := obj.(*appsv1.Deployment).DeepCopy()
		d.Generation++
		if err := client.Tracker().Update(a.GetResource(), d, d.Namespace); err != nil {
			return true, nil, err
		}
		return true, d, nil
	})
}

// A canary the Workload scaled down is scaled up again even while its cache still holds the
// object from before the scale-down (its watch event not in yet): a new revision pushed just
// before the scale-down is then seen with its replicas of before, which is not "already
// running". Before, such a release waited for a canary scaled to zero until its deadline.
func TestScaleUpDoesNotTrustACacheOlderThanItsOwnScaleDown(t *testing.T) {
	ctx := context.Background()
	target := canary.Target{Namespace: "test", Name: "podinfo"}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "podinfo", Generation: 4},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "podinfo"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "podinfo"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "podinfo:2"}}}}}}
	client := fake.NewClientset(d)
	bumpGenerationOnPatch(client)
	c, err := New(Options{Client: client})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	w, err := c.Workload(WorkloadOptions{Target: target, Port: 9898})
	require.NoError(t, err)
	nc, cached, err := w.lookup(ctx, target)
	require.NoError(t, err)
	require.Equal(t, int32(1), *cached.deployment.Spec.Replicas)

	require.NoError(t, w.ScaleDown(ctx, target))
	indexer := nc.factory.Apps().V1().Deployments().Informer().GetIndexer()
	require.Eventually(t, func() bool {
		o, err := nc.deployments.Deployments("test").Get("podinfo")
		return err == nil && *o.Spec.Replicas == 0
	}, time.Minute, time.Millisecond, "the scale-down's watch event is in") // so none comes after the next line
	// the cache as it may still be: the object of generation 4, one replica
	require.NoError(t, indexer.Update(d))
	client.ClearActions()
	require.NoError(t, w.ScaleUp(ctx, target))
	assert.Equal(t, []string{"patch deployments/podinfo"}, writes(client), "scaled up, not taken as already running")
	got, err := client.AppsV1().Deployments("test").Get(ctx, "podinfo", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(1), *got.Spec.Replicas)

	// with the cache caught up with that write, there is nothing to do
	require.NoError(t, indexer.Update(got))
	client.ClearActions()
	require.NoError(t, w.ScaleUp(ctx, target))
	assert.Empty(t, writes(client))
}
