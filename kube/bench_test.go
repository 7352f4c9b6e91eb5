package kube

import (
	"context"
	"strings"
	"testing"

	"github.com/canarykit/canarykit/canary"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// BenchmarkWorkloadObserve is the workload's read of every analysis step: the target and its
// primary from the caches, their revision and readiness. The objects carry a UID and a
// generation, as those of an API server do; "tracked-configs" has the target read a 4 KiB
// ConfigMap through a volume and a Secret through envFrom.
func BenchmarkWorkloadObserve(b *testing.B) {
	labels := map[string]string{"app": "podinfo"}
	dep := func(name string, configs bool) *appsv1.Deployment {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name + "-uid"), Generation: 1},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "podinfod", Image: "podinfo:1",
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 9898}}}}}}},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1, ReadyReplicas: 1}}
		if configs {
			spec := &d.Spec.Template.Spec
			spec.Volumes = []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{
				ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "podinfo-config"}}}}}
			spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "podinfo-secret"}}}}
		}
		return d
	}
	for _, bc := range []struct {
		name    string
		configs bool
	}{{"template", false}, {"tracked-configs", true}} {
		b.Run(bc.name, func(b *testing.B) {
			objs := []runtime.Object{dep("podinfo", bc.configs), dep("podinfo-primary", bc.configs)}
			if bc.configs {
				objs = append(objs,
					&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "podinfo-config", Namespace: "ns", UID: "cm-uid"},
						Data: map[string]string{"config.yaml": strings.Repeat("key: value\n", 372)}},
					&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "podinfo-secret", Namespace: "ns", UID: "secret-uid"},
						Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"TOKEN": []byte("s3cr3t")}})
			}
			c, err := New(Options{Client: fake.NewClientset(objs...)})
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
		})
	}
}
