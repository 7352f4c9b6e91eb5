package main

import (
	"context"
	"strings"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Canaries the controller does not drive are in its self-metrics as Flagger counts every
// Canary: flagger_canary_total counts one that does not load, one canarykit cannot drive, and
// a second Canary of a target; a Canary not driven reads Failed (2) in flagger_canary_status
// until it is fixed, and its series go when it is deleted. The status of a target driven by
// one Canary is not changed by another of the same target.
func TestControllerSelfMetricsCountCanariesItDoesNotDrive(t *testing.T) {
	b := newBed(t)
	b.env.Kubelet(t, b.ns, "", testenv.ReadyNow())
	reg := prometheus.NewRegistry()
	b.start("controller-1", Options{Registry: reg})
	total := func() float64 { return gaugeWith(t, reg, "flagger_canary_total", "namespace", b.ns) }
	status := func(name string) float64 { return gauge(t, reg, "flagger_canary_status", name) }

	b.app("web")
	b.apply(canaryYAML("web", steps20))
	b.poll("web initialized, counted", func() bool { return total() == 1 && status("web") == 1 })

	invalid := canaryYAML("bad", "    interval: 1s\n    threshold: 1\n    stepWeight: 10\n    maxWeight: 500\n")
	b.apply(invalid)
	b.poll("the invalid Canary counted, Failed", func() bool { return total() == 2 && status("bad") == 2 })

	dup := strings.Replace(canaryYAML("web-dup", steps20), "kind: Deployment, name: web-dup", "kind: Deployment, name: web", 1)
	require.Contains(t, dup, "name: web}")
	b.apply(dup)
	b.poll("the second Canary of web counted", func() bool { return total() == 3 })
	require.Equal(t, 1.0, status("web"), "web's status is its driven Canary's")

	unsupported := strings.Replace(canaryYAML("odd", steps20), "port: 8080", "port: 8080, backends: [backend.test]", 1)
	b.apply(unsupported)
	b.poll("the Canary with an unsupported field counted, Failed", func() bool { return total() == 4 && status("odd") == 2 })

	b.app("bad")
	b.apply(canaryYAML("bad", steps20))
	b.poll("bad fixed: driven, initialized", func() bool { return status("bad") == 1 && b.status("bad").Phase == canary.PhaseInitialized })
	require.Equal(t, 4.0, total())
	b.apply(invalid)
	b.poll("bad invalid again: Failed", func() bool { return status("bad") == 2 })

	del := func(name string) {
		require.NoError(t, b.dyn.Resource(Canaries).Namespace(b.ns).Delete(context.Background(), name, metav1.DeleteOptions{}))
	}
	del("bad")
	b.poll("bad deleted: its series gone", func() bool { return total() == 3 && status("bad") == -1 })
	del("odd")
	b.poll("odd deleted: its series gone", func() bool { return total() == 2 && status("odd") == -1 })
	del("web-dup")
	b.poll("the second Canary of web deleted", func() bool { return total() == 1 })
	require.Equal(t, 1.0, status("web"), "web's series stay while its Canary does")
	del("web")
	b.poll("web deleted: nothing counted", func() bool { return total() == -1 && status("web") == -1 })
}
