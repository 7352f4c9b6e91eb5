package driver

import (
	"context"
	"testing"

	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// The bed records an audit log: the idle target's requests are counted from it.
func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{Audit: true}) }

// createPodinfo creates the target of the integration tests: Deployment podinfo (one replica
// of podinfo:1, selected by app: podinfo) in ns.
func createPodinfo(ctx context.Context, t *testing.T, env *testenv.Env, ns string) {
	t.Helper()
	labels := map[string]string{"app": "podinfo"}
	_, err := env.Client().AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "podinfo:1"}}}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
}
