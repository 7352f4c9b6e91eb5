package canary_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNothingToReleaseBootstrapsAndReturns(t *testing.T) {
	env := healthyEnv()
	env.Workload.SetPrimaryHealth(canarytest.Health{ReadyAfter: 45 * time.Second})
	r, err := env.New(seedSpec())
	require.NoError(t, err)

	res := run(t, r)
	assert.False(t, res.Released)
	assert.Equal(t, canary.PhaseInitialized, res.Phase)
	assert.Equal(t, "v0", res.Revision)
	assert.Equal(t, "no new revision", res.Reason)
	// the primary became ready after 45s: two 30s waits
	assert.Equal(t, time.Minute, res.Duration())
	assert.False(t, env.Workload.CanaryScaledUp(), "target scaled to zero once the primary is ready")
	w, _ := env.Router.Current(env.Target)
	assert.Equal(t, canary.AllPrimary(), w)
	st := env.Store.Current(env.Target)
	assert.Equal(t, "v0", st.LastPromotedSpec)
	assert.Equal(t, "v0", st.LastAppliedSpec)
	requireOrder(t, env.Events.Messages(), "Initialization done! podinfo.test")

	// a second Run with nothing new returns at once and writes nothing
	env.ResetCalls()
	res = run(t, r)
	assert.False(t, res.Released)
	assert.Equal(t, canary.PhaseInitialized, res.Phase)
	assert.Zero(t, env.Calls()["Store.Save"])
	assert.Zero(t, env.Calls()["Router.SetWeights"])
}

func TestWeightedCanaryPromotes(t *testing.T) {
	env := healthyEnv()
	r := bootstrapped(t, env, seedSpec(), "3.1.1")
	res := run(t, r)

	requirePromoted(t, env, res, "3.1.1")
	assert.Equal(t, []int{5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 0}, res.Weights)
	assert.Equal(t, "promotion completed", res.Reason)
	assert.Zero(t, res.FailedChecks)
	requireOrder(t, env.Events.Messages(),
		"New revision detected! Scaling up podinfo.test",
		"Starting canary analysis for podinfo.test",
		"Pre-rollout check acceptance-test passed",
		"Advance podinfo.test canary weight 5",
		"Advance podinfo.test canary weight 10",
		"Advance podinfo.test canary weight 50",
		"Copying podinfo.test template spec to podinfo-primary.test",
		"Routing all traffic to primary",
		"Promotion completed! Scaling down podinfo.test")
	// scale-up tick, then 10 weight steps, one analysis at max weight (copy to the primary) and
	// the tick that finds the primary ready: 12 intervals of 30s
	assert.Equal(t, 12*30*time.Second, res.Duration())
}

func TestStrategies(t *testing.T) {
	match := []canary.Match{{Headers: map[string]canary.StringMatch{"x-canary": {Exact: "insider"}}}}
	cases := []struct {
		name     string
		edit     func(*canary.Spec)
		weights  []int
		messages []string
	}{
		{
			name:    "stepWeights",
			edit:    func(s *canary.Spec) { s.StepWeight, s.MaxWeight, s.StepWeights = 0, 0, []int{1, 2, 10, 80} },
			weights: []int{1, 2, 10, 80, 0},
		},
		{
			name:    "maxWeight caps the last step",
			edit:    func(s *canary.Spec) { s.StepWeight, s.MaxWeight = 20, 50 },
			weights: []int{20, 40, 50, 0},
		},
		{
			name:    "stepWeightPromotion shifts back gradually",
			edit:    func(s *canary.Spec) { s.StepWeight, s.MaxWeight, s.StepWeightPromotion = 25, 50, 20 },
			weights: []int{25, 50, 30, 10, 0},
			messages: []string{"Advance podinfo.test primary weight 70", "Advance podinfo.test primary weight 90",
				"Routing all traffic to primary"},
		},
		{
			name:    "A/B testing routes matching requests for N iterations",
			edit:    func(s *canary.Spec) { s.StepWeight, s.MaxWeight, s.Iterations, s.Match = 0, 0, 3, match },
			weights: []int{100, 0},
			messages: []string{"Advance podinfo.test canary iteration 1/3", "Advance podinfo.test canary iteration 3/3",
				"Copying podinfo.test template spec to podinfo-primary.test"},
		},
		{
			name:    "blue/green switches all traffic after N iterations",
			edit:    func(s *canary.Spec) { s.StepWeight, s.MaxWeight, s.Iterations = 0, 0, 2 },
			weights: []int{100, 0},
			messages: []string{"Advance podinfo.test canary iteration 1/2", "Advance podinfo.test canary iteration 2/2",
				"Routing all traffic to canary", "Copying podinfo.test template spec to podinfo-primary.test",
				"Routing all traffic to primary"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := healthyEnv()
			spec := seedSpec()
			c.edit(&spec)
			r := bootstrapped(t, env, spec, "v1")
			res := run(t, r)
			requirePromoted(t, env, res, "v1")
			assert.Equal(t, c.weights, res.Weights)
			requireOrder(t, env.Events.Messages(), c.messages...)
			if len(spec.Match) > 0 {
				assert.Equal(t, spec.Match, r.Target().Match, "the router sees the spec's match")
			}
		})
	}
}

func TestThresholdRollsBack(t *testing.T) {
	env := healthyEnv()
	r := bootstrapped(t, env, seedSpec(), "3.1.2")
	env.Metrics.Set("request-success-rate", canarytest.Sequence(99.9, 90))
	res := run(t, r)

	requireRolledBack(t, env, res, "v0")
	assert.Equal(t, 5, res.FailedChecks)
	assert.Equal(t, "failed checks threshold reached 5", res.Reason)
	cause, _ := rollbackCause(t, env)
	assert.Equal(t, canary.CauseThreshold, cause)
	assert.Equal(t, []int{5, 10, 0}, res.Weights, "first check passes at 5, the rest fail at 10")
	for _, e := range env.Events.Events() {
		if e.Reason == canary.ReasonRollingBack {
			assert.Equal(t, 10, e.Weights.Canary, "the rollback event tells the weight the canary failed at")
		}
	}
	assert.Equal(t, 5, env.Events.Count(canary.ReasonHalted))
	requireOrder(t, env.Events.Messages(),
		"Advance podinfo.test canary weight 10",
		"Halt podinfo.test advancement request-success-rate 90.00 < 99",
		"Rolling back podinfo.test failed checks threshold reached 5",
		"Canary failed! Scaling down podinfo.test")
	// every halted event carries every check result, with resolved query, value and threshold
	for _, e := range env.Events.Events() {
		if e.Reason != canary.ReasonHalted {
			continue
		}
		require.Len(t, e.Checks, 2)
		assert.Equal(t, "request-success-rate", e.Check, "the event names the check it is about")
		c := e.Checks[0]
		assert.Equal(t, "request-success-rate", c.Name)
		assert.Equal(t, "request-success-rate", c.Query)
		assert.Equal(t, 90.0, c.Value)
		assert.Equal(t, canary.VerdictFail, c.Verdict)
		assert.Equal(t, ">= 99", c.Threshold.String())
		assert.Equal(t, canary.VerdictPass, e.Checks[1].Verdict)
	}
}

func TestCanaryReadiness(t *testing.T) {
	t.Run("slow canary waits without failing", func(t *testing.T) {
		env := healthyEnv()
		env.Workload.SetCanaryHealth(canarytest.Health{ReadyAfter: 50 * time.Second})
		r := bootstrapped(t, env, seedSpec(), "v1")
		res := run(t, r)
		requirePromoted(t, env, res, "v1")
		assert.Zero(t, res.FailedChecks)
		assert.Equal(t, 1, env.Events.Count(canary.ReasonNotReady))
		for _, e := range env.Events.Events() {
			if e.Reason == canary.ReasonNotReady { // as Flagger records a canary not ready yet
				assert.Equal(t, canary.EventWarning, e.Type, e.Message)
			}
		}
	})
	t.Run("never ready rolls back after the progress deadline", func(t *testing.T) {
		env := healthyEnv()
		env.Workload.SetCanaryHealth(canarytest.Health{Never: true})
		r := bootstrapped(t, env, seedSpec(), "v1")
		res := run(t, r)
		requireRolledBack(t, env, res, "v0")
		assert.Contains(t, res.Reason, "progress deadline exceeded")
		cause, _ := rollbackCause(t, env)
		assert.Equal(t, canary.CauseProgressDeadline, cause)
		assert.Empty(t, res.Weights)
		// scaled up at t0, deadline 60s, ticks every 30s: rolled back on the tick at 60s
		assert.Equal(t, 60*time.Second, res.Duration())
	})
	t.Run("non-retriable failure rolls back at once", func(t *testing.T) {
		env := healthyEnv()
		env.Workload.SetCanaryHealth(canarytest.Health{Fail: true})
		r := bootstrapped(t, env, seedSpec(), "v1")
		res := run(t, r)
		requireRolledBack(t, env, res, "v0")
		assert.Equal(t, "progress deadline exceeded: canary progress deadline exceeded", res.Reason)
		assert.Equal(t, 30*time.Second, res.Duration())
	})
	t.Run("skipAnalysis promotes a ready canary without traffic", func(t *testing.T) {
		env := healthyEnv()
		spec := seedSpec()
		spec.SkipAnalysis = true
		env.Metrics.Set("request-success-rate", canarytest.Constant(0))
		r := bootstrapped(t, env, spec, "v1")
		res := run(t, r)
		requirePromoted(t, env, res, "v1")
		assert.Empty(t, res.Weights)
		assert.Zero(t, env.Metrics.Calls.Count("Query"))
		assert.True(t, has(env.Events.Messages(), "Promotion completed! Canary analysis was skipped for podinfo.test"))
	})
	t.Run("skipAnalysis still rolls back a canary that never becomes ready", func(t *testing.T) {
		env := healthyEnv()
		spec := seedSpec()
		spec.SkipAnalysis = true
		env.Workload.SetCanaryHealth(canarytest.Health{Fail: true})
		r := bootstrapped(t, env, spec, "v1")
		requireRolledBack(t, env, run(t, r), "v0")
	})
}

func TestRevisionChanges(t *testing.T) {
	t.Run("new revision during analysis restarts it", func(t *testing.T) {
		env := healthyEnv()
		r := bootstrapped(t, env, seedSpec(), "v1")
		env.Events.Then = func(e canary.Event) {
			if e.Message == "Advance podinfo.test canary weight 20" {
				env.Workload.SetRevision("v2")
			}
		}
		res := run(t, r)
		requirePromoted(t, env, res, "v2")
		assert.Equal(t, "v2", res.Revision)
		assert.Equal(t, []int{5, 10, 15, 20, 0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 0}, res.Weights)
		requireOrder(t, env.Events.Messages(), "Advance podinfo.test canary weight 20",
			"New revision detected! Restarting analysis for podinfo.test",
			"Starting canary analysis for podinfo.test", "Advance podinfo.test canary weight 5")
	})
	t.Run("revert to the promoted revision abandons the release", func(t *testing.T) {
		env := healthyEnv()
		r := bootstrapped(t, env, seedSpec(), "v1")
		env.Events.Then = func(e canary.Event) {
			if e.Message == "Advance podinfo.test canary weight 10" {
				env.Workload.SetRevision("v0")
			}
		}
		res := run(t, r)
		requireRolledBack(t, env, res, "v0")
		assert.Equal(t, "target reverted to the promoted revision v0", res.Reason)
		cause, _ := rollbackCause(t, env)
		assert.Equal(t, canary.CauseReverted, cause)
		// and the revert does not start a release
		res = run(t, r)
		assert.False(t, res.Released)
	})
	t.Run("a failed revision is not released again", func(t *testing.T) {
		env := healthyEnv()
		r := bootstrapped(t, env, seedSpec(), "v1")
		env.Metrics.Set("request-success-rate", canarytest.Constant(50))
		requireRolledBack(t, env, run(t, r), "v0")
		res := run(t, r)
		assert.False(t, res.Released)
		assert.Equal(t, canary.PhaseFailed, res.Phase)
	})
}

func TestNoDataPolicies(t *testing.T) {
	for _, c := range []struct {
		policy canary.NoDataPolicy
		phase  canary.Phase
		failed int
	}{
		{canary.NoDataFail, canary.PhaseFailed, 5},
		{canary.NoDataIgnore, canary.PhaseSucceeded, 0},
	} {
		t.Run(string(c.policy), func(t *testing.T) {
			env := healthyEnv()
			spec := seedSpec()
			spec.Metrics[0].OnNoData = c.policy
			env.Metrics.Set("request-success-rate", canarytest.NoData())
			res := run(t, bootstrapped(t, env, spec, "v1"))
			assert.Equal(t, c.phase, res.Phase)
			assert.Equal(t, c.failed, res.FailedChecks)
		})
	}
	t.Run("hold neither advances nor counts", func(t *testing.T) {
		env := healthyEnv()
		spec := seedSpec()
		spec.Metrics[0].OnNoData = canary.NoDataHold
		// no data for the first 4 queries (no traffic yet), then good values
		env.Metrics.Set("request-success-rate", canarytest.FromCall(5, canarytest.NoData(), canarytest.Constant(99.9)))
		res := run(t, bootstrapped(t, env, spec, "v1"))
		requirePromoted(t, env, res, "v1")
		assert.Zero(t, res.FailedChecks)
		assert.Equal(t, 4, env.Events.Count(canary.ReasonNoData))
		held := env.Events.Events()[slicesIndexReason(env.Events.Events(), canary.ReasonNoData)]
		assert.Equal(t, "request-success-rate", held.Check, "the event names the check it is about")
		msg := held.Message
		assert.Contains(t, msg, "no values found for metric request-success-rate")
		assert.Contains(t, msg, "query request-success-rate", "the resolved query is in the message")
	})
}

func slicesIndexReason(es []canary.Event, r canary.Reason) int {
	for i, e := range es {
		if e.Reason == r {
			return i
		}
	}
	return -1
}

func TestPromotionFailure(t *testing.T) {
	env := healthyEnv()
	r := bootstrapped(t, env, seedSpec(), "v1")
	env.Events.Then = func(e canary.Event) {
		if e.Reason == canary.ReasonPromoting {
			env.Workload.SetPrimaryHealth(canarytest.Health{Fail: true})
		}
	}
	res := run(t, r)
	assert.Equal(t, canary.PhaseFailed, res.Phase)
	w, _ := env.Router.Current(env.Target)
	assert.Equal(t, canary.AllCanary(), w, "the canary is the only healthy copy of the new revision")
	assert.True(t, env.Workload.CanaryScaledUp())
	assert.Contains(t, res.Reason, "promotion failed, primary not ready")
	failed := env.Events.Events()[len(env.Events.Events())-1]
	assert.Equal(t, canary.CausePromotionFailed, failed.Cause)
}

func TestCheckersAndTemplates(t *testing.T) {
	env := healthyEnv()
	spec := seedSpec()
	spec.Metrics = append(spec.Metrics,
		canary.Metric{Name: "errors", ThresholdRange: canary.AtMost(1), Interval: 2 * time.Minute,
			Query:     `sum(rate(errors{ns="{{ namespace }}",app="{{ target }}",svc="{{ service }}",n="{{ name }}",dir="{{ variables.direction }}"}[{{ interval }}]))`,
			Variables: map[string]string{"direction": "inbound"}},
		canary.Metric{Name: "judge", ThresholdRange: canary.AtLeast(90)})
	env.Metrics.Set(`sum(rate(errors{ns="test",app="podinfo",svc="podinfo",n="podinfo",dir="inbound"}[2m]))`, canarytest.Constant(0.5))
	var (
		mu        sync.Mutex // a step's checks run side by side
		seen      []canary.CheckRequest
		unbounded int
	)
	cfg := env.Config(spec)
	cfg.Checkers = map[string]canary.Checker{"judge": canary.CheckerFunc(func(ctx context.Context, req canary.CheckRequest) (canary.CheckResult, error) {
		_, bounded := ctx.Deadline()
		mu.Lock()
		defer mu.Unlock()
		if !bounded {
			unbounded++
		}
		seen = append(seen, req)
		return canary.CheckResult{Value: 95, Verdict: canary.VerdictPass, Threshold: req.Metric.ThresholdRange}, nil
	})}
	r, err := canary.New(cfg)
	require.NoError(t, err)
	run(t, r)
	env.Workload.SetRevision("v1")
	res := run(t, r)
	requirePromoted(t, env, res, "v1")
	require.NotEmpty(t, seen)
	assert.Zero(t, unbounded, "checkers are bounded by the interval")
	assert.Equal(t, "judge", seen[0].Metric.Name)
	assert.Equal(t, "v1", seen[0].Revision)
	assert.Equal(t, 30*time.Second, seen[0].Interval)
	started := env.Events.Events()[slicesIndexReason(env.Events.Events(), canary.ReasonStarted)].Time
	for _, req := range seen {
		assert.Equal(t, started, req.Started, "the release's analysis start, on every tick")
	}
	last := env.Events.Events()[slicesIndexReason(env.Events.Events(), canary.ReasonAdvanced)+1]
	require.Len(t, last.Checks, 4)
	assert.Equal(t, "judge", last.Checks[3].Name)
	assert.Equal(t, 0.5, last.Checks[2].Value)
}

func TestMetricWithItsOwnProvider(t *testing.T) {
	env := healthyEnv()
	spec := seedSpec()
	other := &canarytest.Metrics{}
	other.Set(`errors{app="podinfo"}`, canarytest.Constant(3))
	spec.Metrics = append(spec.Metrics, canary.Metric{Name: "errors", Query: `errors{app="{{ target }}"}`,
		ThresholdRange: canary.AtMost(1), Provider: other})
	r := bootstrapped(t, env, spec, "v1")
	res := run(t, r)
	require.Equal(t, canary.PhaseFailed, res.Phase)
	assert.Positive(t, other.Calls.Count("Query"), "the metric's own provider answered")
	var failed canary.CheckResult
	for _, e := range env.Events.Events() {
		for _, c := range e.Checks {
			if c.Name == "errors" {
				failed = c
			}
		}
	}
	assert.Equal(t, 3.0, failed.Value, "only the metric's own provider knows this query")
	assert.Equal(t, canary.VerdictFail, failed.Verdict)

	// a provider on every querying metric makes Config.Metrics optional
	cfg := env.Config(canary.Spec{StepWeight: 10, MaxWeight: 50,
		Metrics: []canary.Metric{{Name: "errors", Query: "errors", ThresholdRange: canary.AtMost(1), Provider: other}}})
	cfg.Metrics = nil
	_, err := canary.New(cfg)
	require.NoError(t, err)
	cfg.Spec.Metrics[0].Provider = nil
	_, err = canary.New(cfg)
	require.ErrorContains(t, err, "config.Metrics: required: analysis.metrics[0] (errors) queries a metric provider")
}

func TestAdapterErrors(t *testing.T) {
	t.Run("transient errors are retried at the next tick", func(t *testing.T) {
		env := healthyEnv()
		r := bootstrapped(t, env, seedSpec(), "v1")
		boom := errors.New("connection refused")
		env.Router.Calls.FailNext("SetWeights", 2, boom)
		env.Workload.Calls.FailNext("Observe", 1, boom)
		env.Store.Calls.FailNext("Save", 2, boom)
		res := run(t, r)
		requirePromoted(t, env, res, "v1")
		assert.Equal(t, 5, env.Events.Count(canary.ReasonError))
		assert.Equal(t, []int{5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 0}, res.Weights)
	})
	t.Run("a store conflict stops the run", func(t *testing.T) {
		env := healthyEnv()
		r := bootstrapped(t, env, seedSpec(), "v1")
		env.Store.Calls.FailNext("Save", 1, fmt.Errorf("wrapped: %w", canary.ErrConflict))
		res, err := r.Run(context.Background())
		require.ErrorIs(t, err, canary.ErrConflict)
		var re *canary.RolloutError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, "save status", re.Op)
		assert.Equal(t, canary.PhaseProgressing, res.Phase)
	})
	t.Run("a router that cannot match refuses the A/B release before any change", func(t *testing.T) {
		env := healthyEnv()
		env.Router.NoMatch = true
		spec := seedSpec()
		spec.StepWeight, spec.MaxWeight, spec.Iterations = 0, 0, 3
		spec.Match = []canary.Match{{Headers: map[string]canary.StringMatch{"x": {Exact: "y"}}}}
		r, err := env.New(spec)
		require.NoError(t, err)
		_, err = r.Run(context.Background())
		require.ErrorIs(t, err, canary.ErrMatchUnsupported)
		assert.Zero(t, env.Calls()["Router.SetWeights"])
		assert.Zero(t, env.Calls()["Workload.ScaleDown"])
	})
	t.Run("a primary that never becomes ready fails the bootstrap", func(t *testing.T) {
		env := healthyEnv()
		env.Workload.SetPrimaryHealth(canarytest.Health{Fail: true})
		r, err := env.New(seedSpec())
		require.NoError(t, err)
		res, err := r.Run(context.Background())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "primary podinfo-primary.test not ready")
		assert.Equal(t, canary.PhaseInitializing, res.Phase)
		assert.Zero(t, env.Calls()["Router.SetWeights"])
	})
	t.Run("concurrent Run is refused", func(t *testing.T) {
		env := healthyEnv()
		r := bootstrapped(t, env, seedSpec(), "v1")
		var second error
		env.Events.Then = func(e canary.Event) {
			if e.Reason == canary.ReasonNewRevision {
				_, second = r.Run(context.Background())
			}
		}
		requirePromoted(t, env, run(t, r), "v1")
		assert.ErrorIs(t, second, canary.ErrAlreadyRunning)
	})
	t.Run("cancellation returns the phase reached", func(t *testing.T) {
		env := healthyEnv()
		r := bootstrapped(t, env, seedSpec(), "v1")
		ctx, cancel := context.WithCancel(context.Background())
		env.Events.Then = func(e canary.Event) {
			if e.Message == "Advance podinfo.test canary weight 25" {
				cancel()
			}
		}
		res, err := r.Run(ctx)
		require.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, canary.PhaseProgressing, res.Phase)
		st := env.Store.Current(env.Target)
		assert.Equal(t, 25, st.CanaryWeight, "the saved status matches the route")
		w, _ := env.Router.Current(env.Target)
		assert.Equal(t, 25, w.Canary)
	})
}

func TestInconclusiveChecksFollowTheNoDataPolicy(t *testing.T) {
	for _, c := range []struct {
		policy canary.NoDataPolicy
		phase  canary.Phase
	}{{canary.NoDataFail, canary.PhaseFailed}, {canary.NoDataHold, canary.PhaseSucceeded}, {canary.NoDataIgnore, canary.PhaseSucceeded}} {
		t.Run(string(c.policy), func(t *testing.T) {
			env := healthyEnv()
			spec := seedSpec()
			spec.Metrics = []canary.Metric{{Name: "judge", OnNoData: c.policy}}
			calls := 0
			cfg := env.Config(spec)
			cfg.Checkers = map[string]canary.Checker{"judge": canary.CheckerFunc(func(context.Context, canary.CheckRequest) (canary.CheckResult, error) {
				calls++
				if calls <= 6 { // marginal for a while, then clear
					return canary.CheckResult{Verdict: canary.VerdictInconclusive, Message: "judge score 60 is marginal"}, nil
				}
				return canary.CheckResult{Verdict: canary.VerdictPass}, nil
			})}
			r, err := canary.New(cfg)
			require.NoError(t, err)
			run(t, r)
			env.Workload.SetRevision("v1")
			res := run(t, r)
			assert.Equal(t, c.phase, res.Phase, res.Reason)
			for _, m := range env.Events.Messages() {
				assert.NotContains(t, m, "not receiving traffic", "an inconclusive check is not worded as missing data")
			}
			if c.policy == canary.NoDataFail {
				assert.True(t, has(env.Events.Messages(), "Halt podinfo.test advancement judge score 60 is marginal"))
			}
		})
	}
}

// A target changed while its primary is being created is released: initialization records the
// primary's revision, not the target's new one.
func TestTargetChangedDuringBootstrapIsReleased(t *testing.T) {
	env := healthyEnv()
	env.Workload.SetPrimaryHealth(canarytest.Health{ReadyAfter: time.Minute})
	env.Events.Then = func(e canary.Event) {
		if e.Reason == canary.ReasonInitializing {
			env.Workload.SetRevision("v1") // kubectl set image, while the primary starts
		}
	}
	r, err := env.New(seedSpec())
	require.NoError(t, err)
	res := run(t, r) // bootstraps, then finds v1 and releases it
	requirePromoted(t, env, res, "v1")
	assert.Equal(t, "v1", res.Revision)
	saved := env.Store.Saved()
	require.Equal(t, canary.PhaseInitialized, saved[1].Phase)
	assert.Equal(t, "v0", saved[1].LastPromotedSpec, "initialization records what the primary runs")
}

// The primary only ever gets the revision that was analysed: a target changed just before the
// copy restarts the analysis instead.
func TestPromoteCopiesOnlyTheAnalysedRevision(t *testing.T) {
	env := healthyEnv()
	r := bootstrapped(t, env, seedSpec(), "v1")
	var copies []string
	env.Events.Then = func(e canary.Event) {
		if e.Reason == canary.ReasonPromoting {
			copies = append(copies, e.Revision)
			if len(copies) == 1 {
				env.Workload.SetRevision("v2") // kubectl set image, at the worst moment
			}
		}
	}
	res := run(t, r)
	requirePromoted(t, env, res, "v2")
	assert.Equal(t, []string{"v1", "v2"}, copies)
	assert.True(t, has(env.Events.Messages(), "New revision detected! Restarting analysis for podinfo.test"))
	var changed bool
	for _, e := range env.Events.Events() {
		changed = changed || (e.Reason == canary.ReasonError && strings.Contains(e.Message, canary.ErrRevisionChanged.Error()))
	}
	assert.True(t, changed, "the refused copy is reported")
}
