package kube

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/canarykit/canarykit/canary"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Port discovery (Flagger's spec.service.portDiscovery): besides the port of WorkloadOptions,
// the apex, primary and canary Services carry every port the target's containers declare,
// as Flagger's Kubernetes router adds them. Flagger reads them from the target's pod template
// at every tick; canarykit at every Bootstrap (the start of each release run) and Promote, so
// the Services follow a new revision's ports.

// MaxDiscoveredPorts bounds the container ports port discovery looks at (the mesh proxies' and
// the main port's aside), and so the ports it adds to each Service and the problems it
// reports: a target declaring more is refused (its pod template is the user's, the Services
// are written from it).
const MaxDiscoveredPorts = 100

// discoverySidecars are the service-mesh proxies whose ports port discovery leaves out, by
// container name, as Flagger does.
var discoverySidecars = []string{"istio-proxy", "envoy"}

// servicePorts returns the ports of the target's Services: the main port (Port, TargetPort,
// PortName, AppProtocol) and, with PortDiscovery, a TCP port for each port of d's containers
// (not its init containers, nor the mesh proxies istio-proxy and envoy), named as declared or
// "tcp-<container>-<index>", its port and target port the container port. The container port
// the main port sends to (TargetPort's number, or its name) is left out. A port that is not
// valid in a Service, or clashes with another by name or number, is an error naming it; the
// same name and number declared twice is one port.
func servicePorts(o *WorkloadOptions, d app) ([]corev1.ServicePort, error) {
	main := corev1.ServicePort{Name: o.PortName, Protocol: corev1.ProtocolTCP, Port: o.Port, TargetPort: o.TargetPort}
	if o.AppProtocol != "" {
		main.AppProtocol = &o.AppProtocol
	}
	ports := []corev1.ServicePort{main}
	if !o.PortDiscovery {
		return ports, nil
	}
	var problems []canary.FieldError
	fail := func(field, format string, args ...any) {
		problems = append(problems, canary.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	fields := map[string]string{} // service port name → the field it was discovered at
	seen := 0                     // container ports to discover, bounded (so are the problems)
	for ci, c := range d.Template.Spec.Containers {
		if slices.Contains(discoverySidecars, c.Name) {
			continue
		}
		for pi, p := range c.Ports {
			field := fmt.Sprintf("spec.template.spec.containers[%d].ports[%d]", ci, pi)
			if o.TargetPort.Type == intstr.String && p.Name == o.TargetPort.StrVal ||
				o.TargetPort.Type == intstr.Int && p.ContainerPort == o.TargetPort.IntVal {
				continue // the main port's
			}
			if seen++; seen > MaxDiscoveredPorts {
				fail(field, "more than %d ports to discover", MaxDiscoveredPorts)
				return nil, discoveryError(d, problems)
			}
			if msgs := validation.IsValidPortNum(int(p.ContainerPort)); len(msgs) > 0 {
				fail(field+".containerPort", "%s", strings.Join(msgs, "; "))
				continue
			}
			name := p.Name
			if name == "" {
				name = fmt.Sprintf("tcp-%s-%d", c.Name, pi)
				if msgs := validation.IsDNS1123Label(name); len(msgs) > 0 {
					fail(field+".name", "unnamed, it would be discovered as %q, which cannot name a Service port (%s): name it",
						name, strings.Join(msgs, "; "))
					continue
				}
			} else if msgs := validation.IsValidPortName(name); len(msgs) > 0 {
				fail(field+".name", "%q is not a port name (IANA_SVC_NAME): %s", name, strings.Join(msgs, "; "))
				continue
			}
			switch i := slices.IndexFunc(ports, func(sp corev1.ServicePort) bool { return sp.Name == name || sp.Port == p.ContainerPort }); {
			case i == 0 && name == main.Name:
				fail(field+".name", "%q is also the name of the Services' port (service.portName, default http)", name)
			case i == 0:
				fail(field+".containerPort", "%d is also the Services' port (service.port) and not its targetPort", p.ContainerPort)
			case i > 0 && ports[i].Name == name && ports[i].Port == p.ContainerPort:
				// declared twice: one port, as in Flagger
			case i > 0 && ports[i].Name == name:
				fail(field+".name", "%q also names port %d (%s)", name, ports[i].Port, fields[name])
			case i > 0:
				fail(field+".containerPort", "%d is also port %q (%s)", p.ContainerPort, ports[i].Name, fields[ports[i].Name])
			default:
				fields[name] = field
				ports = append(ports, corev1.ServicePort{Name: name, Protocol: corev1.ProtocolTCP, Port: p.ContainerPort,
					TargetPort: intstr.FromInt32(p.ContainerPort)})
			}
		}
	}
	if len(problems) > 0 {
		return nil, discoveryError(d, problems)
	}
	slices.SortFunc(ports[1:], func(a, b corev1.ServicePort) int { return cmp.Compare(a.Port, b.Port) })
	return ports, nil
}

// discoveryError is the permanent error refusing d's ports: the Services cannot carry them
// until a new revision of the target fixes them.
func discoveryError(d app, problems []canary.FieldError) error {
	return canary.Permanent(&canary.ValidationError{
		Subject:  fmt.Sprintf("deployment %s/%s for service.portDiscovery", d.Namespace, d.Name),
		Problems: problems,
	})
}

// samePorts reports whether a Service's ports are want in any order (Flagger writes the
// discovered ones in map order).
func samePorts(cur, want []corev1.ServicePort) bool {
	if len(cur) != len(want) {
		return false
	}
	byPort := func(a, b corev1.ServicePort) int {
		return cmp.Or(cmp.Compare(a.Port, b.Port), cmp.Compare(a.Name, b.Name))
	}
	a, b := slices.Clone(cur), slices.Clone(want)
	slices.SortFunc(a, byPort)
	slices.SortFunc(b, byPort)
	return equality.Semantic.DeepEqual(a, b)
}

// keepNodePorts gives want's ports the node ports cur's ports of the same name have (a
// NodePort or LoadBalancer apex the user keeps); a Service of one port keeps its node port
// under another name.
func keepNodePorts(want, cur []corev1.ServicePort) {
	for i := range want {
		if j := slices.IndexFunc(cur, func(p corev1.ServicePort) bool { return p.Name == want[i].Name }); j >= 0 {
			want[i].NodePort = cur[j].NodePort
		}
	}
	if len(cur) == 1 && want[0].NodePort == 0 && !slices.ContainsFunc(want, func(p corev1.ServicePort) bool { return p.Name == cur[0].Name }) {
		want[0].NodePort = cur[0].NodePort
	}
}
