package driver

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/canarykit/canarykit/kube"
	"github.com/canarykit/canarykit/kube/flagger"
)

// A Canary whose targetRef is a DaemonSet named as another Canary's Deployment target (its
// Bootstrap refused: the Services record the other Canary) is deleted with revertOnDeletion.
// The route objects and the Lease are named after the target's name alone, as the other
// Canary's are: its retirement must leave the other Canary's TrafficSplit and Lease (its
// saved status) alone.
func TestRedteamRevertOfADaemonSetNamedAsAnotherCanarysTarget(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	labels := map[string]string{"app": "agent"}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "agent:1"}}}}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "agent", UID: "dep-uid"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(2)), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "agent", UID: "ds-uid", Generation: 1},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl,
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType}},
		Status: appsv1.DaemonSetStatus{ObservedGeneration: 1, DesiredNumberScheduled: 1, CurrentNumberScheduled: 1,
			UpdatedNumberScheduled: 1, NumberReady: 1, NumberAvailable: 1}}
	status := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "agent-canarykit",
		Annotations: map[string]string{"canarykit.dev/status": `{"phase":"Progressing"}`}}}
	bed := newRetireBed(t, []runtime.Object{dep, ds, status})
	cs := bed.d.client.(*fake.Clientset)
	cluster, err := kube.New(kube.Options{Client: cs, Dynamic: bed.dyn})
	require.NoError(t, err)
	t.Cleanup(cluster.Close)
	bed.d.cluster = cluster
	bed.d.opts.Clock = clock.RealClock{}
	router := &removingRouter{}
	bed.d.opts.Router = router

	first := canary.Target{Namespace: "ns", Name: "agent", Canary: "agent"}
	w, err := cluster.Workload(kube.WorkloadOptions{Target: first, Port: 9898})
	require.NoError(t, err)
	require.NoError(t, w.Bootstrap(ctx, first))

	c := &flagger.Canary{Name: "agent-ds", Namespace: "ns", RevertOnDeletion: true,
		Target:   canary.Target{Namespace: "ns", Name: "agent", Canary: "agent-ds"},
		Router:   flagger.Router{Kind: flagger.RouterSMI},
		Workload: flagger.Workload{Kind: kube.KindDaemonSet, Port: 9898}}
	require.NoError(t, bed.d.Retire(ctx, c, Retirement{Revert: true}))

	assert.Zero(t, router.removed, "the other Canary's route objects are kept")
	_, err = cs.CoordinationV1().Leases("ns").Get(ctx, "agent-canarykit", metav1.GetOptions{})
	assert.NoError(t, err, "the other Canary's Lease is kept")
}

// removingRouter is a router whose route objects Retire with Revert removes: it counts the
// removals.
type removingRouter struct {
	canarytest.Router
	removed int
}

func (r *removingRouter) Remove(context.Context, canary.Target) error {
	r.removed++
	return nil
}
