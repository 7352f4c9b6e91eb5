package testenv

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// PodinfoDeployment is a target shaped as the seeds' kustomize/podinfo ships it: Deployment
// name, labelled and selecting app=name, with replicas pods of one container "podinfod" of
// image, listening on port 9898 (named http).
func PodinfoDeployment(name, image string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "podinfod", Image: image,
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 9898}}}}}},
		},
	}
}

// CPUAutoscaler is the seeds' HorizontalPodAutoscaler (autoscaling/v2) of Deployment name,
// named name as well: between minReplicas and maxReplicas, at a CPU utilization target of 99%.
// The bed serves no metrics API, so kube-controller-manager never scales by it (its reconciles
// record FailedGetResourceMetric Events); it is there to be adopted and copied.
func CPUAutoscaler(name string, minReplicas, maxReplicas int32) *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
			MinReplicas:    ptr.To(minReplicas), MaxReplicas: maxReplicas,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU,
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(int32(99))}}}},
		},
	}
}

// CreatePodinfo creates in namespace ns what the seeds' kustomize/podinfo creates: the
// PodinfoDeployment of name, image and replicas, and its CPUAutoscaler from replicas to twice
// as many. It takes no testing.TB, so that workers creating many targets at once can call it
// and report its error themselves; the error names the object that failed.
func CreatePodinfo(ctx context.Context, c kubernetes.Interface, ns, name, image string, replicas int32) error {
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, PodinfoDeployment(name, image, replicas), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create Deployment %s/%s: %w", ns, name, err)
	}
	_, err := c.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(ctx, CPUAutoscaler(name, replicas, 2*replicas), metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create HorizontalPodAutoscaler %s/%s: %w", ns, name, err)
	}
	return nil
}
