package kube

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
		tr, err := nc.trackedConfigs("ns", &tmpl.Spec, nil)
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
	tracked, err := nc.trackedConfigs("ns", &spec, nil)
	require.NoError(t, err)
	rewriteConfigRefs(&spec, tracked)
	assert.Equal(t, "cm-vol-primary", spec.Volumes[0].ConfigMap.Name)
	assert.Equal(t, "cm-vol-primary", spec.Containers[0].Env[0].ValueFrom.ConfigMapKeyRef.Name)
	assert.Equal(t, "cm-init-primary", spec.InitContainers[0].EnvFrom[0].ConfigMapRef.Name)
	assert.Equal(t, "sec-from-primary", spec.Containers[0].EnvFrom[0].SecretRef.Name)
	assert.Equal(t, "cm-proj", spec.Volumes[2].Projected.Sources[0].ConfigMap.Name, "missing configs keep their name")
	assert.Equal(t, "sec-env", spec.Containers[0].Env[1].ValueFrom.SecretKeyRef.Name)
}
