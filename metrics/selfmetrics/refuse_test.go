package selfmetrics_test

import (
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/metrics/selfmetrics"
	"github.com/stretchr/testify/assert"
)

// A Canary not driven is counted and reads Failed (2) until it is driven (For) or forgotten;
// its target's phase series are not shown meanwhile.
func TestRefusedCanaries(t *testing.T) {
	c := selfmetrics.New(selfmetrics.Options{})
	reg := registry(t, c)
	total := func() float64 {
		v, ok := value(t, reg, "flagger_canary_total", lbl("namespace", "test"))
		if !ok {
			return -1
		}
		return v
	}
	status := func(name string) float64 {
		v, ok := value(t, reg, "flagger_canary_status", lbl("name", name))
		if !ok {
			return -1
		}
		return v
	}

	bad := canary.Target{Namespace: "test", Name: "bad"}
	c.Refuse(bad)
	assert.Equal(t, 1.0, total())
	assert.Equal(t, 2.0, status("bad"))
	c.Refuse(bad) // again (another invalid edit): counted once
	assert.Equal(t, 1.0, total())

	// a Canary whose targetRef cannot be read: counted, no status series
	c.Refuse(canary.Target{Namespace: "test", Canary: "nameless"})
	assert.Equal(t, 2.0, total())
	assert.Len(t, gather(t, reg, "flagger_canary_status"), 1)

	// fixed: driven, its own status from its events
	c.For(bad, spec())(canary.Event{Target: bad, Reason: canary.ReasonInitialized, Phase: canary.PhaseInitialized, Weights: canary.AllPrimary()})
	assert.Equal(t, 2.0, total())
	assert.Equal(t, 1.0, status("bad"))
	assert.Equal(t, 1.0, mustValue(t, reg, "canarykit_canary_phase", lbl("name", "bad", "phase", "Initialized")))

	// refused again: Failed, the last phase not shown
	c.Refuse(bad)
	assert.Equal(t, 2.0, status("bad"))
	_, ok := value(t, reg, "canarykit_canary_phase", lbl("name", "bad", "phase", "Initialized"))
	assert.False(t, ok, "the phase of a Canary no longer driven")

	c.Forget(bad)
	assert.Equal(t, 1.0, total())
	assert.Equal(t, -1.0, status("bad"))
	c.Forget(canary.Target{Namespace: "test", Canary: "nameless"})
	assert.Equal(t, -1.0, total())
	assert.Equal(t, []string{"flagger_info"}, names(t, reg))
}

// Two Canaries of one target count twice, as Flagger counts Canaries, and share the target's
// series; one of them refused leaves the status to the one driven; forgetting one keeps the
// target's series for the other.
func TestTwoCanariesOfOneTarget(t *testing.T) {
	c := selfmetrics.New(selfmetrics.Options{})
	reg := registry(t, c)
	first := podinfo
	second := canary.Target{Namespace: "test", Name: "podinfo", Canary: "podinfo-2"}
	c.For(first, spec())(canary.Event{Target: first, Reason: canary.ReasonNewRevision, Phase: canary.PhaseProgressing})
	c.For(second, spec())
	assert.Equal(t, 2.0, mustValue(t, reg, "flagger_canary_total", lbl("namespace", "test")))
	assert.Equal(t, 0.0, mustValue(t, reg, "flagger_canary_status", lbl("name", "podinfo")))

	c.Refuse(second)
	assert.Equal(t, 2.0, mustValue(t, reg, "flagger_canary_total", lbl("namespace", "test")))
	assert.Equal(t, 0.0, mustValue(t, reg, "flagger_canary_status", lbl("name", "podinfo")), "the driven Canary's status")

	c.Forget(second)
	assert.Equal(t, 1.0, mustValue(t, reg, "flagger_canary_total", lbl("namespace", "test")))
	assert.Equal(t, 0.0, mustValue(t, reg, "flagger_canary_status", lbl("name", "podinfo")), "the target's series stay")

	// a Canary moved to another target: the old target's series go, the count stays
	moved := canary.Target{Namespace: "test", Name: "backend", Canary: "podinfo"}
	c.For(moved, spec())
	assert.Equal(t, 1.0, mustValue(t, reg, "flagger_canary_total", lbl("namespace", "test")))
	_, ok := value(t, reg, "flagger_canary_status", lbl("name", "podinfo"))
	assert.False(t, ok, "no Canary names podinfo any more")
	c.Forget(first) // the controller forgets the old target: nothing more goes
	assert.Equal(t, 1.0, mustValue(t, reg, "flagger_canary_total", lbl("namespace", "test")))
}
