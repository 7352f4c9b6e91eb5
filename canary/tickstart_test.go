package canary_test

import (
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every event says when its tick began: the events of one tick share it, and the time a tick
// spends (here 3 s per metric query, in virtual time) shows as Time minus TickStarted.
func TestEventsCarryTheirTicksStart(t *testing.T) {
	env := healthyEnv()
	spec := seedSpec()
	spec.Webhooks = nil
	r := bootstrapped(t, env, spec, "v1")
	env.OnCall(func(call string) {
		if call == "Metrics.Query" {
			env.Clock.Advance(3 * time.Second)
		}
	})
	res := run(t, r)
	require.Equal(t, canary.PhaseSucceeded, res.Phase)

	var advanced []canary.Event
	started := map[time.Time]bool{}
	for _, e := range env.Events.Events() {
		require.False(t, e.TickStarted.IsZero(), "%s has no tick start", e.Reason)
		assert.False(t, e.Time.Before(e.TickStarted), "%s happened before its tick began", e.Reason)
		started[e.TickStarted] = true
		if e.Reason == canary.ReasonAdvanced {
			advanced = append(advanced, e)
		}
	}
	require.Len(t, advanced, 10)
	// the first step runs no checks (they start at the next tick); the others ran two queries
	assert.Equal(t, time.Duration(0), advanced[0].Time.Sub(advanced[0].TickStarted))
	for _, e := range advanced[1:] {
		assert.Equal(t, 6*time.Second, e.Time.Sub(e.TickStarted), e.Message)
	}
	assert.Greater(t, len(started), 10, "ticks have distinct starts")
}
