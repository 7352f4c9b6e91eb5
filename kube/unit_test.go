package kube

import (
	"context"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// podSpec references configs every way a pod can.
func podSpec() corev1.PodSpec {
	return corev1.PodSpec{
		Volumes: []corev1.Volume{
			{Name: "a", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm-vol"}}}},
			{Name: "b", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec-vol", Optional: ptr.To(true)}}},
			{Name: "c", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "cm-proj"}}},
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "sec-proj"}}},
			}}}},
		},
		InitContainers: []corev1.Container{{Name: "init", EnvFrom: []corev1.EnvFromSource{
			{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm-init"}}}}}},
		Containers: []corev1.Container{{Name: "app",
			Env: []corev1.EnvVar{
				{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cm-vol"}, Key: "x"}}},
				{Name: "Y", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "sec-env"}, Key: "y"}}},
			},
			EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "sec-from"}}}},
		}},
	}
}

func TestConfigRefsFindsEveryReference(t *testing.T) {
	spec := podSpec()
	var got []string
	for _, r := range configRefs(&spec) {
		got = append(got, r.String()+map[bool]string{true: "", false: "?"}[r.required])
	}
	assert.Equal(t, []string{"ConfigMap/cm-init", "ConfigMap/cm-proj", "ConfigMap/cm-vol", "Secret/sec-env", "Secret/sec-from", "Secret/sec-proj", "Secret/sec-vol?"}, got)
}

// cacheWith returns an nsCache filled with objs (no informers running).
func cacheWith(t *testing.T, objs ...any) *nsCache {
	t.Helper()
	f := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
	nc := &nsCache{configMaps: f.Core().V1().ConfigMaps().Lister(), secrets: f.Core().V1().Secrets().Lister(),
		deployments: f.Apps().V1().Deployments().Lister()}
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *corev1.ConfigMap:
			err = f.Core().V1().ConfigMaps().Informer().GetIndexer().Add(o)
		case *corev1.Secret:
			err = f.Core().V1().Secrets().Informer().GetIndexer().Add(o)
		}
		require.NoError(t, err)
	}
	return nc
}

func cm(name, data string, annotations map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Annotations: annotations}, Data: map[string]string{"k": data}}
}

func TestRevisionFollowsTemplateAndTrackedConfigs(t *testing.T) {
	tmpl := corev1.PodTemplateSpec{Spec: podSpec()}
	tmpl.Spec.Containers[0].Image = "podinfo:3.1.0"
	rev := func(nc *nsCache, tmpl corev1.PodTemplateSpec) string {
		tr, err := nc.trackedConfigs("ns", &tmpl.Spec)
		require.NoError(t, err)
		return revision(&tmpl, tr)
	}
	tokenSecret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sec-env", Namespace: "ns"}, Type: corev1.SecretTypeServiceAccountToken}
	base := cacheWith(t, cm("cm-vol", "1", nil), cm("cm-proj", "1", nil), tokenSecret)
	r0 := rev(base, tmpl)
	assert.Equal(t, r0, rev(base, tmpl), "stable")

	changed := tmpl.DeepCopy()
	changed.Spec.Containers[0].Image = "podinfo:3.1.1"
	assert.NotEqual(t, r0, rev(base, *changed), "new image")

	assert.NotEqual(t, r0, rev(cacheWith(t, cm("cm-vol", "2", nil), cm("cm-proj", "1", nil), tokenSecret), tmpl), "tracked config data")
	assert.NotEqual(t, r0, rev(cacheWith(t, cm("cm-vol", "1", nil), cm("cm-proj", "1", nil), cm("cm-init", "1", nil), tokenSecret), tmpl),
		"a referenced config that appears")
	assert.Equal(t, r0, rev(cacheWith(t, cm("cm-vol", "1", nil), cm("cm-proj", "1", nil), cm("unrelated", "9", nil), tokenSecret), tmpl),
		"an unreferenced config")
	disabled := map[string]string{"flagger.app/config-tracking": "disabled"}
	a := rev(cacheWith(t, cm("cm-vol", "1", nil), cm("cm-proj", "1", disabled), tokenSecret), tmpl)
	b := rev(cacheWith(t, cm("cm-vol", "1", nil), cm("cm-proj", "2", disabled), tokenSecret), tmpl)
	assert.Equal(t, a, b, "untracked configs do not make revisions")
	tokenSecret2 := tokenSecret.DeepCopy()
	tokenSecret2.Data = map[string][]byte{"token": []byte("rotated")}
	assert.Equal(t, r0, rev(cacheWith(t, cm("cm-vol", "1", nil), cm("cm-proj", "1", nil), tokenSecret2), tmpl),
		"service-account tokens are not tracked")
}

func TestRewriteConfigRefsPointsAtPrimaryCopies(t *testing.T) {
	spec := podSpec()
	nc := cacheWith(t, cm("cm-vol", "1", nil), cm("cm-init", "1", nil),
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sec-from", Namespace: "ns"}, Type: corev1.SecretTypeOpaque})
	tracked, err := nc.trackedConfigs("ns", &spec)
	require.NoError(t, err)
	rewriteConfigRefs(&spec, tracked)
	assert.Equal(t, "cm-vol-primary", spec.Volumes[0].ConfigMap.Name)
	assert.Equal(t, "cm-vol-primary", spec.Containers[0].Env[0].ValueFrom.ConfigMapKeyRef.Name)
	assert.Equal(t, "cm-init-primary", spec.InitContainers[0].EnvFrom[0].ConfigMapRef.Name)
	assert.Equal(t, "sec-from-primary", spec.Containers[0].EnvFrom[0].SecretRef.Name)
	assert.Equal(t, "cm-proj", spec.Volumes[2].Projected.Sources[0].ConfigMap.Name, "missing configs keep their name")
	assert.Equal(t, "sec-env", spec.Containers[0].Env[1].ValueFrom.SecretKeyRef.Name)
}

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
	k, v, err := selectorLabel(d)
	require.NoError(t, err)
	assert.Equal(t, "app", k)
	assert.Equal(t, "podinfo", v)
	d.Spec.Selector.MatchLabels = map[string]string{"tier": "web"}
	_, _, err = selectorLabel(d)
	require.ErrorContains(t, err, "none of the labels app, name, app.kubernetes.io/name")

	w := &Workload{}
	mine := &corev1.Service{ObjectMeta: w.managedMeta(d, "podinfo", nil)}
	require.NoError(t, checkOwned(mine, "service", d))
	assert.Empty(t, mine.OwnerReferences, "no cascading deletion unless asked")
	w.opts.OwnerReferences = true
	owned := &corev1.Service{ObjectMeta: w.managedMeta(d, "podinfo", nil)}
	require.Len(t, owned.OwnerReferences, 1)
	assert.Equal(t, "podinfo", owned.OwnerReferences[0].Name)
	other := *d
	other.Name = "checkout"
	require.ErrorContains(t, checkOwned(mine, "service", &other), "made for podinfo", "another target's object is not adopted")
	theirs := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "ns"}}
	require.ErrorContains(t, checkOwned(theirs, "service", d), "service ns/podinfo exists and is not managed by canarykit")
}

// Control requests reach a driver through the Lease, with any client (the fake one included).
func TestControlsWithAFakeClient(t *testing.T) {
	client := fake.NewClientset()
	tg := canary.Target{Namespace: "ns", Name: "app"}
	l, err := NewLease(LeaseOptions{Client: client, Target: tg, Identity: "me"})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	require.NoError(t, l.Acquire(ctx))
	got := make(chan Control, 1)
	go l.Controls(ctx, func(c Control) { got <- c })
	require.NoError(t, RequestControl(ctx, client, tg, ControlAbort))
	select {
	case c := <-got:
		assert.Equal(t, ControlAbort, c)
	case <-time.After(10 * time.Second):
		t.Fatal("the request never reached the driver")
	}
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
