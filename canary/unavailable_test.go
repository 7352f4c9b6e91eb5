package canary_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
)

// outage is a metric provider in front of the Env's Metrics that cannot reach its backend
// while down says so, by query and the number of that query's calls so far, from 1 (the
// checks of a tick run concurrently: their order is not the Spec's).
type outage struct {
	next canary.MetricProvider
	down func(query string, call int) bool

	mu    sync.Mutex
	calls map[string]int
}

func (o *outage) Query(ctx context.Context, q string) (float64, error) {
	o.mu.Lock()
	if o.calls == nil {
		o.calls = map[string]int{}
	}
	o.calls[q]++
	n := o.calls[q]
	o.mu.Unlock()
	if o.down(q, n) {
		return 0, fmt.Errorf("could not reach Prometheus at http://prometheus.monitoring:9090: connection refused: %w", canary.ErrUnavailable)
	}
	return o.next.Query(ctx, q)
}

func withOutage(t *testing.T, env *canarytest.Env, spec canary.Spec, down func(string, int) bool) *canary.Rollout {
	t.Helper()
	cfg := env.Config(spec)
	cfg.Metrics = &outage{next: env.Metrics, down: down}
	r, err := canary.New(cfg)
	require.NoError(t, err)
	res := run(t, r)
	require.Equal(t, canary.PhaseInitialized, res.Phase)
	env.Workload.SetRevision("v1")
	return r
}

func eventsOf(env *canarytest.Env, reason canary.Reason) []canary.Event {
	var out []canary.Event
	for _, e := range env.Events.Events() {
		if e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

// A provider that cannot be reached for a while (shorter than the progress deadline) holds
// the step: no failed check is counted, the events say the provider was unreachable, and the
// release goes on when it answers again.
func TestUnavailableProviderHoldsTheStep(t *testing.T) {
	env := healthyEnv()
	spec := seedSpec()                                                                // interval 30s, progress deadline 60s, two checks per tick
	r := withOutage(t, env, spec, func(_ string, call int) bool { return call <= 2 }) // two ticks
	res := run(t, r)
	requirePromoted(t, env, res, "v1")
	assert.Zero(t, res.FailedChecks, "an unreachable provider is not a failed measurement")
	assert.Zero(t, env.Events.Count(canary.ReasonHalted))
	held := eventsOf(env, canary.ReasonUnavailable)
	require.Len(t, held, 4, "one event per check and held tick")
	msg := held[0].Message
	assert.Contains(t, msg, "Halt podinfo.test advancement metric request-success-rate not measured: could not reach Prometheus at http://prometheus.monitoring:9090")
	assert.True(t, strings.HasSuffix(msg, "(holding)"), msg)
	assert.Equal(t, canary.EventWarning, held[0].Type)
	require.NotEmpty(t, held[0].Checks)
	assert.Equal(t, canary.VerdictUnavailable, held[0].Checks[0].Verdict)
	assert.ErrorIs(t, held[0].Checks[0].Err, canary.ErrUnavailable)
	// The held ticks did not advance: the weights still go 5, 10, ... by one step per tick.
	adv := eventsOf(env, canary.ReasonAdvanced)
	require.GreaterOrEqual(t, len(adv), 2)
	assert.Equal(t, "Advance podinfo.test canary weight 5", adv[0].Message)
	assert.Equal(t, "Advance podinfo.test canary weight 10", adv[1].Message)
	assert.Equal(t, spec.Interval*3, adv[1].Time.Sub(adv[0].Time), "two held ticks between the first two steps")
}

// A provider that stays unreachable is not held forever: once it has been unavailable for the
// progress deadline, each further check counts as failed, and the threshold rolls back.
func TestUnavailableProviderCountsAfterTheProgressDeadline(t *testing.T) {
	env := healthyEnv()
	spec := seedSpec()
	r := withOutage(t, env, spec, func(string, int) bool { return true })
	res := run(t, r)
	assert.Equal(t, canary.PhaseFailed, res.Phase)
	assert.Equal(t, spec.Threshold, res.FailedChecks)
	cause, _ := rollbackCause(t, env)
	assert.Equal(t, canary.CauseThreshold, cause)

	held := eventsOf(env, canary.ReasonUnavailable)
	require.NotEmpty(t, held)
	halted := eventsOf(env, canary.ReasonHalted)
	require.NotEmpty(t, halted)
	first := held[0].Time
	assert.GreaterOrEqual(t, halted[0].Time.Sub(first), spec.ProgressDeadline, "held until the progress deadline")
	assert.Len(t, held, 2*int(spec.ProgressDeadline/spec.Interval), "every tick before the deadline held, both checks")
	assert.Contains(t, halted[0].Message, "past the progress deadline: counted as a failed check")
	assert.Contains(t, halted[0].Message, "could not reach Prometheus")
}

// A tick where one check failed on its value counts even if another provider was unreachable.
func TestMeasuredFailureCountsDespiteAnUnavailableCheck(t *testing.T) {
	env := healthyEnv()
	env.Metrics.Set("request-duration", canarytest.Constant(900)) // over 500 ms
	spec := seedSpec()
	r := withOutage(t, env, spec, func(q string, _ int) bool { return q == "request-success-rate" })
	res := run(t, r)
	assert.Equal(t, canary.PhaseFailed, res.Phase)
	assert.Equal(t, spec.Threshold, res.FailedChecks)
	halted := strings.Join(env.Events.Messages(), "\n")
	assert.Contains(t, halted, "request-duration 900.00 > 500")
	assert.Zero(t, env.Events.Count(canary.ReasonUnavailable), "not held: the tick failed")
}

// A Checker whose error wraps ErrUnavailable holds the step like a provider's.
func TestUnavailableCheckerHolds(t *testing.T) {
	env := healthyEnv()
	spec := seedSpec()
	spec.Metrics = []canary.Metric{{Name: "judge"}}
	calls := 0
	cfg := env.Config(spec)
	cfg.Checkers = map[string]canary.Checker{"judge": canary.CheckerFunc(func(context.Context, canary.CheckRequest) (canary.CheckResult, error) {
		calls++
		if calls == 1 {
			return canary.CheckResult{}, fmt.Errorf("fetch samples: %w", canary.ErrUnavailable)
		}
		return canary.CheckResult{Verdict: canary.VerdictPass}, nil
	})}
	r, err := canary.New(cfg)
	require.NoError(t, err)
	run(t, r)
	env.Workload.SetRevision("v1")
	res := run(t, r)
	requirePromoted(t, env, res, "v1")
	assert.Zero(t, res.FailedChecks)
	assert.Equal(t, 1, env.Events.Count(canary.ReasonUnavailable))
}
