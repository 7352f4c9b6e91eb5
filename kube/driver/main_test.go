package driver

import (
	"context"
	"testing"

	"k8s.io/client-go/util/retry"

	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// The bed records an audit log: the idle target's requests are counted from it.
func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{Audit: true}) }

// bedNamespace is where an integration test here starts, on env (the shared bed, or one of
// the test's own): crds installed, a namespace of the test's own whose pods (those with an app
// label) the kubelet stand-in makes Ready at once, and a context that ends when the test does,
// or earlier by its cancel (to stop the Targets started on it and wait for them).
func bedNamespace(t *testing.T, env *testenv.Env, crds ...*apiextensionsv1.CustomResourceDefinition) (context.Context, context.CancelFunc, string) {
	t.Helper()
	if len(crds) > 0 {
		testenv.InstallCRDs(t, env.Config(), crds...)
	}
	ns := env.Namespace(t)
	env.Kubelet(t, ns, "app", testenv.ReadyNow())
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	return ctx, cancel, ns
}

// createPodinfo creates the target of the integration tests: Deployment podinfo (see
// createTarget) in ns.
func createPodinfo(ctx context.Context, t *testing.T, env *testenv.Env, ns string) {
	t.Helper()
	createTarget(ctx, t, env, ns, "podinfo")
}

// createTarget creates Deployment name in ns: one replica of podinfo:1 (container "app"),
// selected by app: name.
func createTarget(ctx context.Context, t *testing.T, env *testenv.Env, ns, name string) {
	t.Helper()
	labels := map[string]string{"app": name}
	_, err := env.Client().AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "podinfo:1"}}}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
}

// setImage gives Deployment name in ns a new revision: its first container's image.
func setImage(ctx context.Context, t *testing.T, env *testenv.Env, ns, name, image string) {
	t.Helper()
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		dep, err := env.Client().AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		dep.Spec.Template.Spec.Containers[0].Image = image
		_, err = env.Client().AppsV1().Deployments(ns).Update(ctx, dep, metav1.UpdateOptions{})
		return err
	}))
}
