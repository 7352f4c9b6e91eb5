package kube

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/canarykit/canarykit/canary"
)

// A Canary whose target is a DaemonSet of the same name as another Canary's Deployment target
// has its Bootstrap refused (the Services record the other Canary). It made nothing: its
// primary (a DaemonSet) does not exist, yet OtherCanary must still name the other Canary, so
// that its retirement does not hand back, remove the route of, or delete the Lease of the
// other Canary's release, all of which are named after the target's name alone.
func TestRedteamOtherCanaryOfATargetOfAnotherKind(t *testing.T) {
	ctx := context.Background()
	ds := agentDaemonSet("agent:1")
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "agent", UID: "dep-uid"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(2)), Selector: ds.Spec.Selector, Template: ds.Spec.Template}}
	client := fake.NewClientset(ds, dep)

	first := canary.Target{Namespace: "test", Name: "agent", Canary: "agent"}
	require.NoError(t, workloadOn(t, client, first).Bootstrap(ctx, first))

	second := canary.Target{Namespace: "test", Name: "agent", Canary: "agent-ds"}
	w := daemonSetWorkload(t, client, second)
	require.ErrorContains(t, w.Bootstrap(ctx, second), "not for Canary agent-ds")
	other, err := w.OtherCanary(ctx, second)
	require.NoError(t, err)
	assert.Equal(t, "agent", other, "the target's objects are the other Canary's")
	has, err := w.HasPrimary(ctx, second)
	require.NoError(t, err)
	assert.False(t, has)
}
