package canary_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
)

// meeting is a metric provider in front of the Env's Metrics whose first query waits for the
// other to answer (or for its wait to run out: checks run one after another wait it out), so
// that the Spec's second check answers first. It records the order of the answers.
type meeting struct {
	next   canary.MetricProvider
	first  string        // the query that waits
	giveUp time.Duration // how long it waits

	mu       sync.Mutex
	answered chan struct{} // closed when the other query of the tick has answered
	order    []string      // the queries in the order they answered
}

func (m *meeting) Query(ctx context.Context, q string) (float64, error) {
	m.mu.Lock()
	if m.answered == nil {
		m.answered = make(chan struct{})
	}
	answered := m.answered
	m.mu.Unlock()
	if q == m.first {
		select {
		case <-answered:
		case <-ctx.Done():
		case <-time.After(m.giveUp):
		}
	}
	v, err := m.next.Query(ctx, q)
	m.mu.Lock()
	m.order = append(m.order, q)
	if q == m.first {
		m.answered = nil // the next tick's queries meet anew
	} else {
		close(answered)
	}
	m.mu.Unlock()
	return v, err
}

// The checks of a tick query at once (a tick takes its slowest query's time, not their sum),
// and their results keep the Spec's order whichever answers first.
func TestChecksOfATickRunConcurrently(t *testing.T) {
	env := healthyEnv()
	spec := seedSpec()
	m := &meeting{next: env.Metrics, first: spec.Metrics[0].Name, giveUp: time.Second}
	cfg := env.Config(spec)
	cfg.Metrics = m
	r, err := canary.New(cfg)
	require.NoError(t, err)
	require.Equal(t, canary.PhaseInitialized, run(t, r).Phase)
	env.Workload.SetRevision("v1")
	res := run(t, r)
	requirePromoted(t, env, res, "v1")

	require.NotEmpty(t, m.order)
	for i := 0; i+1 < len(m.order); i += 2 {
		assert.Equal(t, []string{"request-duration", "request-success-rate"}, m.order[i:i+2], "the second check answered first")
	}
	advanced := eventsOf(env, canary.ReasonAdvanced)
	require.Greater(t, len(advanced), 1)
	for _, e := range advanced[1:] { // the first step runs no checks
		require.Len(t, e.Checks, 2)
		assert.Equal(t, "request-success-rate", e.Checks[0].Name, "the Spec's order")
		assert.Equal(t, "request-duration", e.Checks[1].Name)
	}
}

// A Checker that panics panics in Run's goroutine, as it did when the checks ran one after
// another: a caller that recovers there (the driver gives its claim up) still sees it.
func TestCheckerPanicReachesRunsCaller(t *testing.T) {
	env := healthyEnv()
	spec := seedSpec()
	spec.Metrics = append(spec.Metrics, canary.Metric{Name: "judge"})
	cfg := env.Config(spec)
	cfg.Checkers = map[string]canary.Checker{"judge": canary.CheckerFunc(func(context.Context, canary.CheckRequest) (canary.CheckResult, error) {
		panic("judge: index out of range")
	})}
	r, err := canary.New(cfg)
	require.NoError(t, err)
	require.Equal(t, canary.PhaseInitialized, run(t, r).Phase)
	env.Workload.SetRevision("v1")
	assert.PanicsWithValue(t, "judge: index out of range", func() { _, _ = r.Run(context.Background()) })
}
