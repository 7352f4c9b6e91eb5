package main

import (
	"slices"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
)

// A Canary moved mid-release to a Deployment that does not exist (a slip in targetRef.name)
// is counted, and its new target shows no release: the old target's phase and weight, cleared
// from the Canary's status by the move, are not taken for the new target's (they would read
// Progressing, at the old weight, for as long as the Canary stays so).
func TestControllerSelfMetricsOfAMovedCanaryStartAfresh(t *testing.T) {
	b := newBed(t)
	b.env.Kubelet(t, b.ns, "", testenv.ReadyNow())
	reg := prometheus.NewRegistry()
	rec := &recorder{}
	b.start("controller-1", Options{Registry: reg, OnEvent: rec.add})
	b.app("one")
	b.apply(mover("one", 90))
	b.poll("one bootstrapped", func() bool { return b.status("mover").Phase == canary.PhaseInitialized })
	mark := rec.mark()
	b.setImage("one", "one:2")
	b.poll("one mid-release", func() bool { return slices.Contains(rec.weights("one", mark), 20) })
	b.poll("one's metrics show its release", func() bool { return gauge(t, reg, "flagger_canary_status", "one") == 0 })

	b.apply(mover("missing", 90))
	b.poll("the status cleared and the Canary counted for its new target", func() bool {
		return b.status("mover").Phase == "" && gaugeWith(t, reg, "flagger_canary_total", "namespace", b.ns) == 1
	})
	assert.Equal(t, -1.0, gauge(t, reg, "flagger_canary_status", "missing"), "no release of the new target")
	assert.Equal(t, -1.0, gaugeWith(t, reg, "flagger_canary_weight", "workload", "missing"))
	assert.Equal(t, -1.0, gaugeWith(t, reg, "flagger_canary_weight", "workload", "missing-primary"))
	assert.Equal(t, -1.0, gauge(t, reg, "flagger_canary_status", "one"), "the old target's series are gone")
}
