package canary_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
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

// A release saves its status once per tick: the tick that shifts the traffic back to the
// primary ends the release with one write (Succeeded), where Flagger writes Finalising and, a
// tick later, Succeeded.
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

// A new release keeps the last release's StartedAt until its own first step replaces it: the
// release's start does not change it, and the checks of the new release see its own start,
// never the last one's.
func TestStartedAtReplacedAtTheFirstStep(t *testing.T) {
	env := healthyEnv()
	spec := writesSpec()
	spec.Metrics = append(spec.Metrics, canary.Metric{Name: "judge", ThresholdRange: canary.AtLeast(90)})
	var mu sync.Mutex
	seen := map[string][]time.Time{} // revision → the Started of each check request
	cfg := env.Config(spec)
	cfg.Checkers = map[string]canary.Checker{"judge": canary.CheckerFunc(func(_ context.Context, req canary.CheckRequest) (canary.CheckResult, error) {
		mu.Lock()
		seen[req.Revision] = append(seen[req.Revision], req.Started)
		mu.Unlock()
		return canary.CheckResult{Value: 95, Verdict: canary.VerdictPass, Threshold: req.Metric.ThresholdRange}, nil
	})}
	r, err := canary.New(cfg)
	require.NoError(t, err)
	run(t, r) // initialisation

	startOf := func() time.Time {
		es := env.Events.Events()
		var last time.Time
		for _, e := range es {
			if e.Reason == canary.ReasonStarted {
				last = e.Time
			}
		}
		return last
	}
	env.Workload.SetRevision("v2")
	require.Equal(t, canary.PhaseSucceeded, run(t, r).Phase)
	first := startOf()
	require.False(t, first.IsZero())

	env.Clock.Advance(time.Hour)
	env.Workload.SetRevision("v3")
	before := len(env.Store.Saved())
	require.Equal(t, canary.PhaseSucceeded, run(t, r).Phase)
	second := startOf()
	require.True(t, second.After(first))
	saved := env.Store.Saved()[before:]
	require.GreaterOrEqual(t, len(saved), 2)
	assert.Equal(t, canary.PhaseProgressing, saved[0].Phase)
	assert.Zero(t, saved[0].CanaryWeight)
	assert.True(t, saved[0].StartedAt.Equal(first), "the new revision's save keeps the last release's start")
	for _, st := range saved[1:] {
		assert.True(t, st.StartedAt.Equal(second), "%s %d: saved with the release's own start", st.Phase, st.CanaryWeight)
	}
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, seen["v3"])
	for _, s := range seen["v3"] {
		assert.True(t, s.Equal(second), "a check of v3 saw the start %s, not v3's %s", s, second)
	}
}
