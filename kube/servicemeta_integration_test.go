package kube_test

import (
	"context"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// bootstrap runs one Bootstrap of the bed's target with opts (Target and Port set here) on a
// Cluster of its own, whose caches start from the API server's objects as they are now.
func (b *bed) bootstrap(t *testing.T, opts kube.WorkloadOptions) error {
	t.Helper()
	opts.Target, opts.Port = b.target, 9898
	w, err := b.cluster(t).Workload(opts)
	require.NoError(t, err)
	return w.Bootstrap(context.Background(), b.target)
}

// Flagger's spec.service apex, primary, canary, unmanagedMetadata, headless and
// trafficDistribution on a real API server (its validation of the Services included): Bootstrap
// creates the three Services headless, with the traffic distribution and each one's labels and
// annotations; at the next Bootstrap, a key dropped from the Canary is removed, a value someone
// changed is put back, and an annotation listed as unmanaged that someone else set keeps its
// value; a Canary that drops headless is refused, naming the field, and nothing is written.
func TestServiceMetadataHeadlessAndTrafficDistributionOnARealCluster(t *testing.T) {
	b := newBed(t)
	b.createTarget(t, "stefanprodan/podinfo:3.1.0")
	ctx := context.Background()
	unmanaged := canary.MetadataKeys{Annotations: []string{"cloud.google.com/neg-status"}}
	apex := canary.Metadata{Labels: map[string]string{"linkerd.io/extension": "viz"},
		Annotations: map[string]string{"external-dns.alpha.kubernetes.io/hostname": "podinfo.example.com", "team": "a"}}
	opts := kube.WorkloadOptions{ApexMetadata: apex, PrimaryMetadata: canary.Metadata{Labels: map[string]string{"tier": "stable"}},
		CanaryMetadata: canary.Metadata{Annotations: map[string]string{"note": "canary"}}, UnmanagedMetadata: unmanaged,
		Headless: true, TrafficDistribution: "PreferClose", ApexSelectsPrimary: true}
	require.NoError(t, b.bootstrap(t, opts))

	get := func(name string) *corev1.Service {
		svc, err := b.admin.CoreV1().Services(b.ns).Get(ctx, name, metav1.GetOptions{})
		require.NoError(t, err)
		return svc
	}
	for name, labels := range map[string]map[string]string{
		"podinfo":         {"app": "podinfo", "linkerd.io/extension": "viz"},
		"podinfo-primary": {"app": "podinfo-primary", "tier": "stable"},
		"podinfo-canary":  {"app": "podinfo-canary"},
	} {
		svc := get(name)
		assert.Equal(t, corev1.ClusterIPNone, svc.Spec.ClusterIP, name)
		assert.Equal(t, ptr.To("PreferClose"), svc.Spec.TrafficDistribution, name)
		labels[canary.LabelManagedBy] = canary.ManagedBy
		assert.Equal(t, labels, svc.Labels, name)
	}
	assert.Equal(t, "podinfo.example.com", get("podinfo").Annotations["external-dns.alpha.kubernetes.io/hostname"])
	assert.Equal(t, "canary", get("podinfo-canary").Annotations["note"])

	// a cloud controller writes its annotation and someone edits the Canary's
	svc := get("podinfo")
	svc.Annotations["cloud.google.com/neg-status"] = `{"network_endpoint_groups":{"9898":"k8s1-neg"}}`
	svc.Annotations["team"] = "b"
	_, err := b.admin.CoreV1().Services(b.ns).Update(ctx, svc, metav1.UpdateOptions{})
	require.NoError(t, err)

	opts.ApexMetadata = canary.Metadata{Annotations: map[string]string{"team": "a"}}
	opts.TrafficDistribution = "PreferSameZone"
	require.NoError(t, b.bootstrap(t, opts))
	svc = get("podinfo")
	assert.Equal(t, `{"network_endpoint_groups":{"9898":"k8s1-neg"}}`, svc.Annotations["cloud.google.com/neg-status"], "unmanaged: kept")
	assert.Equal(t, "a", svc.Annotations["team"], "the Canary's value put back")
	assert.NotContains(t, svc.Annotations, "external-dns.alpha.kubernetes.io/hostname", "dropped from the Canary: removed")
	assert.NotContains(t, svc.Labels, "linkerd.io/extension", "dropped from the Canary: removed")
	assert.Equal(t, ptr.To("PreferSameZone"), svc.Spec.TrafficDistribution)

	rv := get("podinfo-primary").ResourceVersion
	opts.Headless = false
	err = b.bootstrap(t, opts)
	require.Error(t, err)
	assert.True(t, canary.IsPermanent(err))
	assert.ErrorContains(t, err, "service.headless: service "+b.ns+"/")
	assert.Equal(t, rv, get("podinfo-primary").ResourceVersion, "refused before any write")
}

// The apex Service a user made is adopted as Flagger adopts it, on a real API server: the
// Canary's spec.service.apex labels and annotations are not written on it, so the user's
// team: a stays when the Canary asks team: b; dropping keys from the Canary and handing the
// target back leave every label and annotation of the user's as they were.
func TestAdoptedApexServiceKeepsTheUsersMetadataOnARealCluster(t *testing.T) {
	b := newBed(t)
	b.createTarget(t, "podinfo:1")
	ctx := context.Background()
	userLabels := map[string]string{"team": "a"}
	userAnnotations := map[string]string{"team": "a", "git.example/path": "apps/podinfo.yaml"}
	user := gitService(userLabels)
	user.Annotations = userAnnotations
	_, err := b.admin.CoreV1().Services(b.ns).Create(ctx, user, metav1.CreateOptions{})
	require.NoError(t, err)
	get := func() *corev1.Service {
		svc, err := b.admin.CoreV1().Services(b.ns).Get(ctx, "podinfo", metav1.GetOptions{})
		require.NoError(t, err)
		return svc
	}

	apex := canary.Metadata{Labels: map[string]string{"team": "b", "tier": "web"},
		Annotations: map[string]string{"team": "b", "external-dns.alpha.kubernetes.io/hostname": "podinfo.example.com"}}
	require.NoError(t, b.bootstrap(t, kube.WorkloadOptions{ApexMetadata: apex}))
	svc := get()
	assert.Equal(t, map[string]string{"team": "a", canary.LabelManagedBy: canary.ManagedBy}, svc.Labels)
	assert.Equal(t, map[string]string{"team": "a", "git.example/path": "apps/podinfo.yaml", kube.AnnotationTarget: "podinfo",
		kube.AnnotationCanary: "podinfo", kube.AnnotationAdopted: "true"}, svc.Annotations)
	assert.Equal(t, map[string]string{"app": "podinfo-primary"}, svc.Spec.Selector)

	// the Canary drops team and the hostname
	require.NoError(t, b.bootstrap(t, kube.WorkloadOptions{ApexMetadata: canary.Metadata{Labels: map[string]string{"tier": "web"}}}))
	svc = get()
	assert.Equal(t, "a", svc.Labels["team"])
	assert.Equal(t, "a", svc.Annotations["team"])

	opts := kube.WorkloadOptions{Target: b.target, Port: 9898, ApexMetadata: apex}
	w, err := b.cluster(t).Workload(opts)
	require.NoError(t, err)
	require.NoError(t, w.HandBackApex(ctx, b.target))
	svc = get()
	assert.Equal(t, userLabels, svc.Labels, "handed back as the user had it")
	assert.Equal(t, userAnnotations, svc.Annotations, "handed back as the user had it")
	assert.Equal(t, map[string]string{"app": "podinfo"}, svc.Spec.Selector)
}
