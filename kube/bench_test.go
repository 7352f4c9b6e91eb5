package kube

import (
	"context"
	"testing"

	"github.com/canarykit/canarykit/canary"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// BenchmarkWorkloadObserve is the workload's read of every analysis step: the target and its
// primary from the caches, their revision and readiness.
func BenchmarkWorkloadObserve(b *testing.B) {
	labels := map[string]string{"app": "podinfo"}
	dep := func(name string) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Generation: 1},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "podinfod", Image: "podinfo:1",
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 9898}}}}}}},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1, ReadyReplicas: 1}}
	}
	c, err := New(Options{Client: fake.NewClientset(dep("podinfo"), dep("podinfo-primary"))})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	target := canary.Target{Namespace: "ns", Name: "podinfo"}
	w, err := c.Workload(WorkloadOptions{Target: target, Port: 9898})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	first, err := w.Observe(ctx, target)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		st, err := w.Observe(ctx, target)
		if err != nil {
			b.Fatal(err)
		}
		if st.Revision != first.Revision || !st.Canary.Ready {
			b.Fatalf("observed %+v, then %+v", first, st)
		}
	}
}
