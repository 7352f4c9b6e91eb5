package testenv_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/canarykit/canarykit/internal/testenv"
)

// deployment is a minimal Deployment of replicas pods labelled app=name.
func deployment(name string, replicas int32, progressDeadline int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas:                ptr.To(replicas),
			ProgressDeadlineSeconds: ptr.To(progressDeadline),
			Selector:                &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: "ghcr.io/stefanprodan/podinfo:6.0.0",
				}}},
			},
		},
	}
}

// waitForDeployment polls the Deployment until cond holds.
func waitForDeployment(t *testing.T, c kubernetes.Interface, ns, name string, cond func(*appsv1.Deployment) bool) *appsv1.Deployment {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		d, err := c.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		require.NoError(t, err)
		if cond(d) {
			return d
		}
		select {
		case <-ctx.Done():
			t.Fatalf("deployment %s/%s: condition not reached; status: %+v", ns, name, d.Status)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// rollOut creates d in a new namespace whose pods a kubelet stand-in treats as b.
func rollOut(t *testing.T, d *appsv1.Deployment, b testenv.Behavior) (kubernetes.Interface, string) {
	t.Helper()
	env := testenv.Shared(t)
	ns := env.Namespace(t)
	env.Kubelet(t, ns, "app="+d.Name, b)
	_, err := env.Client().AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{})
	require.NoError(t, err)
	return env.Client(), ns
}

func condition(d *appsv1.Deployment, typ appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == typ {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

func TestDeploymentBecomesAvailableWhenPodsAreReady(t *testing.T) {
	c, ns := rollOut(t, deployment("podinfo", 2, 600), testenv.ReadyNow())
	t.Logf("bed started: %+v", testenv.Shared(t).Timings())

	d := waitForDeployment(t, c, ns, "podinfo", func(d *appsv1.Deployment) bool {
		a := condition(d, appsv1.DeploymentAvailable)
		return a != nil && a.Status == corev1.ConditionTrue && d.Status.AvailableReplicas == 2 &&
			d.Status.ObservedGeneration == d.Generation
	})
	require.Equal(t, int32(2), d.Status.ReadyReplicas)
	require.Equal(t, int32(2), d.Status.UpdatedReplicas)
	p := condition(d, appsv1.DeploymentProgressing)
	require.NotNil(t, p)
	require.Equal(t, "NewReplicaSetAvailable", p.Reason)

	pods, err := c.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=podinfo"})
	require.NoError(t, err)
	require.Len(t, pods.Items, 2)
	for _, pod := range pods.Items {
		require.Equal(t, corev1.PodRunning, pod.Status.Phase)
		require.Len(t, pod.Status.ContainerStatuses, 1)
		require.True(t, pod.Status.ContainerStatuses[0].Ready)
	}
}

func TestDeploymentExceedsProgressDeadlineWhenPodsNeverReady(t *testing.T) {
	c, ns := rollOut(t, deployment("stuck", 1, 1), testenv.NeverReady())

	d := waitForDeployment(t, c, ns, "stuck", func(d *appsv1.Deployment) bool {
		p := condition(d, appsv1.DeploymentProgressing)
		return p != nil && p.Status == corev1.ConditionFalse
	})
	require.Equal(t, "ProgressDeadlineExceeded", condition(d, appsv1.DeploymentProgressing).Reason)
	require.Zero(t, d.Status.AvailableReplicas)
	a := condition(d, appsv1.DeploymentAvailable)
	require.NotNil(t, a)
	require.Equal(t, corev1.ConditionFalse, a.Status)
}

func TestKubeletCrashLoopCountsRestartsAndNeverReadies(t *testing.T) {
	c, ns := rollOut(t, deployment("crashy", 1, 600), testenv.CrashLoop(200*time.Millisecond))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=crashy"})
		require.NoError(t, err)
		if len(pods.Items) == 1 && len(pods.Items[0].Status.ContainerStatuses) == 1 &&
			pods.Items[0].Status.ContainerStatuses[0].RestartCount >= 3 {
			cs := pods.Items[0].Status.ContainerStatuses[0]
			require.False(t, cs.Ready)
			require.NotNil(t, cs.State.Waiting)
			require.Equal(t, "CrashLoopBackOff", cs.State.Waiting.Reason)
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pod never crash-looped: %+v", pods.Items)
		case <-time.After(100 * time.Millisecond):
		}
	}
	d, err := c.AppsV1().Deployments(ns).Get(ctx, "crashy", metav1.GetOptions{})
	require.NoError(t, err)
	require.Zero(t, d.Status.AvailableReplicas)
}

// complete is `kubectl rollout status`'s notion of done.
func complete(d *appsv1.Deployment) bool {
	return d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == *d.Spec.Replicas &&
		d.Status.Replicas == *d.Spec.Replicas && d.Status.AvailableReplicas == *d.Spec.Replicas
}

func TestRolloutOfANewTemplateCompletesWithDelayedReadiness(t *testing.T) {
	c, ns := rollOut(t, deployment("podinfo", 2, 600), testenv.ReadyAfter(300*time.Millisecond))
	ctx := context.Background()
	first := waitForDeployment(t, c, ns, "podinfo", complete)

	first.Spec.Template.Spec.Containers[0].Image = "ghcr.io/stefanprodan/podinfo:6.0.1"
	_, err := c.AppsV1().Deployments(ns).Update(ctx, first, metav1.UpdateOptions{})
	require.NoError(t, err)
	d := waitForDeployment(t, c, ns, "podinfo", complete)
	assert.Equal(t, "NewReplicaSetAvailable", condition(d, appsv1.DeploymentProgressing).Reason)

	rss, err := c.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=podinfo"})
	require.NoError(t, err)
	require.Len(t, rss.Items, 2)
	for _, rs := range rss.Items {
		want := int32(0)
		if rs.Spec.Template.Spec.Containers[0].Image == "ghcr.io/stefanprodan/podinfo:6.0.1" {
			want = 2
		}
		assert.Equal(t, want, *rs.Spec.Replicas, rs.Name)
	}
}

func TestKubeletBehaviorCanChangeMidTest(t *testing.T) {
	env := testenv.Shared(t)
	ns := env.Namespace(t)
	k := env.Kubelet(t, ns, "app=late", testenv.NeverReady())
	_, err := env.Client().AppsV1().Deployments(ns).Create(context.Background(), deployment("late", 1, 600), metav1.CreateOptions{})
	require.NoError(t, err)
	waitForDeployment(t, env.Client(), ns, "late", func(d *appsv1.Deployment) bool { return d.Status.Replicas == 1 })

	k.SetBehavior(testenv.ReadyNow())
	d := waitForDeployment(t, env.Client(), ns, "late", complete)
	assert.Equal(t, int32(1), d.Status.ReadyReplicas)
}
