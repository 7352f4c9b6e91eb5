package kube

import (
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestReadiness(t *testing.T) {
	dep := func(replicas int32, gen, observed int64, updated, total, available int32, conds ...appsv1.DeploymentCondition) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Generation: gen}, Spec: appsv1.DeploymentSpec{Replicas: &replicas},
			Status: appsv1.DeploymentStatus{ObservedGeneration: observed, UpdatedReplicas: updated, Replicas: total, AvailableReplicas: available, Conditions: conds}}
	}
	deadline := appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Reason: "ProgressDeadlineExceeded"}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	unavailableSince := func(ts time.Time) appsv1.DeploymentCondition {
		return appsv1.DeploymentCondition{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionFalse,
			Reason: "MinimumReplicasUnavailable", LastUpdateTime: metav1.NewTime(ts)}
	}
	for _, c := range []struct {
		name      string
		d         *appsv1.Deployment
		minGen    int64
		ready     bool
		failed    bool
		msg       string
		threshold int
	}{
		{"ready", dep(2, 3, 3, 2, 2, 2), 0, true, false, "", 0},
		{"scaled to zero", dep(0, 3, 3, 0, 0, 0), 0, false, false, `deployment "podinfo" is scaled to zero`, 0},
		{"controller has not seen the spec", dep(2, 4, 3, 2, 2, 2), 0, false, false, "observed deployment generation less than desired generation", 0},
		{"cache older than our write", dep(2, 3, 3, 2, 2, 2), 4, false, false, "observed deployment generation less than desired generation", 0},
		{"rolling", dep(3, 3, 3, 1, 3, 1), 0, false, false, "1 out of 3 new replicas have been updated", 0},
		{"old pods terminating", dep(2, 3, 3, 2, 3, 2), 0, false, false, "1 old replicas are pending termination", 0},
		{"not available", dep(2, 3, 3, 2, 2, 1), 0, false, false, "1 of 2 updated replicas are available", 0},
		{"stuck", dep(2, 3, 3, 1, 2, 1, deadline), 0, false, true, `deployment "podinfo" exceeded its progress deadline`, 0},
		{"unavailable within the deadline", dep(2, 3, 3, 2, 2, 0, unavailableSince(now.Add(-599*time.Second))), 0, false, false, "0 of 2 updated replicas are available", 0},
		{"unavailable past the deadline (a scale-up the controller does not time out)", dep(2, 3, 3, 2, 2, 0, unavailableSince(now.Add(-601*time.Second))), 0, false, true,
			`deployment "podinfo" has been unavailable for longer than its progress deadline (10m0s): waiting for rollout to finish: 0 of 2 updated replicas are available`, 0},
		{"ready threshold met", dep(10, 3, 3, 10, 10, 8), 0, true, false, "", 80},
		{"ready threshold not met", dep(10, 3, 3, 10, 10, 7), 0, false, false, "7 of 8 (readyThreshold 80%) updated replicas are available", 80},
		{"ready threshold rounds down", dep(3, 3, 3, 3, 3, 1), 0, true, false, "", 50},
	} {
		t.Run(c.name, func(t *testing.T) {
			threshold := c.threshold
			if threshold == 0 {
				threshold = 100
			}
			r := readiness(c.d, c.minGen, now, threshold)
			assert.Equal(t, c.ready, r.Ready)
			assert.Equal(t, c.failed, r.Failed)
			assert.Contains(t, r.Message, c.msg)
		})
	}
}

func TestSelectorLabelAndOwnership(t *testing.T) {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "ns", UID: "u1"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "web", "app": "podinfo"}}}}
	k, v, err := selectorLabel(deploymentApp(d))
	require.NoError(t, err)
	assert.Equal(t, "app", k)
	assert.Equal(t, "podinfo", v)
	d.Spec.Selector.MatchLabels = map[string]string{"tier": "web"}
	_, _, err = selectorLabel(deploymentApp(d))
	require.ErrorContains(t, err, "none of the labels app, name, app.kubernetes.io/name")

	w := &Workload{opts: WorkloadOptions{Target: canary.Target{Namespace: "ns", Name: "podinfo"}}}
	mine := &corev1.Service{ObjectMeta: w.managedMeta(deploymentApp(d), "podinfo", nil)}
	require.NoError(t, w.checkOwned(mine, "service", deploymentApp(d)))
	assert.Equal(t, map[string]string{AnnotationTarget: "podinfo", AnnotationCanary: "podinfo"}, mine.Annotations)
	assert.Empty(t, mine.OwnerReferences, "no cascading deletion unless asked")
	w.opts.OwnerReferences = true
	owned := &corev1.Service{ObjectMeta: w.managedMeta(deploymentApp(d), "podinfo", nil)}
	require.Len(t, owned.OwnerReferences, 1)
	assert.Equal(t, "podinfo", owned.OwnerReferences[0].Name)
	other := *d
	other.Name = "checkout"
	require.ErrorContains(t, w.checkOwned(mine, "service", deploymentApp(&other)), "made for podinfo", "another target's object is not adopted")
	theirs := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "ns"}}
	require.ErrorContains(t, w.checkOwned(theirs, "service", deploymentApp(d)), "service ns/podinfo exists and is not managed by canarykit")

	// another Canary of the same target: its objects are not this one's
	second := &Workload{opts: WorkloadOptions{Target: canary.Target{Namespace: "ns", Name: "podinfo", Canary: "podinfo-b"}}}
	err = second.checkOwned(mine, "service", deploymentApp(d))
	require.ErrorContains(t, err, "service ns/podinfo was made by canarykit for Canary podinfo of target podinfo, not for Canary podinfo-b")
	assert.True(t, canary.IsPermanent(err))
	// an earlier canarykit's object, without the Canary record, is the target's
	legacy := mine.DeepCopy()
	delete(legacy.Annotations, AnnotationCanary)
	require.NoError(t, second.checkOwned(legacy, "service", deploymentApp(d)))
	assert.True(t, unclaimed(legacy))
}

// The workload options' rules hold for options given in code, before anything is touched.
func TestWorkloadOptionsAreValidated(t *testing.T) {
	cluster, err := New(Options{Client: fake.NewClientset()})
	require.NoError(t, err)
	defer cluster.Close()
	_, err = cluster.Workload(WorkloadOptions{Target: canary.Target{Namespace: "test", Name: "podinfo"}, Port: 9898,
		PrimaryMinReplicas: 2, CanaryReadyThreshold: 120})
	require.Error(t, err)
	assert.ErrorContains(t, err, "autoscalerRef.primaryScalerReplicas: needs an autoscalerRef")
	assert.ErrorContains(t, err, "analysis.canaryReadyThreshold: must be 1..100, got 120")
}
