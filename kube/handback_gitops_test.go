package kube

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
)

// A GitOps tool that keeps the apex Service in Git puts its copy back over the one canarykit
// manages: no canarykit label or annotations, its selector on the primary's pods. The hand-back
// leaves that Service alone (it is not canarykit's), so deleting the primary would leave it
// without endpoints: RemoveGenerated keeps the primary, and everything else, with an error
// naming the Service, until the Service selects the target's pods; then it removes them.
func TestRevertKeepsThePrimaryAnApexInGitSelects(t *testing.T) {
	ctx := context.Background()
	d := testenv.PodinfoDeployment("podinfo", "podinfo:1", 2)
	d.Namespace = "test"
	client := fake.NewClientset(d)
	target := canary.Target{Namespace: "test", Name: "podinfo"}
	w := workloadOn(t, client, target)
	require.NoError(t, w.Bootstrap(ctx, target))

	services := client.CoreV1().Services("test")
	apex, err := services.Get(ctx, "podinfo", metav1.GetOptions{})
	require.NoError(t, err)
	git := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test", ResourceVersion: apex.ResourceVersion},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "podinfo-primary"}, Ports: apex.Spec.Ports}}
	_, err = services.Update(ctx, git, metav1.UpdateOptions{})
	require.NoError(t, err)
	nc, err := w.c.namespace(ctx, "test", noExtras)
	require.NoError(t, err)
	cachedSelector := func(value string) func() bool { // the Git copy's, in the Workload's cache
		return func() bool {
			s, err := nc.service("test", "podinfo")
			return err == nil && unlabelled(s) && s.Spec.Selector["app"] == value
		}
	}
	require.Eventually(t, cachedSelector("podinfo-primary"), waitFor, tick)

	_, err = w.RestoreTarget(ctx, target)
	require.NoError(t, err)
	require.NoError(t, w.HandBackApex(ctx, target))
	kept, err := services.Get(ctx, "podinfo", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"app": "podinfo-primary"}, kept.Spec.Selector, "the Git copy is not canarykit's to change")

	err = w.RemoveGenerated(ctx, target)
	require.ErrorContains(t, err, "service test/podinfo selects the pods of the primary deployment podinfo-primary (app=podinfo-primary) and is not managed by canarykit")
	assert.ErrorContains(t, err, "pointed at the target's pods (app=podinfo)")
	_, err = client.AppsV1().Deployments("test").Get(ctx, "podinfo-primary", metav1.GetOptions{})
	require.NoError(t, err, "the primary the Service routes to is kept")
	for _, name := range []string{"podinfo-primary", "podinfo-canary"} {
		_, err = services.Get(ctx, name, metav1.GetOptions{})
		assert.NoError(t, err, "nothing is removed: %s", name)
	}

	// Git's copy now selects the target's pods: the rest goes
	kept.Spec.Selector = map[string]string{"app": "podinfo"}
	_, err = services.Update(ctx, kept, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.Eventually(t, cachedSelector("podinfo"), waitFor, tick)
	require.NoError(t, w.RemoveGenerated(ctx, target))
	_, err = client.AppsV1().Deployments("test").Get(ctx, "podinfo-primary", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the primary is removed: %v", err)
	_, err = services.Get(ctx, "podinfo", metav1.GetOptions{})
	assert.NoError(t, err, "the apex Service stays")
}
