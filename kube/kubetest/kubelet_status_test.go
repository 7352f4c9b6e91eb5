package kubetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func pod(containers ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: "img"})
	}
	return p
}

func readyCondition(st corev1.PodStatus) corev1.PodCondition {
	for _, c := range st.Conditions {
		if c.Type == corev1.PodReady {
			return c
		}
	}
	return corev1.PodCondition{}
}

func TestDesiredStatus(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	st, next := desiredStatus(pod("app", "sidecar"), ReadyNow(), t0, t0, t0)
	assert.Equal(t, corev1.PodRunning, st.Phase)
	assert.Equal(t, corev1.ConditionTrue, readyCondition(st).Status)
	assert.Zero(t, next)
	require.Len(t, st.ContainerStatuses, 2)
	assert.True(t, st.ContainerStatuses[1].Ready)
	assert.NotNil(t, st.ContainerStatuses[1].State.Running)

	p := pod("app")
	st, next = desiredStatus(p, ReadyAfter(3*time.Second), t0, t0, t0.Add(time.Second))
	assert.Equal(t, corev1.ConditionFalse, readyCondition(st).Status)
	assert.Equal(t, 2*time.Second, next)
	p.Status = st
	st, next = desiredStatus(p, ReadyAfter(3*time.Second), t0, t0, t0.Add(3*time.Second))
	assert.Equal(t, corev1.ConditionTrue, readyCondition(st).Status)
	assert.Equal(t, t0.Add(3*time.Second), readyCondition(st).LastTransitionTime.Time)
	assert.Zero(t, next)
	// A status that is already right is reproduced as it is.
	p.Status = st
	again, _ := desiredStatus(p, ReadyAfter(3*time.Second), t0, t0, t0.Add(time.Minute))
	assert.Equal(t, st, again)

	st, next = desiredStatus(pod("app"), NeverReady(), t0, t0, t0.Add(time.Hour))
	assert.Equal(t, corev1.ConditionFalse, readyCondition(st).Status)
	assert.Zero(t, next)

	st, next = desiredStatus(pod("app"), CrashLoop(time.Second), t0, t0, t0.Add(2500*time.Millisecond))
	assert.Equal(t, corev1.ConditionFalse, readyCondition(st).Status)
	assert.Equal(t, 500*time.Millisecond, next)
	require.Len(t, st.ContainerStatuses, 1)
	cs := st.ContainerStatuses[0]
	assert.Equal(t, int32(3), cs.RestartCount)
	require.NotNil(t, cs.State.Waiting)
	assert.Equal(t, "CrashLoopBackOff", cs.State.Waiting.Reason)
	require.NotNil(t, cs.LastTerminationState.Terminated)
	assert.Equal(t, int32(1), cs.LastTerminationState.Terminated.ExitCode)
}
