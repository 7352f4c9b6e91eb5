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
	"k8s.io/utils/ptr"
)

// apexBed is a fake cluster with the target podinfo and an apex Service as written in Git.
func apexBed(t *testing.T, apexLabels map[string]string, apexSelectsPrimary bool) (*fake.Clientset, *Workload, canary.Target) {
	t.Helper()
	labels := map[string]string{"app": "podinfo"}
	client := fake.NewClientset(
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "ns"},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(2)), Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "podinfo:1"}}}}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "ns", Labels: apexLabels, Annotations: map[string]string{"note": "git"}},
			Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Name: "web", Port: 80}}}},
	)
	c, err := New(Options{Client: client})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	tg := canary.Target{Namespace: "ns", Name: "podinfo"}
	w, err := c.Workload(WorkloadOptions{Target: tg, Port: 9898, ApexSelectsPrimary: apexSelectsPrimary})
	require.NoError(t, err)
	return client, w, tg
}

func TestBootstrapAdoptsAnUnlabelledApexService(t *testing.T) {
	client, w, tg := apexBed(t, map[string]string{"team": "a"}, false)
	ctx := context.Background()
	require.NoError(t, w.Bootstrap(ctx, tg))
	apex, err := client.CoreV1().Services("ns").Get(ctx, "podinfo", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"team": "a", canary.LabelManagedBy: canary.ManagedBy}, apex.Labels)
	assert.Equal(t, map[string]string{"note": "git", AnnotationTarget: "podinfo", AnnotationCanary: "podinfo", AnnotationAdopted: "true"}, apex.Annotations)
	assert.Equal(t, map[string]string{"app": "podinfo-primary"}, apex.Spec.Selector, "adoption sets the selector even when the router owns it afterwards")
	require.Len(t, apex.Spec.Ports, 1)
	assert.Equal(t, int32(9898), apex.Spec.Ports[0].Port)
}

func TestBootstrapRefusesAnApexServiceOfAnotherManager(t *testing.T) {
	client, w, tg := apexBed(t, map[string]string{canary.LabelManagedBy: "Helm"}, false)
	ctx := context.Background()
	err := w.Bootstrap(ctx, tg)
	require.ErrorContains(t, err, "service ns/podinfo exists and is not managed by canarykit")
	assert.True(t, canary.IsPermanent(err))
	apex, err := client.CoreV1().Services("ns").Get(ctx, "podinfo", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"app": "podinfo"}, apex.Spec.Selector)
}

// An unlabelled Service named as the apex is adopted only when it selects the target's pods
// (or the primary's, as a copy in Git written for canarykit does): one without a selector, or
// selecting another app's pods, or selecting by a label the target's pods share with other
// workloads' (tier: web), serves something else, and taking it over would send its clients to
// the target. It is refused, naming the Service and its selector, and left as it is.
func TestApexAdoptionNeedsTheTargetsPods(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		selector map[string]string
		kind     corev1.ServiceType
		want     string // "" when adopted
	}{
		{"target's pods", map[string]string{"app": "podinfo"}, "", ""},
		{"primary's pods", map[string]string{"app": "podinfo-primary"}, "", ""},
		{"by two of the target's labels", map[string]string{"app": "podinfo", "tier": "web"}, "", ""},
		{"another app", map[string]string{"app": "postgres"}, "",
			"service ns/podinfo selects app=postgres, not the pods of target podinfo (app=podinfo) or of its primary"},
		{"a label the target lacks", map[string]string{"app": "podinfo", "tier": "db"}, "", "selects app=podinfo,tier=db, not the pods"},
		{"only a label other workloads share", map[string]string{"tier": "web"}, "",
			"service ns/podinfo selects tier=web, not the pods of target podinfo (app=podinfo) or of its primary"},
		{"no selector", nil, "", "service ns/podinfo exists without a selector (its endpoints are not the pods of target podinfo)"},
		{"external name", nil, corev1.ServiceTypeExternalName, "exists without a selector"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			labels := map[string]string{"app": "podinfo"}
			apex := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "ns"},
				Spec: corev1.ServiceSpec{Type: tc.kind, Selector: tc.selector, Ports: []corev1.ServicePort{{Name: "pg", Port: 5432}}}}
			client := fake.NewClientset(
				&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "ns"},
					Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(2)), Selector: &metav1.LabelSelector{MatchLabels: labels},
						Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "podinfo", "tier": "web"}},
							Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "podinfo:1"}}}}}},
				apex)
			tg := canary.Target{Namespace: "ns", Name: "podinfo"}
			w := workloadOn(t, client, tg)
			client.ClearActions()
			err := w.Bootstrap(ctx, tg)
			got, gerr := client.CoreV1().Services("ns").Get(ctx, "podinfo", metav1.GetOptions{})
			require.NoError(t, gerr)
			if tc.want == "" {
				require.NoError(t, err)
				assert.Equal(t, canary.ManagedBy, got.Labels[canary.LabelManagedBy])
				assert.Equal(t, map[string]string{"app": "podinfo-primary"}, got.Spec.Selector)
				return
			}
			require.ErrorContains(t, err, tc.want)
			assert.True(t, canary.IsPermanent(err))
			assert.Equal(t, apex.Spec, got.Spec, "the Service is left as it was")
			assert.Empty(t, got.Labels)
			assert.Empty(t, writes(client), "refused before anything is written")
		})
	}
}
