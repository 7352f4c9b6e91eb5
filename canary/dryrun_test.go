package canary_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/canarykit/canarykit/canary/progress"
)

// A dry-run metric that fails every tick, one without data and one whose checker errs leave a
// good release promoted, step by step, with no failed check; each of their results is reported
// in a DryRun event, marked, and in the Advanced events' checks.
func TestDryRunMetricsNeverDecide(t *testing.T) {
	env := healthyEnv()
	spec := seedSpec()
	spec.Metrics = append(spec.Metrics,
		canary.Metric{Name: "new-error-ratio", Query: "new_errors", ThresholdRange: canary.AtMost(1), DryRun: true},
		canary.Metric{Name: "new-latency", Query: "new_latency", ThresholdRange: canary.AtMost(100), OnNoData: canary.NoDataHold, DryRun: true},
		canary.Metric{Name: "new-judge", DryRun: true})
	env.Metrics.Set("new_errors", canarytest.Constant(7))
	env.Metrics.Set("new_latency", canarytest.NoData())
	cfg := env.Config(spec)
	cfg.Checkers = map[string]canary.Checker{"new-judge": canary.CheckerFunc(func(context.Context, canary.CheckRequest) (canary.CheckResult, error) {
		return canary.CheckResult{}, errors.New("judge exploded")
	})}
	r, err := canary.New(cfg)
	require.NoError(t, err)
	run(t, r)
	env.Workload.SetRevision("v1")
	res := run(t, r)

	requirePromoted(t, env, res, "v1")
	assert.Equal(t, []int{5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 0}, res.Weights, "no step held")
	assert.Zero(t, res.FailedChecks)
	var dry, advanced []canary.Event
	withChecks := 0 // the analysis ticks' decisions that carry the tick's results
	for _, e := range env.Events.Events() {
		if len(e.Checks) > 0 && e.Reason != canary.ReasonDryRun {
			withChecks++
			assert.Len(t, e.Checks, 5, "%s: every result of the tick", e.Reason)
		}
		switch e.Reason {
		case canary.ReasonDryRun:
			dry = append(dry, e)
		case canary.ReasonAdvanced:
			advanced = append(advanced, e)
		case canary.ReasonPromoting:
			assert.Len(t, e.Checks, 5, "the last tick's results go with its decision, the promotion")
		case canary.ReasonHalted, canary.ReasonNoData:
			assert.Failf(t, "a dry-run metric decided", "%s: %s", e.Reason, e.Message)
		}
	}
	// the analysis ticks, one at each weight from 5 to 50, each report the three dry-run results
	ticks := len(res.Weights) - 1
	require.Equal(t, 3*ticks, len(dry))
	assert.Equal(t, ticks, withChecks, "one decision with its results per analysis tick (the last tick's is the promotion)")
	byCheck := map[string]int{}
	for _, e := range dry {
		byCheck[e.Check]++
		assert.Equal(t, canary.EventNormal, e.Type, "not a warning: nothing happened to the release")
		assert.Contains(t, e.Message, "not counted")
	}
	assert.Equal(t, map[string]int{"new-error-ratio": ticks, "new-latency": ticks, "new-judge": ticks}, byCheck)
	assert.Equal(t, "Dry-run metric new-error-ratio of podinfo.test: new-error-ratio 7.00 > 1 (fail, not counted)", dry[0].Message)
	assert.Contains(t, dry[2].Message, "judge exploded")

	last := advanced[len(advanced)-1]
	require.Len(t, last.Checks, 5)
	for _, c := range last.Checks[2:] {
		assert.True(t, c.DryRun, c.Name)
	}
	assert.Equal(t, canary.VerdictFail, last.Checks[2].Verdict)
	assert.Equal(t, canary.VerdictNoData, last.Checks[3].Verdict)
	assert.Equal(t, canary.VerdictError, last.Checks[4].Verdict)
	line := progress.Line(0, last)
	assert.Contains(t, line, "✘ new-error-ratio 7.00 (want <= 1) (dry-run)")
	assert.Contains(t, line, "? new-latency no data (dry-run)")
	assert.False(t, strings.Contains(line, "request-success-rate 99.90 (dry-run)"), "counted checks are not marked")
}

// A dry-run metric does not stop a failing counted check from rolling the release back.
func TestDryRunMetricDoesNotMaskFailures(t *testing.T) {
	env := healthyEnv()
	env.Metrics.Set("request-success-rate", canarytest.Constant(80))
	spec := seedSpec()
	spec.Metrics = append(spec.Metrics, canary.Metric{Name: "shadow", Query: "shadow", ThresholdRange: canary.AtMost(1), DryRun: true})
	env.Metrics.Set("shadow", canarytest.Constant(0))
	r := bootstrapped(t, env, spec, "v1")
	res := run(t, r)
	requireRolledBack(t, env, res, "v0")
	assert.Equal(t, spec.Threshold, res.FailedChecks)
	for _, e := range env.Events.Events() {
		if e.Reason == canary.ReasonHalted {
			assert.Equal(t, "request-success-rate", e.Check, "only the counted check halts")
		}
	}
}
