package canary_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writesSpec steps the canary 10 by 10 to 50 with the built-in checks and no webhooks.
func writesSpec() canary.Spec {
	return canary.Spec{Interval: 10 * time.Second, Threshold: 2, MaxWeight: 50, StepWeight: 10,
		Metrics: []canary.Metric{{Name: "request-success-rate", ThresholdRange: canary.AtLeast(99), Interval: time.Minute}}}
}

// phasesOf lists the phase and canary weight of each saved status.
func phasesOf(saved []canary.Status) []string {
	out := make([]string, len(saved))
	for i, st := range saved {
		out[i] = string(st.Phase) + " " + strconv.Itoa(st.CanaryWeight)
	}
	return out
}

// A release saves its status once per tick, as Flagger does: the tick that shifts the traffic
// back to the primary ends the release with one write (Succeeded), not a Finalising write
// followed by a Succeeded one.
func TestReleaseSavesOncePerTick(t *testing.T) {
	env := healthyEnv()
	r := bootstrapped(t, env, writesSpec(), "v2")
	before := len(env.Store.Saved())
	res := run(t, r)
	require.Equal(t, canary.PhaseSucceeded, res.Phase, res.Reason)
	assert.Equal(t, []int{10, 20, 30, 40, 50, 0}, res.Weights)
	saved := env.Store.Saved()[before:]
	assert.Equal(t, []string{"Progressing 0", "Progressing 10", "Progressing 20", "Progressing 30", "Progressing 40",
		"Progressing 50", "Promoting 50", "Succeeded 0"}, phasesOf(saved))
	last := saved[len(saved)-1]
	assert.Equal(t, "promotion completed", last.Message)
	assert.Equal(t, "v2", last.LastPromotedSpec)
	assert.Equal(t, 1, env.Events.Count(canary.ReasonShifted))
	assert.Equal(t, 1, env.Events.Count(canary.ReasonSucceeded))
}

// When the canary cannot be scaled down once the traffic is back on the primary, the release
// keeps the Finalising phase: it is saved at the next tick, before the scale-down is tried
// again, and the release then succeeds.
func TestFinalisingSavedWhenScaleDownFails(t *testing.T) {
	env := healthyEnv()
	r := bootstrapped(t, env, writesSpec(), "v2")
	env.Workload.Calls.Reset()
	env.Workload.Calls.FailNext("ScaleDown", 1, errors.New("apiserver unavailable"))
	before := len(env.Store.Saved())
	res := run(t, r)
	require.Equal(t, canary.PhaseSucceeded, res.Phase, res.Reason)
	saved := phasesOf(env.Store.Saved()[before:])
	require.GreaterOrEqual(t, len(saved), 3)
	assert.Equal(t, []string{"Promoting 50", "Finalising 0", "Succeeded 0"}, saved[len(saved)-3:])
	assert.Equal(t, 2, env.Workload.Calls.Count("ScaleDown"), "the failed scale-down, then the one that worked")
	assert.Equal(t, 1, env.Events.Count(canary.ReasonError))
	assert.Equal(t, 1, env.Events.Count(canary.ReasonShifted), "the traffic is shifted once")
}
