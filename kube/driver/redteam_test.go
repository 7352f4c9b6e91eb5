package driver

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/kube"
	"github.com/canarykit/canarykit/kube/flagger"
)

// A proxy URL from an AlertProvider's Secret that does not parse must not be quoted in the
// error (which reaches the Canary's events): it holds the proxy's password.
func TestRedteamBadSecretProxyKeepsItsPasswordOut(t *testing.T) {
	client := fake.NewClientset(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "slack", Namespace: "flagger"},
		Data: map[string][]byte{
			"address": []byte("https://hooks.slack.com/services/T0/B0/x"),
			"proxy":   []byte("http://squid:s3cret@proxy.internal:31 28"),
		}})
	s := testDriver(client)
	_, err := s.notifier(context.Background(), flagger.AlertProvider{Name: "on-call", Namespace: "flagger", Type: "slack", SecretRef: "slack"})
	require.ErrorContains(t, err, "AlertProvider flagger/on-call: proxy")
	assert.NotContains(t, err.Error(), "s3cret")
}

// A second Canary of a target (its Bootstrap refused: the target's objects are the first
// Canary's) deleted without revertOnDeletion must leave the first Canary's release alone: its
// route stays where it is and its target keeps its replicas.
func TestRedteamRetireOfARefusedCanaryLeavesTheOthersTargetAlone(t *testing.T) {
	ctx := context.Background()
	dep := testenv.PodinfoDeployment("podinfo", "podinfo:1", 3)
	dep.Namespace = "test"
	client := fake.NewClientset(dep)
	workloadFor := func(tg canary.Target) *kube.Workload {
		c, err := kube.New(kube.Options{Client: client})
		require.NoError(t, err)
		t.Cleanup(c.Close)
		w, err := c.Workload(kube.WorkloadOptions{Target: tg, Port: 9898})
		require.NoError(t, err)
		return w
	}
	first := canary.Target{Namespace: "test", Name: "podinfo"}
	require.NoError(t, workloadFor(first).Bootstrap(ctx, first))
	router := &canarytest.Router{}
	router.Set(first, canary.CanaryWeight(30)) // the first Canary's release, under way

	second := canary.Target{Namespace: "test", Name: "podinfo", Canary: "podinfo-b", Service: "podinfo-b"}
	w := workloadFor(second)
	require.ErrorContains(t, w.Bootstrap(ctx, second), "not for Canary podinfo-b")
	require.NoError(t, leaveOnPrimary(ctx, second, router, w))

	got, err := router.Current(first)
	require.NoError(t, err)
	assert.Equal(t, canary.CanaryWeight(30), got, "the first Canary's route is not reset")
	d, err := client.AppsV1().Deployments("test").Get(ctx, "podinfo", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(3), *d.Spec.Replicas, "the first Canary's target is not scaled down")
}

// A Canary taken over from Flagger in the middle of a release of a changed target (its
// primary, Flagger's, records no canarykit revision until the promotion) deleted without
// revertOnDeletion: the traffic goes back to the primary and the target is scaled to zero, as
// for any bootstrapped target, instead of staying split to the canary with no driver left.
func TestRedteamRetireOfATakenOverReleaseLeavesTrafficOnThePrimary(t *testing.T) {
	ctx := context.Background()
	dep := testenv.PodinfoDeployment("podinfo", "podinfo:2", 2)
	dep.Namespace = "test"
	primaryLabels := map[string]string{"app": "podinfo-primary"}
	primary := testenv.PodinfoDeployment("podinfo-primary", "podinfo:1", 2)
	primary.Namespace = "test"
	primary.Labels = primaryLabels
	primary.Spec.Selector.MatchLabels = primaryLabels
	primary.Spec.Template.Labels = primaryLabels
	primary.OwnerReferences = []metav1.OwnerReference{{APIVersion: "flagger.app/v1beta1", Kind: "Canary", Name: "podinfo",
		UID: "uid-1", Controller: ptr.To(true)}}
	client := fake.NewClientset(dep, primary)
	c, err := kube.New(kube.Options{Client: client})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	target := canary.Target{Namespace: "test", Name: "podinfo", CanaryUID: "uid-1"}
	w, err := c.Workload(kube.WorkloadOptions{Target: target, Port: 9898})
	require.NoError(t, err)
	require.NoError(t, w.Bootstrap(ctx, target))
	router := &canarytest.Router{}
	router.Set(target, canary.CanaryWeight(40)) // the release under way

	require.NoError(t, leaveOnPrimary(ctx, target, router, w))
	got, err := router.Current(target)
	require.NoError(t, err)
	assert.Equal(t, canary.AllPrimary(), got, "the traffic is left on the primary")
	d, err := client.AppsV1().Deployments("test").Get(ctx, "podinfo", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(0), *d.Spec.Replicas, "the target is scaled to zero, as after a rollback")
}

// The namespace of a deleted Canary is being deleted (or is gone): the namespace controller
// deleted the target's Lease with the rest, and the API server refuses to create a new one
// there. Retire must find nothing left to retire, instead of failing for ever: the controller
// retries a failed Retire until it succeeds, and a Canary holding the finalizer keeps its
// namespace Terminating until then.
func TestRedteamRetireInADeletedNamespaceEnds(t *testing.T) {
	terminating := apierrors.NewForbidden(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, "x",
		errors.New("unable to create new content in namespace ns because it is being terminated"))
	terminating.ErrStatus.Details.Causes = append(terminating.ErrStatus.Details.Causes,
		metav1.StatusCause{Type: corev1.NamespaceTerminatingCause, Message: "namespace ns is being terminated", Field: "metadata.namespace"})
	gone := apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, "ns")
	for name, refusal := range map[string]error{"terminating": terminating, "gone": gone} {
		for _, revert := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/revert=%v", name, revert), func(t *testing.T) {
				bed := newRetireBed(t, nil)
				cs := bed.d.client.(*fake.Clientset)
				cs.PrependReactor("create", "leases", func(clienttesting.Action) (bool, runtime.Object, error) {
					return true, nil, refusal
				})
				cluster, err := kube.New(kube.Options{Client: cs, Dynamic: bed.dyn})
				require.NoError(t, err)
				t.Cleanup(cluster.Close)
				bed.d.cluster = cluster
				bed.d.opts.Router = &canarytest.Router{}
				c := smiCanary("podinfo", "podinfo")
				c.RevertOnDeletion, c.Workload.Port = revert, 9898
				assert.NoError(t, bed.d.Retire(context.Background(), c, Retirement{Revert: revert}))
			})
		}
	}
}
