package metrics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/canarykit/canarykit/canary"
)

func newSeq(t *testing.T, opts SequentialOptions) *Sequential {
	t.Helper()
	if opts.Source == nil {
		opts.Source = CountsFunc(func(context.Context, CountRequest) ([]StepCounts, error) { return nil, nil })
	}
	s, err := NewSequential(opts)
	require.NoError(t, err)
	return s
}

func TestSequentialOptionsRefusedAtOnce(t *testing.T) {
	_, err := NewSequential(SequentialOptions{Alpha: 0.7, Beta: -1, Tolerance: 0.5, Regression: 0.4, LearningRate: 2, MinSamples: -1, Timeout: -time.Second})
	require.ErrorIs(t, err, ErrInvalidOptions)
	for _, want := range []string{"Source: required", "Alpha: must be in (0, 0.5]", "Beta: must be in (0, 0.5]", "Tolerance: must be a finite number of at least 1",
		"Regression: must be a finite number above Tolerance", "LearningRate: must be in (0, 1]", "MinSamples: must not be negative", "Timeout: must not be negative"} {
		assert.Contains(t, err.Error(), want)
	}
	_, err = NewSequential(SequentialOptions{Source: CountsFunc(nil), Alpha: math.NaN(), Regression: math.Inf(1)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Alpha")
	assert.Contains(t, err.Error(), "Regression")
}

// stepLogLR is the conditional binomial likelihood ratio, computed here from its definition.
func TestStepLogLR(t *testing.T) {
	c, p := Counts{Requests: 100, Errors: 4}, Counts{Requests: 900, Errors: 16}
	pi := func(theta float64) float64 { return theta * 100 / (theta*100 + 900) }
	binom := func(pr float64) float64 { return math.Pow(pr, 4) * math.Pow(1-pr, 16) }
	assert.InDelta(t, math.Log(binom(pi(2))/binom(pi(1.25))), stepLogLR(c, p, 1.25, 2), 1e-12)
	assert.Zero(t, stepLogLR(Counts{Requests: 10}, Counts{Requests: 10}, 1, 2), "no errors: no evidence")
	assert.Zero(t, stepLogLR(Counts{Requests: 10, Errors: 3}, Counts{}, 1, 2), "no primary: no evidence")
	assert.Positive(t, stepLogLR(Counts{Requests: 100, Errors: 10}, Counts{Requests: 100, Errors: 1}, 1, 2))
	assert.Negative(t, stepLogLR(Counts{Requests: 100, Errors: 1}, Counts{Requests: 100, Errors: 10}, 1, 2))
}

// poissonSteps draws n steps of Poisson errors: the canary with share of rps requests at
// ratio × the primary's error rate.
func poissonSteps(rnd *rand.Rand, n int, rps, share, errRate, ratio float64) []StepCounts {
	out := make([]StepCounts, n)
	for i := range out {
		nc, np := poisson(rnd, rps*share), poisson(rnd, rps*(1-share))
		out[i] = StepCounts{
			Canary:  Counts{Requests: float64(nc), Errors: float64(poisson(rnd, float64(nc)*errRate*ratio))},
			Primary: Counts{Requests: float64(np), Errors: float64(poisson(rnd, float64(np)*errRate))},
		}
	}
	return out
}

// The error bounds hold however long the test looks: over 2000 simulated releases of 300
// steps each, a canary at the tolerance fails at most Alpha of the time, and a canary at the
// regression passes at most Beta of the time; a clear regression fails and a good canary
// passes almost always.
func TestSequentialErrorBounds(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates 8000 releases")
	}
	s := newSeq(t, SequentialOptions{Alpha: 0.05, Beta: 0.05, LearningRate: 1})
	rnd := rand.New(rand.NewPCG(1, 2))
	const n = 2000
	count := func(ratio float64, d SequentialDecision) int {
		k := 0
		for range n {
			if s.Test(poissonSteps(rnd, 300, 600, 0.1, 0.01, ratio)).Decision == d {
				k++
			}
		}
		return k
	}
	atTolerance := count(DefaultSequentialTolerance, SequentialRegression)
	atRegression := count(DefaultRegression, SequentialNoRegression)
	t.Logf("false rollbacks at the tolerance %d/%d, passed regressions %d/%d", atTolerance, n, atRegression, n)
	assert.LessOrEqual(t, atTolerance, n*5/100)
	assert.LessOrEqual(t, atRegression, n*5/100)
	assert.GreaterOrEqual(t, count(3, SequentialRegression), n*99/100)
	assert.GreaterOrEqual(t, count(1, SequentialNoRegression), n*99/100)
}

func TestSequentialDecisionsAreSticky(t *testing.T) {
	s := newSeq(t, SequentialOptions{LearningRate: 1, Tolerance: 1})
	bad := StepCounts{Canary: Counts{Requests: 1000, Errors: 40}, Primary: Counts{Requests: 1000, Errors: 10}}
	good := StepCounts{Canary: Counts{Requests: 1000, Errors: 10}, Primary: Counts{Requests: 1000, Errors: 10}}

	rep := s.Test([]StepCounts{bad, good, good, good, good, good})
	assert.Equal(t, SequentialRegression, rep.Decision, "a regression found stays found")
	assert.Equal(t, 1, rep.DecidedAt)
	assert.Less(t, rep.LogLR, rep.MaxLogLR)

	rep = s.Test([]StepCounts{good, good, good, good, good})
	require.Equal(t, SequentialNoRegression, rep.Decision)
	rep = s.Test([]StepCounts{good, good, good, good, good, bad, bad, bad, bad, bad, bad, bad})
	assert.Equal(t, SequentialRegression, rep.Decision, "a pass does not shield a regression found later")

	rep = s.Test([]StepCounts{{Primary: Counts{Requests: 100, Errors: 1}}})
	assert.Equal(t, SequentialContinue, rep.Decision)
	assert.Zero(t, rep.Steps, "steps without canary traffic do not count")

	floor := newSeq(t, SequentialOptions{LearningRate: 1, Tolerance: 1, MinSamples: 8})
	rep = floor.Test([]StepCounts{good, good, good, good, good})
	assert.Equal(t, SequentialContinue, rep.Decision, "no pass before MinSamples steps")
	rep = floor.Test([]StepCounts{good, good, good, good, good, good, good, good})
	assert.Equal(t, SequentialNoRegression, rep.Decision)
	assert.Equal(t, 8, rep.DecidedAt)
}

// Counts from a query (extrapolated, possibly negative after a counter reset, NaN) are
// cleaned before they are used.
func TestCountsCleaned(t *testing.T) {
	assert.Equal(t, Counts{Requests: 10, Errors: 3}, Counts{Requests: 10.4, Errors: 2.6}.clean())
	assert.Equal(t, Counts{Requests: 5, Errors: 5}, Counts{Requests: 5, Errors: 9}.clean())
	assert.Equal(t, Counts{}, Counts{Requests: -3, Errors: 1}.clean())
	assert.Equal(t, Counts{}, Counts{Requests: math.NaN()}.clean())
	assert.Equal(t, Counts{Requests: 7}, Counts{Requests: 7, Errors: math.NaN()}.clean())
	assert.Equal(t, Counts{}, Counts{Requests: math.Inf(1), Errors: 1}.clean())
}

func TestSequentialCheckVerdicts(t *testing.T) {
	var steps []StepCounts
	var seen CountRequest
	src := CountsFunc(func(_ context.Context, req CountRequest) ([]StepCounts, error) { seen = req; return steps, nil })
	s := newSeq(t, SequentialOptions{Source: src, LearningRate: 1, Tolerance: 1})
	started := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	req := canary.CheckRequest{Metric: canary.Metric{Name: "seq", Interval: time.Minute}, Target: canary.Target{Namespace: "test", Name: "podinfo"}, Started: started}

	res, err := s.Check(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, canary.VerdictNoData, res.Verdict, "no canary traffic yet")
	require.ErrorIs(t, res.Err, canary.ErrNoData)
	assert.Equal(t, started, seen.Started)
	assert.Equal(t, "podinfo", seen.Target.Name)

	steps = []StepCounts{{Canary: Counts{Requests: 100, Errors: 2}, Primary: Counts{Requests: 1900, Errors: 19}}}
	res, err = s.Check(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, canary.VerdictInconclusive, res.Verdict)
	require.ErrorIs(t, res.Err, ErrInconclusive)
	assert.Equal(t, 2.0, res.Value, "the observed ratio")
	assert.Equal(t, canary.AtMost(2), res.Threshold)

	for range 10 {
		steps = append(steps, StepCounts{Canary: Counts{Requests: 100, Errors: 4}, Primary: Counts{Requests: 1900, Errors: 19}})
	}
	res, err = s.Check(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, canary.VerdictFail, res.Verdict)
	assert.True(t, strings.HasPrefix(res.Message, "seq Regression: error ratio canary/primary 3.82 (canary 42/1100 failed, primary 209/20900 failed), evidence log "), res.Message)

	broken := newSeq(t, SequentialOptions{Source: CountsFunc(func(context.Context, CountRequest) ([]StepCounts, error) {
		return nil, errors.New("prometheus down")
	})})
	_, err = broken.Check(context.Background(), req)
	assert.ErrorContains(t, err, "sequential seq: counts: prometheus down")
}

// PrometheusCounts renders both queries for canary and primary, counts steps of the metric's
// interval from the release's start, and aligns the steps: a missing errors value is 0, a step
// without canary requests has none, extrapolated counts are rounded by the test.
func TestPrometheusCountsAlignsSteps(t *testing.T) {
	f := newPromFake(t, func(_ int, r request) (int, string) {
		q := r.Form["query"]
		canaryQ := strings.Contains(q, `deployment="podinfo"`)
		switch {
		case strings.Contains(q, "failure") && canaryQ:
			return 200, matrixJSON("2.2") // only the first step had a failure series
		case strings.Contains(q, "failure"):
			return 200, matrixJSON("1", "0", "3")
		case canaryQ:
			return 200, matrixJSON("10", "20.4", "30")
		}
		return 200, matrixJSON("100", "200", "300")
	})
	now := time.Date(2026, 1, 1, 12, 0, 47, 0, time.UTC)
	src, err := NewPrometheusCounts(newTestProm(t, f.URL, PrometheusOptions{}), PrometheusCountsOptions{Clock: clocktesting.NewFakePassiveClock(now)})
	require.NoError(t, err)
	got, err := src.Counts(ctxFor(t, time.Minute), CountRequest{Target: canary.Target{Namespace: "test", Name: "podinfo"},
		Metric: canary.Metric{Interval: 30 * time.Second}, Started: now.Add(-2 * time.Minute)})
	require.NoError(t, err)
	require.Len(t, got, 3)
	t0 := time.Unix(1767225600, 0)
	assert.Equal(t, []StepCounts{
		{Time: t0, Canary: Counts{10, 2.2}, Primary: Counts{100, 1}},
		{Time: t0.Add(30 * time.Second), Canary: Counts{20.4, 0}, Primary: Counts{200, 0}},
		{Time: t0.Add(time.Minute), Canary: Counts{30, 0}, Primary: Counts{300, 3}},
	}, got)
	reqs := f.requests()
	require.Len(t, reqs, 4)
	assert.Equal(t, `sum(increase(response_total{namespace="test",deployment="podinfo",direction="inbound"}[30s]))`, reqs[0].Form["query"])
	assert.Equal(t, `sum(increase(response_total{namespace="test",deployment="podinfo-primary",direction="inbound",classification="failure"}[30s]))`, reqs[3].Form["query"])
	assert.Equal(t, "30", reqs[0].Form["step"])
	assert.Equal(t, strconv.FormatInt(time.Date(2026, 1, 1, 11, 59, 17, 0, time.UTC).Unix(), 10), reqs[0].Form["start"], "one step after the release's start")
	assert.Equal(t, strconv.FormatInt(time.Date(2026, 1, 1, 12, 0, 47, 0, time.UTC).Unix(), 10), reqs[0].Form["end"], "a whole number of steps after it")

	_, err = NewPrometheusCounts(nil, PrometheusCountsOptions{RequestsQuery: "x{"})
	require.ErrorIs(t, err, ErrInvalidOptions)
	assert.ErrorContains(t, err, "Prometheus: required")
	assert.ErrorContains(t, err, "set both or neither")
}

// The test keeps no state: a new checker (a restarted driver, another replica) reaches the
// same evidence from the same counts, and a new revision — a new StartedAt — starts from none.
func TestSequentialRecomputedFromTheReleaseStart(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var all []StepCounts
	for i := range 30 {
		errs := 30.0 // a regression for the first 20 minutes, then a new, good revision
		if i >= 20 {
			errs = 10
		}
		all = append(all, StepCounts{Time: t0.Add(time.Duration(i) * time.Minute),
			Canary: Counts{Requests: 1000, Errors: errs}, Primary: Counts{Requests: 9000, Errors: 90}})
	}
	src := CountsFunc(func(_ context.Context, req CountRequest) ([]StepCounts, error) {
		var out []StepCounts
		for _, s := range all {
			if !s.Time.Before(req.Started) {
				out = append(out, s)
			}
		}
		return out, nil
	})
	req := canary.CheckRequest{Metric: canary.Metric{Name: "seq"}, Started: t0}
	first, err := newSeq(t, SequentialOptions{Source: src}).Evaluate(context.Background(), req)
	require.NoError(t, err)
	again, err := newSeq(t, SequentialOptions{Source: src}).Evaluate(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, first, again)
	assert.Equal(t, SequentialRegression, first.Decision)

	req.Started = t0.Add(20 * time.Minute)
	fresh, err := newSeq(t, SequentialOptions{Source: src}).Evaluate(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, 10, fresh.Steps)
	assert.Equal(t, SequentialNoRegression, fresh.Decision, "the new revision's evidence only")
}

// workloadTraffic is a fake Prometheus' traffic of one set of pods: rps requests per second,
// a share of them failed, from one time to another.
type workloadTraffic struct {
	from, to    time.Time
	rps, failed float64
}

// served counts the requests (or failures) the pods answered in (a, b].
func (w workloadTraffic) served(a, b time.Time, failures bool) float64 {
	lo, hi := maxTime(a, w.from), minTime(b, w.to)
	if !hi.After(lo) {
		return 0
	}
	n := hi.Sub(lo).Seconds() * w.rps
	if failures {
		n *= w.failed
	}
	return n
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// A release that starts seconds after the previous one was rolled back: the rolled-back
// canary's pods (the same Deployment, so the same series' labels) answered 2× the primary's
// errors until just before the new start. Every step PrometheusCounts returns covers the
// new release's time only, so their errors are not the new canary's and the test sees a canary
// failing exactly like its primary: no evidence of a regression at any step.
func TestPrometheusCountsOnlyCountTheReleasesOwnTime(t *testing.T) {
	started := time.Date(2026, 1, 1, 12, 0, 10, 0, time.UTC) // off the 30 s grid
	now := started.Add(5*time.Minute + 7*time.Second)
	traffic := map[string][]workloadTraffic{
		"podinfo": {
			{from: started.Add(-10 * time.Minute), to: started.Add(-2 * time.Second), rps: 10, failed: 0.2}, // rolled back
			{from: started, to: now, rps: 10, failed: 0.1},                                                  // the new revision
		},
		"podinfo-primary": {{from: started.Add(-time.Hour), to: now, rps: 90, failed: 0.1}},
	}
	f := newPromFake(t, func(_ int, r request) (int, string) {
		deployment := "podinfo"
		if strings.Contains(r.Form["query"], `deployment="podinfo-primary"`) {
			deployment = "podinfo-primary"
		}
		failures := strings.Contains(r.Form["query"], `classification="failure"`)
		start, err1 := strconv.ParseFloat(r.Form["start"], 64)
		end, err2 := strconv.ParseFloat(r.Form["end"], 64)
		step, err3 := strconv.ParseFloat(r.Form["step"], 64)
		if err := errors.Join(err1, err2, err3); err != nil || step <= 0 {
			return 400, errorJSON("bad_data", fmt.Sprint("range: ", err))
		}
		var result []map[string]any
		for i, w := range traffic[deployment] { // one series per pod set, as increase() per pod
			var pts [][]any
			for ts := start; ts <= end; ts += step {
				t1 := time.UnixMilli(int64(math.Round(ts * 1000)))
				v := w.served(t1.Add(-time.Duration(step*float64(time.Second))), t1, failures)
				pts = append(pts, []any{ts, strconv.FormatFloat(v, 'f', -1, 64)})
			}
			result = append(result, map[string]any{"metric": map[string]string{"pod": strconv.Itoa(i)}, "values": pts})
		}
		return 200, successJSON("matrix", result)
	})
	src, err := NewPrometheusCounts(newTestProm(t, f.URL, PrometheusOptions{}), PrometheusCountsOptions{Clock: clocktesting.NewFakePassiveClock(now)})
	require.NoError(t, err)
	req := CountRequest{Target: canary.Target{Namespace: "test", Name: "podinfo"}, Metric: canary.Metric{Interval: 30 * time.Second}, Started: started}
	steps, err := src.Counts(ctxFor(t, time.Minute), req)
	require.NoError(t, err)
	require.Len(t, steps, 10, "ten whole steps in 5m7s")
	for i, s := range steps {
		assert.False(t, s.Time.Add(-30*time.Second).Before(started), "step %d at %s begins before the release", i, s.Time)
		assert.Equal(t, Counts{Requests: 300, Errors: 30}, s.Canary, "step %d at %s: the new revision's traffic only", i, s.Time)
		assert.Equal(t, Counts{Requests: 2700, Errors: 270}, s.Primary, "step %d", i)
	}
	rep := newSeq(t, SequentialOptions{Source: src, Tolerance: 1, LearningRate: 1}).Test(steps)
	assert.LessOrEqual(t, rep.MaxLogLR, 0.0, "no step is evidence of a regression")
	assert.Equal(t, SequentialNoRegression, rep.Decision)
	assert.InDelta(t, 1, rep.Ratio(), 1e-9)

	// before the release's first whole step there is nothing to count, and nothing is asked
	before := len(f.requests())
	early, err := NewPrometheusCounts(newTestProm(t, f.URL, PrometheusOptions{}), PrometheusCountsOptions{Clock: clocktesting.NewFakePassiveClock(started.Add(29 * time.Second))})
	require.NoError(t, err)
	steps, err = early.Counts(ctxFor(t, time.Minute), req)
	require.NoError(t, err)
	assert.Empty(t, steps)
	assert.Equal(t, before, len(f.requests()))
}
