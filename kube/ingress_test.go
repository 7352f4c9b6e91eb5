package kube

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// CachedIngress answers from a watch of the namespace's Ingresses, started by its first call in
// a namespace whose caches run: not synced until then, nil for a missing Ingress, the
// Ingress without its status once synced, and an edit seen without a request of the caller's.
// A namespace without running caches gets none started.
func TestCachedIngress(t *testing.T) {
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "public", Namespace: "ns", Labels: map[string]string{"v": "1"}},
		Status: networkingv1.IngressStatus{LoadBalancer: networkingv1.IngressLoadBalancerStatus{Ingress: []networkingv1.IngressLoadBalancerIngress{{IP: "10.0.0.1"}}}}}
	client := fake.NewClientset(ing, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "ns"}})
	c, err := New(Options{Client: client})
	require.NoError(t, err)
	defer c.Close()

	_, synced := c.CachedIngress("ns", "public")
	assert.False(t, synced, "the namespace's caches do not run")
	_, err = c.namespace(context.Background(), "ns", noExtras)
	require.NoError(t, err)
	_, synced = c.CachedIngress("other", "public")
	assert.False(t, synced)
	c.mu.Lock()
	_, started := c.caches["other"]
	c.mu.Unlock()
	assert.False(t, started, "CachedIngress starts no namespace")

	ctx := context.Background()
	var got *networkingv1.Ingress
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 5*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		got, synced = c.CachedIngress("ns", "public")
		return synced, nil
	}))
	require.NotNil(t, got)
	assert.Equal(t, "1", got.Labels["v"])
	assert.Empty(t, got.Status.LoadBalancer.Ingress, "the status is not cached")
	missing, synced := c.CachedIngress("ns", "missing")
	assert.True(t, synced)
	assert.Nil(t, missing)

	next := ing.DeepCopy()
	next.Labels["v"] = "2"
	_, err = client.NetworkingV1().Ingresses("ns").Update(ctx, next, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 5*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		got, _ = c.CachedIngress("ns", "public")
		return got != nil && got.Labels["v"] == "2", nil
	}), "the edit reaches the cache")
}

// An identity that may not list Ingresses leaves CachedIngress unsynced, and the refusal is
// not one of the failures the namespace's caches report when their sync times out: no read
// waits for the Ingresses.
func TestCachedIngressRefusedIsNotANamespaceSyncError(t *testing.T) {
	client := fake.NewClientset(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "ns"}})
	var lists atomic.Int32
	client.PrependReactor("list", "ingresses", func(k8stesting.Action) (bool, runtime.Object, error) {
		lists.Add(1)
		return true, nil, apierrors.NewForbidden(networkingv1.Resource("ingresses"), "", errors.New("no list"))
	})
	c, err := New(Options{Client: client})
	require.NoError(t, err)
	defer c.Close()
	nc, err := c.namespace(context.Background(), "ns", noExtras)
	require.NoError(t, err)

	_, synced := c.CachedIngress("ns", "public")
	assert.False(t, synced)
	// the reflector reports a failed list to its error handler before it lists again
	require.NoError(t, wait.PollUntilContextTimeout(context.Background(), 5*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return lists.Load() >= 2, nil
	}))
	_, synced = c.CachedIngress("ns", "public")
	assert.False(t, synced, "never synced")
	assert.NotContains(t, nc.errors(), "ingresses")
}
