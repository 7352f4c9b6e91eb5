package canary_test

import (
	"context"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The split queries as the doubles know them: rendered templates without variables are
// themselves.
const (
	splitCanaryQ = "split-canary"
	splitTotalQ  = "split-total"
)

// splitEnv is a healthy Env whose mesh counts total requests per window and gives the canary
// canaryShare(weight) of them.
func splitEnv(total float64, canaryShare func(weight int) float64) *canarytest.Env {
	env := healthyEnv()
	env.Metrics.Set(splitTotalQ, canarytest.Constant(total))
	env.Metrics.Set(splitCanaryQ, canarytest.ByWeight(func(w int) float64 { return total * canaryShare(w) }))
	return env
}

// splitRollout is a Rollout of the seed spec with the split check under policy, released to
// rev; onEvent sees every event after the Env's recorder.
func splitRollout(t *testing.T, env *canarytest.Env, policy canary.SplitPolicy, onEvent func(*canary.Rollout, canary.Event)) *canary.Rollout {
	t.Helper()
	spec := seedSpec()
	spec.SplitCheck = policy
	cfg := env.Config(spec)
	cfg.Split = &canary.SplitQueries{Canary: splitCanaryQ, Total: splitTotalQ}
	var r *canary.Rollout
	cfg.OnEvent = func(e canary.Event) {
		env.Events.Handle(e)
		if onEvent != nil {
			onEvent(r, e)
		}
	}
	r, err := canary.New(cfg)
	require.NoError(t, err)
	res, err := r.Run(context.Background())
	require.NoError(t, err)
	require.Equal(t, canary.PhaseInitialized, res.Phase)
	env.Workload.SetRevision("3.1.1")
	return r
}

// bypassed gives the canary nothing: every request reaches the primary's pods directly.
func bypassed(int) float64 { return 0 }

// followed gives the canary exactly its weight.
func followed(w int) float64 { return float64(w) / 100 }

// abortAfter aborts the release at the n-th TrafficNotSplit event.
func abortAfter(n int) func(*canary.Rollout, canary.Event) {
	seen := 0
	return func(r *canary.Rollout, e canary.Event) {
		if e.Reason == canary.ReasonTrafficNotSplit {
			if seen++; seen == n {
				r.Abort()
			}
		}
	}
}

func notSplit(env *canarytest.Env) []canary.Event {
	var out []canary.Event
	for _, e := range env.Events.Events() {
		if e.Reason == canary.ReasonTrafficNotSplit {
			out = append(out, e)
		}
	}
	return out
}

func TestSplitFollowedPromotesWithoutWarning(t *testing.T) {
	env := splitEnv(400, followed)
	r := splitRollout(t, env, "", nil)
	res := run(t, r)
	requirePromoted(t, env, res, "3.1.1")
	assert.Equal(t, []int{5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 0}, res.Weights)
	assert.Empty(t, notSplit(env))
	assert.Positive(t, env.Metrics.Calls.Counts()["Query"], "the split was measured")
}

func TestSplitBypassHoldsTheWeight(t *testing.T) {
	env := splitEnv(400, bypassed)
	var weightAtFirst int
	var tickOfFirst time.Duration
	var stepAt time.Time
	abort := abortAfter(3)
	r := splitRollout(t, env, canary.SplitHold, func(r *canary.Rollout, e canary.Event) {
		if e.Reason == canary.ReasonAdvanced && stepAt.IsZero() {
			stepAt = e.Time
		}
		if e.Reason == canary.ReasonTrafficNotSplit && tickOfFirst == 0 {
			weightAtFirst, tickOfFirst = e.Weights.Canary, e.Time.Sub(stepAt)
		}
		abort(r, e)
	})
	res := run(t, r)

	assert.Equal(t, canary.PhaseFailed, res.Phase)
	assert.Equal(t, canary.CauseAborted, res.Cause)
	assert.Equal(t, []int{5, 0}, res.Weights, "held at the first step until aborted")
	ev := notSplit(env)
	require.Len(t, ev, 3, "one warning per held tick")
	assert.Equal(t, 5, weightAtFirst)
	assert.Equal(t, 2*seedSpec().Interval, tickOfFirst, "detected at the second tick after the first weight step")
	e := ev[0]
	assert.Equal(t, canary.EventWarning, e.Type)
	assert.Equal(t, "Traffic to podinfo.test does not follow the split: the canary's weight is 5% but it answered 0.0% of the 400 requests of the last 30s (2 checks in a row)."+
		" Likely causes: clients or an ingress outside the mesh send to the pods directly, bypassing the split;"+
		" the mesh does not read this route object (an API version it does not serve, another mesh's object);"+
		" or the mesh rejected the route. Holding the canary weight at 5 (split check: hold).", e.Message)
	require.NotNil(t, e.Split)
	assert.Equal(t, canary.SplitMeasure{Weight: 5, Canary: 0, Total: 400, Window: 30 * time.Second, Short: true}, *e.Split)
	assert.Zero(t, res.FailedChecks, "holding counts no failed check")
}

func TestSplitBypassWarnAdvances(t *testing.T) {
	env := splitEnv(400, bypassed)
	r := splitRollout(t, env, canary.SplitWarn, nil)
	res := run(t, r)
	requirePromoted(t, env, res, "3.1.1")
	assert.Equal(t, []int{5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 0}, res.Weights)
	ev := notSplit(env)
	// short from the tick after weight 5; the second short tick is at weight 10; one warning per weight
	var weights []int
	for _, e := range ev {
		weights = append(weights, e.Split.Weight)
		assert.Contains(t, e.Message, "Advancing anyway (split check: warn).")
	}
	assert.Equal(t, []int{10, 15, 20, 25, 30, 35, 40, 45, 50}, weights)
}

func TestSplitBypassFailRollsBack(t *testing.T) {
	env := splitEnv(400, bypassed)
	r := splitRollout(t, env, canary.SplitFail, nil)
	res := run(t, r)
	assert.Equal(t, canary.PhaseFailed, res.Phase)
	assert.Equal(t, canary.CauseSplitNotFollowed, res.Cause)
	assert.Equal(t, "traffic not split as set: canary weight 5, measured 0.0%", res.Reason)
	assert.Equal(t, []int{5, 0}, res.Weights)
	w, _ := env.Router.Current(env.Target)
	assert.Equal(t, canary.AllPrimary(), w)
	require.Len(t, notSplit(env), 1)
	assert.Contains(t, notSplit(env)[0].Message, "Rolling back (split check: fail).")
}

func TestSplitShortOfHalfTheWeightOnly(t *testing.T) {
	// 60 % of its weight is under what was set, but not "far less": no warning
	env := splitEnv(1000, func(w int) float64 { return 0.6 * float64(w) / 100 })
	res := run(t, splitRollout(t, env, canary.SplitHold, nil))
	requirePromoted(t, env, res, "3.1.1")
	assert.Empty(t, notSplit(env))

	// 40 % of it is
	env = splitEnv(1000, func(w int) float64 { return 0.4 * float64(w) / 100 })
	res = run(t, splitRollout(t, env, canary.SplitFail, nil))
	assert.Equal(t, canary.CauseSplitNotFollowed, res.Cause)
}

func TestSplitTooLittleTrafficConcludesNothing(t *testing.T) {
	// at weight w the canary is due 150×w/100 requests: under SplitMinExpected (10) below
	// weight 7, so the bypass is seen from weight 10 on (two ticks at 10: the first holds)
	env := splitEnv(150, bypassed)
	res := run(t, splitRollout(t, env, canary.SplitFail, nil))
	assert.Equal(t, canary.CauseSplitNotFollowed, res.Cause)
	assert.Equal(t, []int{5, 10, 0}, res.Weights)

	// with no traffic at all, nothing is ever concluded
	env = splitEnv(0, bypassed)
	res = run(t, splitRollout(t, env, canary.SplitFail, nil))
	requirePromoted(t, env, res, "3.1.1")
	assert.Empty(t, notSplit(env))
}

func TestSplitHoldContinuesOnceTheTrafficFollows(t *testing.T) {
	env := healthyEnv()
	env.Metrics.Set(splitTotalQ, canarytest.Constant(400))
	// the ingress is fixed after a few minutes: the canary then gets its weight
	env.Metrics.Set(splitCanaryQ, canarytest.After(3*time.Minute, canarytest.Constant(0),
		canarytest.ByWeight(func(w int) float64 { return 4 * float64(w) })))
	res := run(t, splitRollout(t, env, canary.SplitHold, nil))
	requirePromoted(t, env, res, "3.1.1")
	assert.Equal(t, []int{5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 0}, res.Weights)
	ev := notSplit(env)
	require.NotEmpty(t, ev)
	for _, e := range ev {
		assert.Equal(t, 5, e.Split.Weight, "held at 5 until the traffic followed")
	}
}

func TestSplitNoDataIsInconclusive(t *testing.T) {
	env := healthyEnv()
	env.Metrics.Set(splitTotalQ, canarytest.NoData())
	env.Metrics.Set(splitCanaryQ, canarytest.NoData())
	res := run(t, splitRollout(t, env, canary.SplitFail, nil))
	requirePromoted(t, env, res, "3.1.1")
	assert.Empty(t, notSplit(env))
}

func TestSplitOffMeasuresNothing(t *testing.T) {
	env := splitEnv(400, bypassed)
	queries := 0
	env.Metrics.Set(splitTotalQ, func(canarytest.Sample) float64 { queries++; return 400 })
	res := run(t, splitRollout(t, env, canary.SplitOff, nil))
	requirePromoted(t, env, res, "3.1.1")
	assert.Zero(t, queries)
	assert.Empty(t, notSplit(env))
}

func TestSplitNotMeasuredForABTesting(t *testing.T) {
	env := splitEnv(400, bypassed)
	spec := seedSpec()
	spec.StepWeight, spec.MaxWeight = 0, 0
	spec.Iterations = 3
	spec.Match = []canary.Match{{Headers: map[string]canary.StringMatch{"x-canary": {Exact: "insider"}}}}
	spec.SplitCheck = canary.SplitFail
	cfg := env.Config(spec)
	cfg.Split = &canary.SplitQueries{Canary: splitCanaryQ, Total: splitTotalQ}
	r, err := canary.New(cfg)
	require.NoError(t, err)
	run(t, r)
	env.Workload.SetRevision("3.1.1")
	res := run(t, r)
	requirePromoted(t, env, res, "3.1.1")
	assert.Empty(t, notSplit(env))
}

func TestSplitConfigValidated(t *testing.T) {
	env := healthyEnv()
	spec := seedSpec()
	spec.SplitCheck = "maybe"
	cfg := env.Config(spec)
	cfg.Split = &canary.SplitQueries{Canary: "{{ nope }}"}
	_, err := canary.New(cfg)
	require.ErrorIs(t, err, canary.ErrInvalidSpec)
	assert.Contains(t, err.Error(), `splitCheck: must be one of warn, hold, fail, off (default hold), got "maybe"`)
	assert.Contains(t, err.Error(), "config.Split.Total: required")

	spec.SplitCheck = canary.SplitHold
	cfg = env.Config(spec)
	cfg.Split = &canary.SplitQueries{Canary: "{{ nope }}", Total: splitTotalQ}
	_, err = canary.New(cfg)
	require.ErrorIs(t, err, canary.ErrInvalidSpec)
	assert.Contains(t, err.Error(), "config.Split.Canary:")
}

func TestSplitMeasuredWhileMetricChecksFail(t *testing.T) {
	// the canary's checks have no data at the first tick after the step (its load test has
	// not started yet), as in seed 000: the split is measured all the same
	env := splitEnv(400, bypassed)
	env.Metrics.Set("request-success-rate", canarytest.FromCall(2, canarytest.NoData(), canarytest.Constant(99.9)))
	var stepAt, firstAt time.Time
	abort := abortAfter(1)
	r := splitRollout(t, env, canary.SplitHold, func(r *canary.Rollout, e canary.Event) {
		if e.Reason == canary.ReasonAdvanced && stepAt.IsZero() {
			stepAt = e.Time
		}
		if e.Reason == canary.ReasonTrafficNotSplit && firstAt.IsZero() {
			firstAt = e.Time
		}
		abort(r, e)
	})
	res := run(t, r)
	assert.Equal(t, []int{5, 0}, res.Weights)
	assert.Equal(t, 1, res.FailedChecks, "the tick without data counted")
	assert.Equal(t, 2*seedSpec().Interval, firstAt.Sub(stepAt), "detected at the second tick after the first step")
}
