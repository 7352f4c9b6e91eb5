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

// Ticks are due at a fixed rate, as Flagger's ticker runs them: the 6 s a tick spends in its
// queries (virtual time) does not push the next step back, so consecutive steps begin one
// interval apart; a tick slower than the interval is followed by the next at once.
func TestTicksRunAtAFixedRate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		query time.Duration // virtual time per metric query
		want  time.Duration // between the starts of two consecutive steps
	}{
		{name: "ticks shorter than the interval", query: 3 * time.Second, want: 30 * time.Second},
		{name: "ticks longer than the interval", query: 20 * time.Second, want: 40 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := healthyEnv()
			spec := seedSpec() // interval 30 s, two metrics per tick
			spec.Webhooks = nil
			r := bootstrapped(t, env, spec, "v1")
			env.OnCall(func(call string) {
				if call == "Metrics.Query" {
					env.Clock.Advance(tc.query)
				}
			})
			res := run(t, r)
			require.Equal(t, canary.PhaseSucceeded, res.Phase)
			var starts []time.Time
			for _, e := range env.Events.Events() {
				if e.Reason == canary.ReasonAdvanced {
					starts = append(starts, e.TickStarted)
				}
			}
			require.Len(t, starts, 10)
			// the first step runs no checks, so the second begins one interval after it
			assert.Equal(t, spec.Interval, starts[1].Sub(starts[0]))
			for i := 2; i < len(starts); i++ {
				assert.Equal(t, tc.want, starts[i].Sub(starts[i-1]), "step %d", i+1)
			}
		})
	}
}
