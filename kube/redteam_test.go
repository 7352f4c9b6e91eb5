package kube

import (
	"context"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// A primary made again (deleted by hand, or by a hand-back interrupted after it removed the
// primary and before the config copies) must run the target's configuration: Bootstrap records
// the target's revision on it, configs included, so a copy left with older data would be run
// by the primary for good, no release ever telling.
func TestRedteamRecreatedPrimaryGetsTheCurrentConfig(t *testing.T) {
	ctx := context.Background()
	objs := podinfoWithConfig(2)
	target := canary.Target{Namespace: "test", Name: "podinfo"}
	stale := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "podinfo-config-primary", Namespace: "test",
		Labels:      map[string]string{canary.LabelManagedBy: canary.ManagedBy},
		Annotations: map[string]string{AnnotationTarget: "podinfo", AnnotationCanary: "podinfo"}},
		Data: map[string]string{"k": "old"}}
	client := fake.NewClientset(append(objs, stale)...)
	w := workloadOn(t, client, target)
	require.NoError(t, w.Bootstrap(ctx, target))

	p, err := client.AppsV1().Deployments("test").Get(ctx, "podinfo-primary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "podinfo-config-primary", p.Spec.Template.Spec.Containers[0].EnvFrom[0].ConfigMapRef.Name)
	cp, err := client.CoreV1().ConfigMaps("test").Get(ctx, "podinfo-config-primary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"k": "v"}, cp.Data, "the new primary runs the target's configuration, which it is recorded to run")
}
