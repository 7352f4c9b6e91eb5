package kubetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

func dep(replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Generation: 1},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas), ProgressDeadlineSeconds: ptr.To(int32(10)),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "v1"}}}}},
	}
}

// states makes pods: current or old, each available or not, created one second apart.
func states(current bool, available ...bool) []podState {
	out := make([]podState, 0, len(available))
	for i, a := range available {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%v-%d", current, i),
			CreationTimestamp: metav1.NewTime(time.Unix(int64(1000+i), 0))}}
		out = append(out, podState{pod: p, current: current, ready: a, available: a})
	}
	return out
}

func names(pods []*corev1.Pod) []string {
	out := []string{}
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

func TestMaxUnavailableAsTheController(t *testing.T) {
	for _, c := range []struct {
		replicas           int32
		surge, unavailable *intstr.IntOrString
		recreate           bool
		want               int32
	}{
		{replicas: 1, want: 0},  // 25 % of 1, rounded down
		{replicas: 4, want: 1},  // 25 % of 4
		{replicas: 10, want: 2}, // 25 % of 10, rounded down
		{replicas: 3, surge: ptr.To(intstr.FromInt32(0)), unavailable: ptr.To(intstr.FromInt32(0)), want: 1},
		{replicas: 3, unavailable: ptr.To(intstr.FromInt32(5)), want: 3},
		{replicas: 3, recreate: true, want: 0},
	} {
		d := dep(c.replicas)
		if c.recreate {
			d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType
		} else if c.surge != nil || c.unavailable != nil {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: c.surge, MaxUnavailable: c.unavailable}
		}
		assert.Equal(t, c.want, maxUnavailable(d), "%+v", c)
	}
}

func TestPlanRollingUpdateKeepsOldPodsWhileNeeded(t *testing.T) {
	d := dep(4) // may lose one

	create, remove := plan(d, nil)
	assert.Equal(t, 4, create)
	assert.Empty(t, remove)

	// a new template: all four new pods at once, one old (unavailable first) may go
	pods := append(states(false, true, true, true, false), nil...)
	create, remove = plan(d, pods)
	assert.Equal(t, 4, create)
	assert.Equal(t, []string{"pfalse-3"}, names(remove))

	// two new pods available: one old pod is still needed (4 - 1 - 2)
	pods = append(states(false, true, true, true), states(true, true, true, false, false)...)
	create, remove = plan(d, pods)
	assert.Zero(t, create)
	assert.Len(t, remove, 2)

	// all new available: every old pod goes
	pods = append(states(false, true), states(true, true, true, true, true)...)
	_, remove = plan(d, pods)
	assert.Equal(t, []string{"pfalse-0"}, names(remove))

	// scaled down: unavailable then newest go first
	_, remove = plan(dep(2), states(true, true, false, true, true))
	assert.Equal(t, []string{"ptrue-1", "ptrue-3"}, names(remove))
}

func TestPlanRecreateDeletesOldPodsFirst(t *testing.T) {
	d := dep(2)
	d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType
	create, remove := plan(d, append(states(false, true, true), states(true, false)...))
	assert.Zero(t, create, "no new pod while old ones run")
	assert.Len(t, remove, 2)
	create, _ = plan(d, states(true, false))
	assert.Equal(t, 1, create)
}

func cond(st appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) appsv1.DeploymentCondition {
	c := condition(st.Conditions, t)
	if c == nil {
		return appsv1.DeploymentCondition{}
	}
	return *c
}

func TestStatusTimesOutWithoutProgress(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d := dep(1)
	st, next := desiredDeploymentStatus(d, states(true, false), true, t0)
	assert.Equal(t, int32(1), st.Replicas)
	assert.Equal(t, int32(1), st.UpdatedReplicas)
	assert.Zero(t, st.AvailableReplicas)
	assert.Equal(t, int32(1), st.UnavailableReplicas)
	assert.Equal(t, "MinimumReplicasUnavailable", cond(st, appsv1.DeploymentAvailable).Reason)
	assert.Equal(t, "ReplicaSetUpdated", cond(st, appsv1.DeploymentProgressing).Reason)
	assert.Equal(t, 10*time.Second+time.Millisecond, next)

	d.Status = st
	d.Status.ObservedGeneration = 1
	again, next := desiredDeploymentStatus(d, states(true, false), false, t0.Add(5*time.Second))
	assert.Equal(t, st, again, "nothing moved, nothing changes")
	assert.Equal(t, 5*time.Second+time.Millisecond, next)

	d.Status = again
	st, next = desiredDeploymentStatus(d, states(true, false), false, t0.Add(11*time.Second))
	p := cond(st, appsv1.DeploymentProgressing)
	assert.Equal(t, corev1.ConditionFalse, p.Status)
	assert.Equal(t, "ProgressDeadlineExceeded", p.Reason)
	assert.Zero(t, next)
	// the Available condition is the one written first, times included
	assert.Equal(t, t0, cond(st, appsv1.DeploymentAvailable).LastUpdateTime.Time)

	// readiness is progress: the rollout completes
	d.Status = st
	st, next = desiredDeploymentStatus(d, states(true, true), false, t0.Add(12*time.Second))
	assert.Equal(t, "NewReplicaSetAvailable", cond(st, appsv1.DeploymentProgressing).Reason)
	assert.Equal(t, corev1.ConditionTrue, cond(st, appsv1.DeploymentAvailable).Status)
	assert.Zero(t, next)
}

func TestStatusCompleteDeploymentDoesNotTimeOut(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d := dep(1)
	st, _ := desiredDeploymentStatus(d, states(true, true), true, t0)
	require.Equal(t, "NewReplicaSetAvailable", cond(st, appsv1.DeploymentProgressing).Reason)
	d.Status = st
	// a pod turns unready much later: unavailable, but not timed out without a new rollout
	st, next := desiredDeploymentStatus(d, states(true, false), false, t0.Add(time.Hour))
	assert.Equal(t, "MinimumReplicasUnavailable", cond(st, appsv1.DeploymentAvailable).Reason)
	assert.Equal(t, "NewReplicaSetAvailable", cond(st, appsv1.DeploymentProgressing).Reason)
	assert.Zero(t, next)
}

func TestStatusWithoutDeadlineHasNoProgressingCondition(t *testing.T) {
	d := dep(1)
	d.Spec.ProgressDeadlineSeconds = ptr.To(int32(noDeadline))
	st, next := desiredDeploymentStatus(d, states(true, false), true, time.Now())
	assert.Nil(t, condition(st.Conditions, appsv1.DeploymentProgressing))
	assert.NotNil(t, condition(st.Conditions, appsv1.DeploymentAvailable))
	assert.Zero(t, next)
}

func TestJudgePodHonoursMinReadySeconds(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &corev1.Pod{Status: corev1.PodStatus{Conditions: []corev1.PodCondition{
		{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0)}}}}
	ready, available, after := judgePod(p, 5*time.Second, t0.Add(2*time.Second))
	assert.True(t, ready)
	assert.False(t, available)
	assert.Equal(t, 3*time.Second, after)
	_, available, _ = judgePod(p, 5*time.Second, t0.Add(5*time.Second))
	assert.True(t, available)
	p.Status.Conditions[0].Status = corev1.ConditionFalse
	ready, available, _ = judgePod(p, 0, t0)
	assert.False(t, ready || available)
}

// The stand-in waits for the cache to show its own writes, but not for ever: a pod deleted by
// someone else right after its creation never shows up.
func TestExpectationsSettleOrExpire(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c := &Deployments{clock: clk, expecting: map[types.NamespacedName]*expectations{}}
	key := types.NamespacedName{Namespace: "ns", Name: "web"}
	assert.True(t, c.settled(key, nil), "nothing expected")

	c.expect(key, "web-a", true)
	c.expect(key, "web-old", false)
	seen := []*corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Name: "web-a"}}, {ObjectMeta: metav1.ObjectMeta{Name: "web-old"}}}
	assert.False(t, c.settled(key, seen), "web-old is still in the cache")
	assert.True(t, c.settled(key, seen[:1]), "web-a created and web-old deleted, as the cache shows")

	c.expect(key, "web-b", true)
	assert.False(t, c.settled(key, nil))
	clk.Step(expectationTimeout + time.Second)
	assert.True(t, c.settled(key, nil), "given up after the timeout")
	assert.Empty(t, c.expecting)
}
