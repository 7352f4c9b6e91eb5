package kubetest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/kube/kubetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{}) }

// shape is a cluster the kit runs on: the full bed (kube-controller-manager's deployment
// controller) or the envtest shape (etcd and kube-apiserver only, the kit's stand-in).
type shape struct {
	name string
	// bed returns the cluster and starts, in ns, what plays the deployment controller.
	bed func(t *testing.T) *testenv.Env
}

func shapes() []shape {
	return []shape{
		{"kube-controller-manager", func(t *testing.T) *testenv.Env { return testenv.Shared(t) }},
		{"envtest", func(t *testing.T) *testenv.Env {
			return testenv.Start(t, testenv.Options{WithoutControllerManager: true})
		}},
	}
}

// namespace makes a namespace on env and, where no controller runs, the deployment stand-in.
func namespace(t *testing.T, env *testenv.Env) string {
	t.Helper()
	ns := env.Namespace(t)
	if !env.HasControllerManager() {
		kubetest.RunDeployments(t, env.Config(), ns)
	}
	return ns
}

// verdict is what a reader of a Deployment's status (kubectl rollout status, canarykit's
// readiness) takes from it.
type verdict struct {
	Available, AvailableReason     corev1.ConditionStatus
	Progressing, ProgressingReason string
	AvailableReplicas              int32
	Complete                       bool
}

func verdictOf(d *appsv1.Deployment) verdict {
	var v verdict
	for _, c := range d.Status.Conditions {
		switch c.Type {
		case appsv1.DeploymentAvailable:
			v.Available, v.AvailableReason = c.Status, corev1.ConditionStatus(c.Reason)
		case appsv1.DeploymentProgressing:
			v.Progressing, v.ProgressingReason = string(c.Status), c.Reason
		}
	}
	s, n := d.Status, ptr.Deref(d.Spec.Replicas, 1)
	v.AvailableReplicas = s.AvailableReplicas
	v.Complete = s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == n && s.Replicas == n && s.AvailableReplicas == n
	return v
}

func deployment(name string, replicas, deadline int32, version string) *appsv1.Deployment {
	sel := map[string]string{"app": name}
	lbls := map[string]string{"app": name, "version": version}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas), ProgressDeadlineSeconds: ptr.To(deadline),
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "podinfo:" + version}}}},
		},
	}
}

// waitVerdict polls the Deployment until its verdict is want, and fails with the last one.
func waitVerdict(ctx context.Context, t *testing.T, env *testenv.Env, ns, name string, want verdict) *appsv1.Deployment {
	t.Helper()
	var last *appsv1.Deployment
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		d, err := env.Client().AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = d
		return verdictOf(d) == want, nil
	})
	if err != nil {
		got := "none"
		if last != nil {
			got = fmt.Sprintf("%+v (status %+v)", verdictOf(last), last.Status)
		}
		t.Fatalf("deployment %s/%s: want %+v, got %s", ns, name, want, got)
	}
	return last
}

var (
	available = verdict{Available: corev1.ConditionTrue, AvailableReason: "MinimumReplicasAvailable",
		Progressing: "True", ProgressingReason: "NewReplicaSetAvailable", Complete: true}
	timedOut = verdict{Available: corev1.ConditionFalse, AvailableReason: "MinimumReplicasUnavailable",
		Progressing: "False", ProgressingReason: "ProgressDeadlineExceeded"}
)

// The stand-in gives a Deployment the verdict the real deployment controller gives it, for pods
// that become ready, never do, crash-loop, or only partly do, and for a rollout of a new
// template whose pods never become ready: the same scenarios on both shapes, the same verdicts.
func TestDeploymentVerdictsMatchTheController(t *testing.T) {
	for _, sh := range shapes() {
		t.Run(sh.name, func(t *testing.T) {
			env := sh.bed(t)
			ctx := t.Context()
			create := func(t *testing.T, ns string, d *appsv1.Deployment) {
				t.Helper()
				_, err := env.Client().AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
				require.NoError(t, err)
			}

			t.Run("ready", func(t *testing.T) {
				ns := namespace(t, env)
				env.Kubelet(t, ns, "app", testenv.ReadyNow())
				create(t, ns, deployment("web", 2, 600, "1"))
				want := available
				want.AvailableReplicas = 2
				d := waitVerdict(ctx, t, env, ns, "web", want)
				assert.Equal(t, int32(2), d.Status.ReadyReplicas)
			})

			t.Run("never ready", func(t *testing.T) {
				ns := namespace(t, env)
				env.Kubelet(t, ns, "app", testenv.NeverReady())
				create(t, ns, deployment("web", 1, 1, "1"))
				waitVerdict(ctx, t, env, ns, "web", timedOut)
			})

			t.Run("crash loop", func(t *testing.T) {
				ns := namespace(t, env)
				env.Kubelet(t, ns, "app", testenv.CrashLoop(200*time.Millisecond))
				create(t, ns, deployment("web", 1, 2, "1"))
				waitVerdict(ctx, t, env, ns, "web", timedOut)
			})

			t.Run("one of three ready", func(t *testing.T) {
				ns := namespace(t, env)
				env.Kubelet(t, ns, "app", testenv.Behavior{ReadyPods: 1})
				create(t, ns, deployment("web", 3, 2, "1"))
				want := timedOut
				want.AvailableReplicas = 1
				waitVerdict(ctx, t, env, ns, "web", want)
			})

			t.Run("late readiness", func(t *testing.T) {
				ns := namespace(t, env)
				k := env.Kubelet(t, ns, "app", testenv.NeverReady())
				create(t, ns, deployment("web", 1, 600, "1"))
				waitVerdict(ctx, t, env, ns, "web", verdict{Available: corev1.ConditionFalse, AvailableReason: "MinimumReplicasUnavailable",
					Progressing: "True", ProgressingReason: "ReplicaSetUpdated"})
				k.SetBehavior(testenv.ReadyNow())
				want := available
				want.AvailableReplicas = 1
				waitVerdict(ctx, t, env, ns, "web", want)
			})

			t.Run("new template never ready", func(t *testing.T) {
				ns := namespace(t, env)
				env.Kubelet(t, ns, "app,version=1", testenv.ReadyNow())
				env.Kubelet(t, ns, "app,version=2", testenv.NeverReady())
				create(t, ns, deployment("web", 2, 2, "1"))
				want := available
				want.AvailableReplicas = 2
				waitVerdict(ctx, t, env, ns, "web", want)
				setVersion(ctx, t, env, ns, "web", "2")
				// the old pods keep the Deployment available; the rollout times out
				d := waitVerdict(ctx, t, env, ns, "web", verdict{Available: corev1.ConditionTrue, AvailableReason: "MinimumReplicasAvailable",
					Progressing: "False", ProgressingReason: "ProgressDeadlineExceeded", AvailableReplicas: 2})
				assert.Less(t, d.Status.UpdatedReplicas, d.Status.Replicas, "old pods are kept")
			})

			t.Run("new template rolled out", func(t *testing.T) {
				ns := namespace(t, env)
				env.Kubelet(t, ns, "app", testenv.ReadyAfter(300*time.Millisecond))
				create(t, ns, deployment("web", 2, 600, "1"))
				want := available
				want.AvailableReplicas = 2
				waitVerdict(ctx, t, env, ns, "web", want)
				setVersion(ctx, t, env, ns, "web", "2")
				d := waitVerdict(ctx, t, env, ns, "web", want)
				pods, err := env.Client().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
				require.NoError(t, err)
				assert.Len(t, pods.Items, 2, "the old pods are gone")
				for _, p := range pods.Items {
					assert.Equal(t, "2", p.Labels["version"], p.Name)
				}
				assert.Equal(t, d.Generation, d.Status.ObservedGeneration)
			})

			t.Run("scaled to zero and back", func(t *testing.T) {
				ns := namespace(t, env)
				env.Kubelet(t, ns, "app", testenv.ReadyNow())
				create(t, ns, deployment("web", 2, 600, "1"))
				want := available
				want.AvailableReplicas = 2
				waitVerdict(ctx, t, env, ns, "web", want)
				scale(ctx, t, env, ns, "web", 0)
				zero := available
				waitVerdict(ctx, t, env, ns, "web", zero)
				scale(ctx, t, env, ns, "web", 1)
				want.AvailableReplicas = 1
				waitVerdict(ctx, t, env, ns, "web", want)
			})
		})
	}
}

func update(ctx context.Context, t *testing.T, env *testenv.Env, ns, name string, change func(*appsv1.Deployment)) {
	t.Helper()
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := env.Client().AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		change(d)
		_, err = env.Client().AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})
		return err
	}))
}

func setVersion(ctx context.Context, t *testing.T, env *testenv.Env, ns, name, version string) {
	t.Helper()
	update(ctx, t, env, ns, name, func(d *appsv1.Deployment) {
		d.Spec.Template.Labels["version"] = version
		d.Spec.Template.Spec.Containers[0].Image = "podinfo:" + version
	})
}

func scale(ctx context.Context, t *testing.T, env *testenv.Env, ns, name string, n int32) {
	t.Helper()
	update(ctx, t, env, ns, name, func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To(n) })
}
