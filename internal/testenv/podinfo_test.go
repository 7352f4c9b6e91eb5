package testenv_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/canarykit/canarykit/internal/testenv"
)

// CreatePodinfo creates the Deployment and an autoscaler of it from its replicas to twice as
// many; a second call fails naming the Deployment, and an autoscaler in the way is named too.
func TestCreatePodinfoObjectsAndErrors(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientset()
	require.NoError(t, testenv.CreatePodinfo(ctx, c, "ns", "web", "web:1", 2))
	d, err := c.AppsV1().Deployments("ns").Get(ctx, "web", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(2), *d.Spec.Replicas)
	assert.Equal(t, map[string]string{"app": "web"}, d.Spec.Selector.MatchLabels)
	assert.Equal(t, d.Spec.Selector.MatchLabels, d.Spec.Template.Labels, "the selector selects the pods")
	assert.Equal(t, "web:1", d.Spec.Template.Spec.Containers[0].Image)
	assert.Equal(t, int32(9898), d.Spec.Template.Spec.Containers[0].Ports[0].ContainerPort)
	h, err := c.AutoscalingV2().HorizontalPodAutoscalers("ns").Get(ctx, "web", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}, h.Spec.ScaleTargetRef)
	assert.Equal(t, int32(2), *h.Spec.MinReplicas)
	assert.Equal(t, int32(4), h.Spec.MaxReplicas)
	require.Len(t, h.Spec.Metrics, 1)
	assert.Equal(t, corev1.ResourceCPU, h.Spec.Metrics[0].Resource.Name)
	assert.Equal(t, int32(99), *h.Spec.Metrics[0].Resource.Target.AverageUtilization)

	assert.ErrorContains(t, testenv.CreatePodinfo(ctx, c, "ns", "web", "web:1", 2), "create Deployment ns/web")
	_, err = c.AutoscalingV2().HorizontalPodAutoscalers("ns").Create(ctx, testenv.CPUAutoscaler("api", 1, 2), metav1.CreateOptions{})
	require.NoError(t, err)
	assert.ErrorContains(t, testenv.CreatePodinfo(ctx, c, "ns", "api", "api:1", 1), "create HorizontalPodAutoscaler ns/api")
}

// On the bed the podinfo target rolls out and kube-controller-manager's HPA controller finds
// the autoscaler's scale target (AbleToScale), though with no metrics API it never scales.
func TestCreatePodinfoOnTheBed(t *testing.T) {
	env := testenv.Shared(t)
	ns := env.Namespace(t)
	env.Kubelet(t, ns, "app=podinfo", testenv.ReadyNow())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, testenv.CreatePodinfo(ctx, env.Client(), ns, "podinfo", "podinfo:1", 2))

	waitForDeployment(t, env.Client(), ns, "podinfo", func(d *appsv1.Deployment) bool {
		return d.Status.AvailableReplicas == 2 && d.Status.ObservedGeneration == d.Generation
	})
	var h *autoscalingv2.HorizontalPodAutoscaler
	require.NoError(t, wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		var err error
		h, err = env.Client().AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, "podinfo", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range h.Status.Conditions {
			if c.Type == autoscalingv2.AbleToScale {
				return true, nil
			}
		}
		return false, nil
	}), "the HPA controller reconciles the autoscaler")
	for _, c := range h.Status.Conditions {
		if c.Type == autoscalingv2.AbleToScale {
			assert.Equal(t, corev1.ConditionTrue, c.Status, "the scale target is found: %s", c.Message)
		}
	}
	assert.Equal(t, int32(2), h.Status.CurrentReplicas, "it reads the Deployment's replicas")
}
