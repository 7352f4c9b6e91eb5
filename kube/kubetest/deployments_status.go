package kubetest

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Reasons and messages of the Deployment conditions the stand-in writes: the reasons are the
// deployment controller's own.
const (
	reasonMinimumAvailable   = "MinimumReplicasAvailable"
	reasonMinimumUnavailable = "MinimumReplicasUnavailable"
	reasonNewPodsAvailable   = "NewReplicaSetAvailable" // the controller's name for a complete rollout
	reasonUpdated            = "ReplicaSetUpdated"
	reasonTimedOut           = "ProgressDeadlineExceeded"
)

// templateHashLabel is the label the deployment controller puts on the pods of one template.
const templateHashLabel = appsv1.DefaultDeploymentUniqueLabelKey

// templateHash identifies a pod template: the value of the stand-in's pod-template-hash label
// (not the same value the deployment controller computes).
func templateHash(t *corev1.PodTemplateSpec) string {
	data, _ := json.Marshal(t) // a PodTemplateSpec always marshals
	h := fnv.New32a()
	_, _ = h.Write(data)
	return fmt.Sprintf("%x", h.Sum32())
}

// replicasOf is spec.replicas, 1 when unset (the apiserver defaults it).
func replicasOf(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

// maxUnavailable is how many of replicas a rolling update may leave unavailable, as the
// deployment controller computes it (recreate: all; both surge and unavailable zero: one).
func maxUnavailable(d *appsv1.Deployment) int32 {
	replicas := replicasOf(d)
	if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		return 0
	}
	surgeDefault, unavailableDefault := intstr.FromString("25%"), intstr.FromString("25%")
	surgeVal, unavailableVal := &surgeDefault, &unavailableDefault
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
		if ru.MaxSurge != nil {
			surgeVal = ru.MaxSurge
		}
		if ru.MaxUnavailable != nil {
			unavailableVal = ru.MaxUnavailable
		}
	}
	surge, err1 := intstr.GetScaledValueFromIntOrPercent(surgeVal, int(replicas), true)
	unavailable, err2 := intstr.GetScaledValueFromIntOrPercent(unavailableVal, int(replicas), false)
	if err1 != nil || err2 != nil {
		return 0
	}
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return min(int32(unavailable), replicas)
}

// podState is what the stand-in reads from one pod.
type podState struct {
	pod       *corev1.Pod
	current   bool // of the Deployment's current template
	ready     bool
	available bool
}

// judgePod says whether p is ready and available at now (ready for minReadySeconds), and when
// it becomes available if it is ready but not yet available (0: not by itself).
func judgePod(p *corev1.Pod, minReady time.Duration, now time.Time) (ready, available bool, after time.Duration) {
	for _, c := range p.Status.Conditions {
		if c.Type != corev1.PodReady || c.Status != corev1.ConditionTrue {
			continue
		}
		if minReady <= 0 {
			return true, true, 0
		}
		at := c.LastTransitionTime.Add(minReady)
		if now.Before(at) {
			return true, false, at.Sub(now)
		}
		return true, true, 0
	}
	return false, false, 0
}

// plan decides which pods to create and delete: as many pods of the current template as
// replicas (created all at once), pods of older templates kept only while they are needed for
// the minimum availability (rolling update) or deleted before any new one is created
// (recreate). Surplus pods go unready first, then newest first.
func plan(d *appsv1.Deployment, pods []podState) (create int, remove []*corev1.Pod) {
	replicas := replicasOf(d)
	var cur, old []podState
	for _, p := range pods {
		if p.current {
			cur = append(cur, p)
		} else {
			old = append(old, p)
		}
	}
	if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType && len(old) > 0 {
		for _, p := range old {
			remove = append(remove, p.pod)
		}
		return 0, remove
	}
	switch n := int32(len(cur)); {
	case n < replicas:
		create = int(replicas - n)
	case n > replicas:
		remove = append(remove, surplus(cur, int(n-replicas))...)
	}
	curAvailable := int32(0)
	for _, p := range cur {
		if p.available {
			curAvailable++
		}
	}
	keep := max(0, replicas-maxUnavailable(d)-curAvailable)
	var oldAvailable int32
	for _, p := range old {
		if p.available {
			oldAvailable++
		}
	}
	drop := len(old) - int(min(keep, oldAvailable))
	remove = append(remove, surplus(old, drop)...)
	return create, remove
}

// surplus picks n pods to delete: unavailable before available, then the newest first.
func surplus(pods []podState, n int) []*corev1.Pod {
	if n <= 0 {
		return nil
	}
	sorted := slices.Clone(pods)
	slices.SortStableFunc(sorted, func(a, b podState) int {
		if a.available != b.available {
			if !a.available {
				return -1
			}
			return 1
		}
		return b.pod.CreationTimestamp.Compare(a.pod.CreationTimestamp.Time)
	})
	out := make([]*corev1.Pod, 0, n)
	for _, p := range sorted[:min(n, len(sorted))] {
		out = append(out, p.pod)
	}
	return out
}

// noDeadline is the progressDeadlineSeconds that means "no deadline" to the controller.
const noDeadline = math.MaxInt32

// desiredDeploymentStatus is the status the stand-in writes for d with pods at now. progressed
// says that the rollout moved in a way the counts do not show (a new spec). It also returns when the status will
// next change by itself (the progress deadline; 0: not by itself). Conditions whose status and
// reason do not change are kept as they are, times included, as the controller keeps them.
func desiredDeploymentStatus(d *appsv1.Deployment, pods []podState, progressed bool, now time.Time) (appsv1.DeploymentStatus, time.Duration) {
	replicas := replicasOf(d)
	st := appsv1.DeploymentStatus{ObservedGeneration: d.Generation, CollisionCount: d.Status.CollisionCount}
	for _, p := range pods {
		st.Replicas++
		if p.current {
			st.UpdatedReplicas++
		}
		if p.ready {
			st.ReadyReplicas++
		}
		if p.available {
			st.AvailableReplicas++
		}
	}
	st.UnavailableReplicas = max(0, st.Replicas-st.AvailableReplicas)
	old := d.Status
	st.Conditions = slices.Clone(old.Conditions)

	if st.AvailableReplicas >= replicas-maxUnavailable(d) {
		st.Conditions = setCondition(st.Conditions, appsv1.DeploymentAvailable, corev1.ConditionTrue, reasonMinimumAvailable,
			"Deployment has minimum availability.", now)
	} else {
		st.Conditions = setCondition(st.Conditions, appsv1.DeploymentAvailable, corev1.ConditionFalse, reasonMinimumUnavailable,
			"Deployment does not have minimum availability.", now)
	}

	deadline := int32(600)
	if d.Spec.ProgressDeadlineSeconds != nil {
		deadline = *d.Spec.ProgressDeadlineSeconds
	}
	if deadline == noDeadline {
		st.Conditions = slices.DeleteFunc(st.Conditions, func(c appsv1.DeploymentCondition) bool {
			return c.Type == appsv1.DeploymentProgressing
		})
		return st, 0
	}
	revision := "pods of revision " + templateHash(&d.Spec.Template)
	complete := st.UpdatedReplicas == replicas && st.Replicas == replicas && st.AvailableReplicas == replicas
	moved := progressed || st.UpdatedReplicas > old.UpdatedReplicas || st.ReadyReplicas > old.ReadyReplicas ||
		st.AvailableReplicas > old.AvailableReplicas || st.Replicas-st.UpdatedReplicas < old.Replicas-old.UpdatedReplicas
	progressing := condition(st.Conditions, appsv1.DeploymentProgressing)
	switch {
	case complete:
		st.Conditions = setCondition(st.Conditions, appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonNewPodsAvailable,
			fmt.Sprintf("Deployment %q has successfully progressed: %s.", d.Name, revision), now)
	case moved:
		st.Conditions = setCondition(st.Conditions, appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonUpdated,
			fmt.Sprintf("Deployment %q is progressing: %s.", d.Name, revision), now)
		// the controller renews the time of every progress, even with the same reason
		c := condition(st.Conditions, appsv1.DeploymentProgressing)
		c.LastUpdateTime = metav1.NewTime(now)
	case progressing == nil || progressing.Reason == reasonNewPodsAvailable || progressing.Reason == reasonTimedOut:
		// the controller does not time out a Deployment that was complete until it progresses
	default:
		if now.After(progressing.LastUpdateTime.Add(time.Duration(deadline) * time.Second)) {
			st.Conditions = setCondition(st.Conditions, appsv1.DeploymentProgressing, corev1.ConditionFalse, reasonTimedOut,
				fmt.Sprintf("Deployment %q has timed out progressing: %s.", d.Name, revision), now)
		}
	}
	// a rollout under way times out unless it progresses again
	if c := condition(st.Conditions, appsv1.DeploymentProgressing); c != nil && c.Reason == reasonUpdated {
		// condition times are kept in whole seconds: look again just after the deadline
		at := c.LastUpdateTime.Add(time.Duration(deadline)*time.Second + time.Millisecond)
		return st, max(at.Sub(now), time.Millisecond)
	}
	return st, 0
}

// condition returns the condition of type t in cs, or nil.
func condition(cs []appsv1.DeploymentCondition, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range cs {
		if cs[i].Type == t {
			return &cs[i]
		}
	}
	return nil
}

// setCondition sets a condition as the deployment controller does: unchanged (times included)
// when status and reason are the same; the transition time kept when only the reason changes.
func setCondition(cs []appsv1.DeploymentCondition, t appsv1.DeploymentConditionType, status corev1.ConditionStatus,
	reason, message string, now time.Time) []appsv1.DeploymentCondition {
	c := appsv1.DeploymentCondition{Type: t, Status: status, Reason: reason, Message: message,
		LastUpdateTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now)}
	if old := condition(cs, t); old != nil {
		if old.Status == status && old.Reason == reason {
			old.Message = message
			return cs
		}
		if old.Status == status {
			c.LastTransitionTime = old.LastTransitionTime
		}
		*old = c
		return cs
	}
	return append(cs, c)
}
