package testenv_test

import (
	"context"
	"testing"
	"time"

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

func condition(d *appsv1.Deployment, typ appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == typ {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

func TestDeploymentBecomesAvailableWhenPodsAreReady(t *testing.T) {
	env := testenv.Shared(t)
	t.Logf("bed started: %+v", env.Timings())
	ns := env.Namespace(t)
	c := env.Client()
	env.Kubelet(t, ns, "app=podinfo", testenv.ReadyNow)

	_, err := c.AppsV1().Deployments(ns).Create(context.Background(), deployment("podinfo", 2, 600), metav1.CreateOptions{})
	require.NoError(t, err)

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
	env := testenv.Shared(t)
	ns := env.Namespace(t)
	c := env.Client()
	env.Kubelet(t, ns, "app=stuck", testenv.NeverReady)

	_, err := c.AppsV1().Deployments(ns).Create(context.Background(), deployment("stuck", 1, 1), metav1.CreateOptions{})
	require.NoError(t, err)

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
	env := testenv.Shared(t)
	ns := env.Namespace(t)
	c := env.Client()
	env.Kubelet(t, ns, "app=crashy", testenv.CrashLoop(200*time.Millisecond))

	_, err := c.AppsV1().Deployments(ns).Create(context.Background(), deployment("crashy", 1, 600), metav1.CreateOptions{})
	require.NoError(t, err)

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
