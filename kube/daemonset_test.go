package kube

import (
	"context"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// agentDaemonSet is a DaemonSet target: app=agent, on the nodes labelled role=edge.
func agentDaemonSet(image string) *appsv1.DaemonSet {
	labels := map[string]string{"app": "agent"}
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "agent", UID: "ds-uid", Generation: 1},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
				NodeSelector: map[string]string{"role": "edge"},
				Containers:   []corev1.Container{{Name: "agent", Image: image}}}},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType},
		},
	}
}

func daemonSetWorkload(t *testing.T, client *fake.Clientset, target canary.Target) *Workload {
	t.Helper()
	c, err := New(Options{Client: client})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	w, err := c.Workload(WorkloadOptions{Target: target, Port: 9898, Kind: KindDaemonSet})
	require.NoError(t, err)
	return w
}

// A DaemonSet target gets a primary DaemonSet (selector and labels renamed as for a
// Deployment), is scaled to zero and back by Flagger's node selector, which its revision
// ignores, is promoted by copying its template, and is handed back without the selector.
func TestDaemonSetTarget(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset(agentDaemonSet("agent:1"))
	target := canary.Target{Namespace: "test", Name: "agent"}
	get := func(name string) *appsv1.DaemonSet {
		t.Helper()
		d, err := client.AppsV1().DaemonSets("test").Get(ctx, name, metav1.GetOptions{})
		require.NoError(t, err)
		return d
	}

	w := daemonSetWorkload(t, client, target)
	client.ClearActions()
	require.NoError(t, w.Bootstrap(ctx, target))
	assert.ElementsMatch(t, []string{"create daemonsets/agent-primary", "create services/agent",
		"create services/agent-primary", "create services/agent-canary"}, writes(client))
	p := get("agent-primary")
	assert.Equal(t, map[string]string{"app": "agent-primary"}, p.Spec.Selector.MatchLabels)
	assert.Equal(t, "agent-primary", p.Spec.Template.Labels["app"])
	assert.Equal(t, map[string]string{"role": "edge"}, p.Spec.Template.Spec.NodeSelector)
	assert.Equal(t, appsv1.RollingUpdateDaemonSetStrategyType, p.Spec.UpdateStrategy.Type)
	st, err := w.Observe(ctx, target)
	require.NoError(t, err)
	rev := st.Revision
	assert.Equal(t, rev, p.Annotations[AnnotationRevision])

	require.NoError(t, w.ScaleDown(ctx, target))
	assert.Equal(t, map[string]string{"role": "edge", ScaleToZeroNodeSelector: "true"}, get("agent").Spec.Template.Spec.NodeSelector)
	w = daemonSetWorkload(t, client, target) // caches with the scaled-down target
	st, err = w.Observe(ctx, target)
	require.NoError(t, err)
	assert.Equal(t, rev, st.Revision, "scaling to zero is no new revision")
	assert.Equal(t, rev, st.PrimaryRevision)
	assert.Contains(t, st.Canary.Message, `daemonset "agent" is scaled to zero`)
	client.ClearActions()
	require.NoError(t, w.ScaleDown(ctx, target))
	assert.Empty(t, writes(client), "already scaled to zero")

	require.NoError(t, w.ScaleUp(ctx, target))
	assert.Equal(t, map[string]string{"role": "edge"}, get("agent").Spec.Template.Spec.NodeSelector)

	d := get("agent")
	d.Spec.Template.Spec.Containers[0].Image = "agent:2"
	d.Generation++
	_, err = client.AppsV1().DaemonSets("test").Update(ctx, d, metav1.UpdateOptions{})
	require.NoError(t, err)
	w = daemonSetWorkload(t, client, target)
	st, err = w.Observe(ctx, target)
	require.NoError(t, err)
	assert.NotEqual(t, rev, st.Revision)
	require.NoError(t, w.Promote(ctx, target, st.Revision))
	p = get("agent-primary")
	assert.Equal(t, "agent:2", p.Spec.Template.Spec.Containers[0].Image)
	assert.Equal(t, st.Revision, p.Annotations[AnnotationRevision])

	require.NoError(t, w.ScaleDown(ctx, target))
	w = daemonSetWorkload(t, client, target)
	n, err := w.RestoreTarget(ctx, target)
	require.NoError(t, err)
	assert.Equal(t, int32(1), n)
	assert.Equal(t, map[string]string{"role": "edge"}, get("agent").Spec.Template.Spec.NodeSelector, "handed back without a scale-down key")
	require.NoError(t, w.RemoveGenerated(ctx, target))
	_, err = client.AppsV1().DaemonSets("test").Get(ctx, "agent-primary", metav1.GetOptions{})
	assert.Error(t, err, "the primary DaemonSet is removed")
}

// A DaemonSet Flagger scaled down (its node selector) is seen as scaled down at the revision
// it had running, and scaled up by removing Flagger's key.
func TestDaemonSetScaledDownByFlagger(t *testing.T) {
	ctx := context.Background()
	running := agentDaemonSet("agent:1")
	scaled := agentDaemonSet("agent:1")
	scaled.Spec.Template.Spec.NodeSelector[ScaleToZeroNodeSelector] = "true"
	target := canary.Target{Namespace: "test", Name: "agent"}
	a := daemonSetWorkload(t, fake.NewClientset(running), target)
	client := fake.NewClientset(scaled)
	b := daemonSetWorkload(t, client, target)
	sa, err := a.Observe(ctx, target)
	require.NoError(t, err)
	sb, err := b.Observe(ctx, target)
	require.NoError(t, err)
	assert.Equal(t, sa.Revision, sb.Revision)
	assert.False(t, sb.Canary.Ready)
	require.NoError(t, b.ScaleUp(ctx, target))
	d, err := client.AppsV1().DaemonSets("test").Get(ctx, "agent", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"role": "edge"}, d.Spec.Template.Spec.NodeSelector)
}

// What the primary cannot run beside is refused before anything is written: an OnDelete
// update strategy, host ports; and a DaemonSet has no autoscaler.
func TestDaemonSetTargetsRefused(t *testing.T) {
	ctx := context.Background()
	target := canary.Target{Namespace: "test", Name: "agent"}
	onDelete := agentDaemonSet("agent:1")
	onDelete.Spec.UpdateStrategy.Type = appsv1.OnDeleteDaemonSetStrategyType
	hostPort := agentDaemonSet("agent:1")
	hostPort.Spec.Template.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 9100, HostPort: 9100}}
	hostNet := agentDaemonSet("agent:1")
	hostNet.Spec.Template.Spec.HostNetwork = true
	hostNet.Spec.Template.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 9100}}
	for name, c := range map[string]struct {
		ds   *appsv1.DaemonSet
		want string
	}{
		"OnDelete":    {onDelete, "spec.updateStrategy.type: OnDelete never replaces the canary's pods"},
		"hostPort":    {hostPort, "spec.template.spec.containers[0].ports[0].hostPort"},
		"hostNetwork": {hostNet, "spec.template.spec.containers[0].ports[0]: with hostNetwork"},
	} {
		t.Run(name, func(t *testing.T) {
			client := fake.NewClientset(c.ds)
			w := daemonSetWorkload(t, client, target)
			client.ClearActions()
			err := w.Bootstrap(ctx, target)
			require.Error(t, err)
			assert.True(t, canary.IsPermanent(err), "%v", err)
			assert.Contains(t, err.Error(), c.want)
			assert.Empty(t, writes(client))
		})
	}
	c, err := New(Options{Client: fake.NewClientset()})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Workload(WorkloadOptions{Target: target, Port: 9898, Kind: KindDaemonSet, Autoscaler: "agent"})
	assert.ErrorContains(t, err, "autoscalerRef: a DaemonSet runs one pod per node and has no autoscaler")
	_, err = c.Workload(WorkloadOptions{Target: target, Port: 9898, Kind: "StatefulSet"})
	assert.ErrorContains(t, err, `targetRef.kind: must be Deployment or DaemonSet, got "StatefulSet"`)
}

func TestDaemonSetReadiness(t *testing.T) {
	ds := func(gen, observed int64, desired, updated, available int32) *appsv1.DaemonSet {
		d := agentDaemonSet("agent:1")
		d.Generation = gen
		d.Status = appsv1.DaemonSetStatus{ObservedGeneration: observed, DesiredNumberScheduled: desired,
			UpdatedNumberScheduled: updated, NumberAvailable: available, NumberUnavailable: desired - available}
		return d
	}
	scaled := ds(2, 2, 0, 0, 0)
	scaled.Spec.Template.Spec.NodeSelector[ScaleToZeroNodeSelector] = "true"
	for _, c := range []struct {
		name      string
		d         *appsv1.DaemonSet
		minGen    int64
		threshold int
		ready     bool
		msg       string
	}{
		{"ready", ds(2, 2, 3, 3, 3), 0, 100, true, ""},
		{"scaled to zero", scaled, 0, 100, false, `daemonset "agent" is scaled to zero`},
		{"controller has not seen the spec", ds(3, 2, 3, 3, 3), 0, 100, false, "observed daemonset generation less than desired generation"},
		{"cache older than our write", ds(2, 2, 3, 3, 3), 3, 100, false, "observed daemonset generation less than desired generation"},
		{"rolling", ds(2, 2, 3, 1, 3), 0, 100, false, "1 out of 3 new pods have been updated"},
		{"not available", ds(2, 2, 3, 3, 2), 0, 100, false, "2 of 3 (readyThreshold 100%) updated pods are available"},
		{"threshold met", ds(2, 2, 10, 10, 8), 0, 80, true, ""},
		{"threshold not met", ds(2, 2, 10, 10, 7), 0, 80, false, "7 of 8 (readyThreshold 80%)"},
		{"no node to run on", ds(2, 2, 0, 0, 0), 0, 100, true, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := daemonSetReadiness(c.d, c.minGen, c.threshold)
			assert.Equal(t, c.ready, r.Ready)
			assert.False(t, r.Failed)
			assert.Contains(t, r.Message, c.msg)
		})
	}
}

// Events of a DaemonSet target are recorded on the DaemonSet (the namespace's DaemonSets are
// cached once a target is one), a Deployment's on the Deployment.
func TestEventsOfADaemonSetTargetAreOnTheDaemonSet(t *testing.T) {
	client := fake.NewClientset(agentDaemonSet("agent:1"), &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "web", UID: "dep-uid"}})
	c, err := New(Options{Client: client})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.namespace(t.Context(), "test", daemonSets)
	require.NoError(t, err)
	e, err := c.Events(EventsOptions{})
	require.NoError(t, err)
	defer e.Shutdown()
	ref := e.involved(canary.Target{Namespace: "test", Name: "agent"})
	assert.Equal(t, corev1.ObjectReference{APIVersion: "apps/v1", Kind: KindDaemonSet, Namespace: "test", Name: "agent", UID: "ds-uid"}, ref)
	ref = e.involved(canary.Target{Namespace: "test", Name: "web"})
	assert.Equal(t, corev1.ObjectReference{APIVersion: "apps/v1", Kind: KindDeployment, Namespace: "test", Name: "web", UID: "dep-uid"}, ref)
}
