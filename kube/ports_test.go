package kube

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func withContainers(cs ...corev1.Container) *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "podinfo"},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: cs}}}}
}

func containerPorts(name string, ports ...corev1.ContainerPort) corev1.Container {
	return corev1.Container{Name: name, Ports: ports}
}

func tcp(name string, port int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Protocol: corev1.ProtocolTCP, Port: port, TargetPort: intstr.FromInt32(port)}
}

func discoveryOptions() *WorkloadOptions {
	return &WorkloadOptions{Port: 9898, TargetPort: intstr.FromInt32(9898), PortName: "http", PortDiscovery: true}
}

// Flagger's port discovery: every port of the target's containers but the mesh proxies' and
// the one the main port sends to, named as declared or tcp-<container>-<index>, TCP whatever
// the container says, sorted after the main port; without it, the main port alone.
func TestServicePortsDiscoversTheContainersPorts(t *testing.T) {
	d := withContainers(
		containerPorts("app", corev1.ContainerPort{ContainerPort: 9898}, corev1.ContainerPort{Name: "http-metrics", ContainerPort: 9797},
			corev1.ContainerPort{ContainerPort: 8080}, corev1.ContainerPort{Name: "dns", ContainerPort: 5353, Protocol: corev1.ProtocolUDP}),
		containerPorts("istio-proxy", corev1.ContainerPort{Name: "http-envoy-prom", ContainerPort: 15090}),
		containerPorts("envoy", corev1.ContainerPort{ContainerPort: 15001}),
		containerPorts("logger", corev1.ContainerPort{Name: "grpc", ContainerPort: 9000}, corev1.ContainerPort{Name: "http-metrics", ContainerPort: 9797}),
	)
	d.Spec.Template.Spec.InitContainers = []corev1.Container{containerPorts("init", corev1.ContainerPort{Name: "init", ContainerPort: 7000})}
	o := discoveryOptions()
	main := corev1.ServicePort{Name: "http", Protocol: corev1.ProtocolTCP, Port: 9898, TargetPort: intstr.FromInt32(9898)}

	got, err := servicePorts(o, deploymentApp(d))
	require.NoError(t, err)
	assert.Equal(t, []corev1.ServicePort{main, tcp("dns", 5353), tcp("tcp-app-2", 8080), tcp("grpc", 9000), tcp("http-metrics", 9797)}, got)

	o.PortDiscovery = false
	got, err = servicePorts(o, deploymentApp(d))
	require.NoError(t, err)
	assert.Equal(t, []corev1.ServicePort{main}, got)

	// a named targetPort leaves out the container port of that name, not the one of Port's number
	o = discoveryOptions()
	o.Port, o.TargetPort, o.AppProtocol = 80, intstr.FromString("web"), "http"
	got, err = servicePorts(o, deploymentApp(withContainers(containerPorts("app",
		corev1.ContainerPort{Name: "web", ContainerPort: 9898}, corev1.ContainerPort{Name: "admin", ContainerPort: 9090}))))
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, "http", *got[0].AppProtocol)
	assert.Equal(t, intstr.FromString("web"), got[0].TargetPort)
	assert.Equal(t, tcp("admin", 9090), got[1])
}

// What a Service could not carry is refused, naming every container port at fault: a
// permanent error (a new revision of the target must fix it).
func TestServicePortsRefusesWhatAServiceCannotCarry(t *testing.T) {
	long := strings.Repeat("c", 60)
	d := withContainers(
		containerPorts("app",
			corev1.ContainerPort{Name: "http", ContainerPort: 8080},  // [0].ports[0]: the main port's name
			corev1.ContainerPort{Name: "metrics", ContainerPort: 80}, // [0].ports[1]
			corev1.ContainerPort{Name: "admin", ContainerPort: 80},   // [0].ports[2]: the number of metrics
			corev1.ContainerPort{Name: "metrics", ContainerPort: 81}, // [0].ports[3]: the name of metrics
			corev1.ContainerPort{Name: "Bad_Name", ContainerPort: 82},
			corev1.ContainerPort{ContainerPort: 70000},
		),
		containerPorts(long, corev1.ContainerPort{ContainerPort: 83}),
	)
	o := discoveryOptions()
	o.TargetPort = intstr.FromInt32(9000) // port 9898 is then the main port's only
	d.Spec.Template.Spec.Containers[0].Ports = append(d.Spec.Template.Spec.Containers[0].Ports, corev1.ContainerPort{Name: "other", ContainerPort: 9898})
	_, err := servicePorts(o, deploymentApp(d))
	require.Error(t, err)
	assert.True(t, errors.Is(err, canary.ErrInvalidSpec), "%v", err)
	assert.True(t, canary.IsPermanent(err), "permanent: %v", err)
	msg := err.Error()
	for _, want := range []string{
		"invalid deployment test/podinfo for service.portDiscovery",
		`spec.template.spec.containers[0].ports[0].name: "http" is also the name of the Services' port (service.portName, default http)`,
		`spec.template.spec.containers[0].ports[2].containerPort: 80 is also port "metrics" (spec.template.spec.containers[0].ports[1])`,
		`spec.template.spec.containers[0].ports[3].name: "metrics" also names port 80 (spec.template.spec.containers[0].ports[1])`,
		`spec.template.spec.containers[0].ports[4].name: "Bad_Name" is not a port name (IANA_SVC_NAME)`,
		"spec.template.spec.containers[0].ports[5].containerPort: must be between 1 and 65535",
		`spec.template.spec.containers[0].ports[6].containerPort: 9898 is also the Services' port (service.port) and not its targetPort`,
		fmt.Sprintf(`spec.template.spec.containers[1].ports[0].name: unnamed, it would be discovered as "tcp-%s-0", which cannot name a Service port`, long),
	} {
		assert.Contains(t, msg, want)
	}

	// a bounded number of ports
	var many []corev1.ContainerPort
	for i := range MaxDiscoveredPorts + 1 {
		many = append(many, corev1.ContainerPort{ContainerPort: int32(10000 + i)})
	}
	_, err = servicePorts(discoveryOptions(), deploymentApp(withContainers(containerPorts("app", many...))))
	require.ErrorContains(t, err, fmt.Sprintf("spec.template.spec.containers[0].ports[%d]: more than %d ports to discover", MaxDiscoveredPorts, MaxDiscoveredPorts))
	got, err := servicePorts(discoveryOptions(), deploymentApp(withContainers(containerPorts("app", many[:MaxDiscoveredPorts]...))))
	require.NoError(t, err)
	assert.Len(t, got, MaxDiscoveredPorts+1, "the main port and as many as allowed")
}

// The ports of a Service are compared in any order (Flagger writes them in map order), and
// keep the node ports the Service has.
func TestSamePortsAndNodePorts(t *testing.T) {
	a := []corev1.ServicePort{tcp("http", 80), tcp("grpc", 9000), tcp("metrics", 9797)}
	b := []corev1.ServicePort{tcp("http", 80), tcp("metrics", 9797), tcp("grpc", 9000)}
	assert.True(t, samePorts(a, b))
	assert.False(t, samePorts(a, b[:2]))
	b[2].Port = 9001
	assert.False(t, samePorts(a, b))

	cur := []corev1.ServicePort{tcp("http", 80), tcp("grpc", 9000)}
	cur[0].NodePort, cur[1].NodePort = 30080, 30900
	want := []corev1.ServicePort{tcp("http", 80), tcp("grpc", 9000), tcp("metrics", 9797)}
	keepNodePorts(want, cur)
	assert.Equal(t, []int32{30080, 30900, 0}, []int32{want[0].NodePort, want[1].NodePort, want[2].NodePort})

	one := []corev1.ServicePort{tcp("web", 80)}
	one[0].NodePort = 30080
	want = []corev1.ServicePort{tcp("http", 80)}
	keepNodePorts(want, one)
	assert.Equal(t, int32(30080), want[0].NodePort, "a Service of one port keeps its node port under another name")
}

// Invalid ports are bounded too: the refusal names at most MaxDiscoveredPorts of them.
func TestServicePortsBoundsTheProblems(t *testing.T) {
	var bad []corev1.ContainerPort
	for range 10 * MaxDiscoveredPorts {
		bad = append(bad, corev1.ContainerPort{ContainerPort: 70000})
	}
	_, err := servicePorts(discoveryOptions(), deploymentApp(withContainers(containerPorts("app", bad...))))
	var ve *canary.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Len(t, ve.Problems, MaxDiscoveredPorts+1)
	assert.Equal(t, fmt.Sprintf("more than %d ports to discover", MaxDiscoveredPorts), ve.Problems[MaxDiscoveredPorts].Message)
}
