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
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// flaggerOwner is the controller owner reference Flagger v1.44 gives every object it
// generates for a Canary (metav1.NewControllerRef of the Canary).
func flaggerOwner(name, uid string) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "flagger.app/v1beta1", Kind: "Canary", Name: name, UID: types.UID(uid),
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}
}

// flaggerObjects are podinfo (image as given, reading podinfo-config) and what Flagger v1.44
// generated for Canary podinfo when the target ran podinfo:1, each controlled by owner: the
// primary (its selector and pod label app=podinfo-primary, its template with Flagger's
// flagger-id annotation and the config copy's name), the config copy, and the apex, primary
// and canary Services (labelled app=<their name>, selecting the primary's or the target's
// pods). None carries canarykit's label or annotations.
func flaggerObjects(image string, owner metav1.OwnerReference) []runtime.Object {
	objs := podinfoWithConfig(0)
	d := objs[0].(*appsv1.Deployment)
	d.Spec.Template.Spec.Containers[0].Image = image
	owned := func(name string, labels map[string]string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: "test", Labels: labels, OwnerReferences: []metav1.OwnerReference{owner}}
	}
	primaryLabels := map[string]string{"app": "podinfo-primary"}
	tmpl := d.Spec.Template.DeepCopy()
	tmpl.Spec.Containers[0].Image = "podinfo:1"
	tmpl.Labels = primaryLabels
	tmpl.Annotations = map[string]string{"flagger-id": "0f4c2a52-3d1e-4b3f-9c1e-5b7e2d8a9f10"}
	tmpl.Spec.Containers[0].EnvFrom[0].ConfigMapRef.Name = "podinfo-config-primary"
	primary := &appsv1.Deployment{ObjectMeta: owned("podinfo-primary", primaryLabels), Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: primaryLabels}, Template: *tmpl}}
	cm := &corev1.ConfigMap{ObjectMeta: owned("podinfo-config-primary", nil), Data: map[string]string{"k": "v"}}
	svc := func(name, selects string) *corev1.Service {
		return &corev1.Service{ObjectMeta: owned(name, map[string]string{"app": name}), Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, Selector: map[string]string{"app": selects},
			Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 9898, TargetPort: intstr.FromInt32(9898)}}}}
	}
	return append(objs, primary, cm, svc("podinfo", "podinfo-primary"), svc("podinfo-primary", "podinfo-primary"), svc("podinfo-canary", "podinfo"))
}

// What Flagger generated for the Workload's Canary (its controller, by name and UID) is
// adopted: Bootstrap claims each object (managed-by label, target and Canary annotations),
// keeping Flagger's owner reference, and — the primary running the target's template and
// configuration — records the target's revision on the primary, so nothing is to release.
func TestBootstrapAdoptsWhatFlaggerGenerated(t *testing.T) {
	ctx := context.Background()
	owner := flaggerOwner("podinfo", "uid-1")
	client := fake.NewClientset(flaggerObjects("podinfo:1", owner)...)
	target := canary.Target{Namespace: "test", Name: "podinfo", CanaryUID: "uid-1"}
	w := workloadOn(t, client, target)
	client.ClearActions()

	require.NoError(t, w.Bootstrap(ctx, target))
	assert.ElementsMatch(t, []string{"update configmaps/podinfo-config-primary", "patch deployments/podinfo-primary",
		"update services/podinfo", "update services/podinfo-primary", "update services/podinfo-canary"}, writes(client))
	var objs []metav1.Object
	p, err := client.AppsV1().Deployments("test").Get(ctx, "podinfo-primary", metav1.GetOptions{})
	require.NoError(t, err)
	objs = append(objs, p)
	cm, err := client.CoreV1().ConfigMaps("test").Get(ctx, "podinfo-config-primary", metav1.GetOptions{})
	require.NoError(t, err)
	objs = append(objs, cm)
	for _, name := range []string{"podinfo", "podinfo-primary", "podinfo-canary"} {
		s, err := client.CoreV1().Services("test").Get(ctx, name, metav1.GetOptions{})
		require.NoError(t, err)
		objs = append(objs, s)
	}
	for _, o := range objs {
		assert.Equal(t, canary.ManagedBy, o.GetLabels()[canary.LabelManagedBy], o.GetName())
		assert.Equal(t, "podinfo", o.GetAnnotations()[AnnotationTarget], o.GetName())
		assert.Equal(t, "podinfo", o.GetAnnotations()[AnnotationCanary], o.GetName())
		assert.Equal(t, []metav1.OwnerReference{owner}, o.GetOwnerReferences(), "Flagger's owner reference is kept: %s", o.GetName())
	}
	assert.Equal(t, "podinfo:1", p.Spec.Template.Spec.Containers[0].Image, "the primary's spec is not touched")

	st, err := w.Observe(ctx, target)
	require.NoError(t, err)
	assert.Equal(t, st.Revision, p.Annotations[AnnotationRevision], "the target's revision is recorded on the primary")
	assert.Equal(t, st.Revision, st.PrimaryRevision)

	client.ClearActions()
	require.NoError(t, workloadOn(t, client, target).Bootstrap(ctx, target))
	assert.Empty(t, writes(client), "claimed once")
}

// A target changed since Flagger's last promotion (a new image) is adopted the same way, but
// its primary runs another revision: none is recorded, and Observe reports none, so the
// change is released.
func TestAdoptedFlaggerPrimaryOfAChangedTarget(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset(flaggerObjects("podinfo:2", flaggerOwner("podinfo", "uid-1"))...)
	target := canary.Target{Namespace: "test", Name: "podinfo", CanaryUID: "uid-1"}
	w := workloadOn(t, client, target)
	st, err := w.Observe(ctx, target)
	require.NoError(t, err)
	assert.Empty(t, st.PrimaryRevision, "before the claim")

	require.NoError(t, w.Bootstrap(ctx, target))
	p, err := client.AppsV1().Deployments("test").Get(ctx, "podinfo-primary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "podinfo", p.Annotations[AnnotationCanary])
	assert.NotContains(t, p.Annotations, AnnotationRevision)
	st, err = workloadOn(t, client, target).Observe(ctx, target)
	require.NoError(t, err)
	assert.Empty(t, st.PrimaryRevision)
	assert.NotEmpty(t, st.Revision)

	// the config copy changed on its own: the primary no longer runs the target's revision
	client = fake.NewClientset(flaggerObjects("podinfo:1", flaggerOwner("podinfo", "uid-1"))...)
	cm, err := client.CoreV1().ConfigMaps("test").Get(ctx, "podinfo-config", metav1.GetOptions{})
	require.NoError(t, err)
	cm.Data = map[string]string{"k": "v2"}
	_, err = client.CoreV1().ConfigMaps("test").Update(ctx, cm, metav1.UpdateOptions{})
	require.NoError(t, err)
	st, err = workloadOn(t, client, target).Observe(ctx, target)
	require.NoError(t, err)
	assert.Empty(t, st.PrimaryRevision, "the config the target reads differs from the primary's copy")
}

// What Flagger generated for any other Canary is refused before anything is written, with a
// permanent error naming the object and its owner: a Canary of another name, the same name
// with another UID (an earlier Canary), a Canary of another API group, or a reference that is
// not the controller.
func TestFlaggerObjectsOfAnotherCanaryAreRefused(t *testing.T) {
	ctx := context.Background()
	notController := flaggerOwner("podinfo", "uid-1")
	notController.Controller = nil
	otherGroup := flaggerOwner("podinfo", "uid-1")
	otherGroup.APIVersion = "example.com/v1"
	for what, owner := range map[string]metav1.OwnerReference{
		"another name":   flaggerOwner("podinfo-b", "uid-1"),
		"another UID":    flaggerOwner("podinfo", "uid-2"),
		"another group":  otherGroup,
		"not controller": notController,
	} {
		t.Run(what, func(t *testing.T) {
			client := fake.NewClientset(flaggerObjects("podinfo:1", owner)...)
			target := canary.Target{Namespace: "test", Name: "podinfo", CanaryUID: "uid-1"}
			w := workloadOn(t, client, target)
			client.ClearActions()
			err := w.Bootstrap(ctx, target)
			require.Error(t, err)
			assert.True(t, canary.IsPermanent(err))
			assert.ErrorContains(t, err, "exists and is not managed by canarykit for podinfo (owner Canary/"+owner.Name)
			assert.Empty(t, writes(client))
			st, err := w.Observe(ctx, target)
			require.NoError(t, err)
			assert.Empty(t, st.PrimaryRevision, "another Canary's primary is not taken as running the target")
		})
	}

	// the apex Service alone, Flagger's for another Canary, is not adopted as a user's Service
	objs := flaggerObjects("podinfo:1", flaggerOwner("podinfo", "uid-1"))
	for _, o := range objs {
		if s, ok := o.(*corev1.Service); ok && s.Name == "podinfo" {
			s.OwnerReferences = []metav1.OwnerReference{flaggerOwner("podinfo-b", "uid-3")}
		}
	}
	client := fake.NewClientset(objs...)
	target := canary.Target{Namespace: "test", Name: "podinfo", CanaryUID: "uid-1"}
	w := workloadOn(t, client, target)
	client.ClearActions()
	err := w.Bootstrap(ctx, target)
	assert.ErrorContains(t, err, "service test/podinfo exists and is not managed by canarykit for podinfo (owner Canary/podinfo-b")
	assert.Empty(t, writes(client))
}

// Without the Canary's UID (a Canary read from a file), Flagger's objects of the Canary's
// name are adopted.
func TestFlaggerObjectsAdoptedByNameWithoutUID(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset(flaggerObjects("podinfo:1", flaggerOwner("podinfo", "uid-7"))...)
	target := canary.Target{Namespace: "test", Name: "podinfo"}
	require.NoError(t, workloadOn(t, client, target).Bootstrap(ctx, target))
	p, err := client.AppsV1().Deployments("test").Get(ctx, "podinfo-primary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "podinfo", p.Annotations[AnnotationCanary])
}

// Flagger's rewrites of the primary's pod template are not differences: its flagger-id, Flux's
// keys left out, the primary suffix in anti-affinity and topology spread selectors.
func TestRunsTargetModuloFlaggersRewrites(t *testing.T) {
	ctx := context.Background()
	objs := flaggerObjects("podinfo:1", flaggerOwner("podinfo", "uid-1"))
	d := objs[0].(*appsv1.Deployment)
	sel := func(v string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{"app": v}}
	}
	d.Spec.Template.Annotations = map[string]string{"kustomize.toolkit.fluxcd.io/checksum": "abc", "team": "a"}
	d.Spec.Template.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "zone",
		WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: sel("podinfo")}}
	d.Spec.Template.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{TopologyKey: "host", LabelSelector: sel("podinfo")}}}}
	for _, o := range objs {
		if p, ok := o.(*appsv1.Deployment); ok && p.Name == "podinfo-primary" {
			p.Spec.Template.Annotations["team"] = "a"
			p.Spec.Template.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "zone",
				WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: sel("podinfo-primary")}}
			p.Spec.Template.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{TopologyKey: "host", LabelSelector: sel("podinfo-primary")}}}}
		}
	}
	client := fake.NewClientset(objs...)
	target := canary.Target{Namespace: "test", Name: "podinfo", CanaryUID: "uid-1"}
	st, err := workloadOn(t, client, target).Observe(ctx, target)
	require.NoError(t, err)
	assert.Equal(t, st.Revision, st.PrimaryRevision)
}
