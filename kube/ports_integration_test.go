package kube_test

import (
	"context"
	"sync"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"
)

// servicePorts reads the apex, primary and canary Services' ports back: by Service, port
// name → port (each discovered port sends to the container port of its number).
func (b *bed) servicePorts(t *testing.T) map[string]map[string]int32 {
	t.Helper()
	out := map[string]map[string]int32{}
	for _, name := range []string{"podinfo", "podinfo-primary", "podinfo-canary"} {
		svc, err := b.admin.CoreV1().Services(b.ns).Get(context.Background(), name, metav1.GetOptions{})
		require.NoError(t, err)
		out[name] = map[string]int32{}
		for _, p := range svc.Spec.Ports {
			out[name][p.Name] = p.Port
			want := intstr.FromInt32(p.Port)
			assert.Equal(t, want, p.TargetPort, "%s port %s", name, p.Name)
			assert.Equal(t, corev1.ProtocolTCP, p.Protocol)
		}
	}
	return out
}

// setPorts gives the target's app container an image and ports, as a user's edit would (no
// require: it may run in a Rollout's event callback).
func (b *bed) setPorts(image string, ports ...corev1.ContainerPort) error {
	ctx := context.Background()
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := b.admin.AppsV1().Deployments(b.ns).Get(ctx, "podinfo", metav1.GetOptions{})
		if err != nil {
			return err
		}
		d.Spec.Template.Spec.Containers[0].Image = image
		d.Spec.Template.Spec.Containers[0].Ports = ports
		_, err = b.admin.AppsV1().Deployments(b.ns).Update(ctx, d, metav1.UpdateOptions{})
		return err
	})
}

// Flagger's spec.service.portDiscovery on a real API server: the apex, primary and canary
// Services carry every port of the target's containers from the bootstrap on (the mesh
// proxy's and the main port's own left out), and follow the ports of a new revision: those
// of the revision a release starts with, and those of one that replaces it mid-analysis once
// it is promoted.
func TestPortDiscoveryOnARealCluster(t *testing.T) {
	b := newBed(t)
	b.createTarget(t, "stefanprodan/podinfo:3.1.0")
	b.updateTarget(t, func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.Containers[0].Ports = []corev1.ContainerPort{
			{ContainerPort: 9898}, {Name: "http-metrics", ContainerPort: 9797}, {ContainerPort: 9999}}
		d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, corev1.Container{Name: "istio-proxy", Image: "proxyv2",
			Ports: []corev1.ContainerPort{{Name: "http-envoy-prom", ContainerPort: 15090}}})
	})
	var mu sync.Mutex
	edited, editErr := false, error(nil)
	d := b.driver(t, driverOptions{
		workload: func(o *kube.WorkloadOptions) { o.PortDiscovery = true },
		then: func(e canary.Event) {
			// the second release's first step: a third revision replaces the one analysed
			mu.Lock()
			defer mu.Unlock()
			if e.Reason == canary.ReasonAdvanced && !edited {
				edited = true
				editErr = b.setPorts("stefanprodan/podinfo:3.1.2", corev1.ContainerPort{ContainerPort: 9898},
					corev1.ContainerPort{Name: "admin", ContainerPort: 9090})
			}
		},
	})

	res := d.mustRun(t)
	require.Equal(t, canary.PhaseInitialized, res.Phase)
	first := map[string]int32{"http": 9898, "http-metrics": 9797, "tcp-podinfod-2": 9999}
	for name, ports := range b.servicePorts(t) {
		assert.Equal(t, first, ports, name)
	}

	require.NoError(t, b.setPorts("stefanprodan/podinfo:3.1.1", corev1.ContainerPort{ContainerPort: 9898},
		corev1.ContainerPort{Name: "grpc", ContainerPort: 9000}))
	res = d.mustRun(t)
	require.Equal(t, canary.PhaseSucceeded, res.Phase, res.Reason)
	mu.Lock()
	require.True(t, edited)
	require.NoError(t, editErr)
	mu.Unlock()
	assert.Contains(t, d.rec.Messages(), "New revision detected! Restarting analysis for podinfo."+b.ns)
	assert.Equal(t, "stefanprodan/podinfo:3.1.2", image(b.deployment(t, "podinfo-primary")), "the third revision was promoted")
	promoted := map[string]int32{"http": 9898, "admin": 9090}
	for name, ports := range b.servicePorts(t) {
		assert.Equal(t, promoted, ports, name)
	}
}
