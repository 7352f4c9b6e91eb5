package kubetest

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// desiredStatus is the status a kubelet would report for pod under behavior b at now; first is
// when the stand-in first saw the pod, since when b was set. It also returns when the status
// will next change (0: not by itself). Timestamps of unchanged parts are kept, so a status
// that is already right compares equal.
func desiredStatus(pod *corev1.Pod, b Behavior, first, since, now time.Time) (corev1.PodStatus, time.Duration) {
	old := pod.Status
	st := *old.DeepCopy()
	st.Phase = corev1.PodRunning
	if st.StartTime == nil {
		t := metav1.NewTime(first)
		st.StartTime = &t
	}

	ready, restarts := false, int32(0)
	var next time.Duration
	switch b.Mode {
	case ModeReady:
		start := first
		if since.After(start) {
			start = since
		}
		at := start.Add(b.Delay)
		if now.Before(at) {
			next = at.Sub(now)
		} else {
			ready = true
		}
	case ModeCrashLoop:
		every := b.RestartEvery
		if every <= 0 {
			every = time.Second
		}
		elapsed := now.Sub(first)
		restarts = int32(elapsed/every) + 1
		next = every - elapsed%every
	case ModeNeverReady:
	}

	st.Conditions = setConditions(pod, now, ready)
	st.ContainerStatuses = containerStatuses(pod, now, b.Mode, ready, restarts)
	return st, next
}

// setConditions sets PodScheduled, Initialized, ContainersReady and Ready, keeping other
// conditions and the transition time of those whose status does not change.
func setConditions(pod *corev1.Pod, now time.Time, ready bool) []corev1.PodCondition {
	old := pod.Status.Conditions
	readyStatus, reason, message := corev1.ConditionTrue, "", ""
	if !ready {
		names := make([]string, 0, len(pod.Spec.Containers))
		for _, c := range pod.Spec.Containers {
			names = append(names, c.Name)
		}
		readyStatus, reason = corev1.ConditionFalse, "ContainersNotReady"
		message = "containers with unready status: [" + strings.Join(names, " ") + "]"
	}
	want := []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue},
		{Type: corev1.ContainersReady, Status: readyStatus, Reason: reason, Message: message},
		{Type: corev1.PodReady, Status: readyStatus, Reason: reason, Message: message},
	}
	var out []corev1.PodCondition
	for _, c := range old {
		switch c.Type {
		case corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady:
		default:
			out = append(out, c)
		}
	}
	for _, w := range want {
		w.LastTransitionTime = metav1.NewTime(now)
		for _, c := range old {
			if c.Type == w.Type && c.Status == w.Status {
				w.LastTransitionTime = c.LastTransitionTime
				w.LastProbeTime = c.LastProbeTime
			}
		}
		out = append(out, w)
	}
	return out
}

// containerStatuses describes each container: running (ready or not), or waiting in
// CrashLoopBackOff after restarts exits.
func containerStatuses(pod *corev1.Pod, now time.Time, mode Mode, ready bool, restarts int32) []corev1.ContainerStatus {
	out := make([]corev1.ContainerStatus, 0, len(pod.Spec.Containers))
	for _, c := range pod.Spec.Containers {
		var old *corev1.ContainerStatus
		for i := range pod.Status.ContainerStatuses {
			if pod.Status.ContainerStatuses[i].Name == c.Name {
				old = &pod.Status.ContainerStatuses[i]
			}
		}
		cs := corev1.ContainerStatus{
			Name:        c.Name,
			Image:       c.Image,
			ImageID:     "canarykit-kubetest://" + c.Image,
			ContainerID: fmt.Sprintf("canarykit-kubetest://%s/%s/%s", pod.Namespace, pod.Name, c.Name),
			Ready:       ready,
		}
		if mode == ModeCrashLoop {
			started := false
			cs.Started = &started
			cs.RestartCount = restarts
			cs.State.Waiting = &corev1.ContainerStateWaiting{
				Reason:  "CrashLoopBackOff",
				Message: fmt.Sprintf("back-off restarting failed container %s in pod %s", c.Name, pod.Name),
			}
			finished := metav1.NewTime(now)
			if old != nil && old.RestartCount == restarts && old.LastTerminationState.Terminated != nil {
				finished = old.LastTerminationState.Terminated.FinishedAt
			}
			cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{
				ExitCode: 1, Reason: "Error", StartedAt: finished, FinishedAt: finished,
			}
		} else {
			started := true
			cs.Started = &started
			startedAt := metav1.NewTime(now)
			if old != nil && old.State.Running != nil {
				startedAt = old.State.Running.StartedAt
			}
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: startedAt}
		}
		out = append(out, cs)
	}
	return out
}
