package metrics

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
)

// fixedSamples answers every metric from a map by name and records the requests.
type fixedSamples struct {
	mu   sync.Mutex
	by   map[string]Samples
	err  map[string]error
	reqs []SampleRequest
}

func (f *fixedSamples) Samples(_ context.Context, req SampleRequest) (Samples, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, req)
	if err := f.err[req.Metric]; err != nil {
		return Samples{}, err
	}
	return f.by[req.Metric], nil
}

func checkReq(m canary.Metric) canary.CheckRequest {
	return canary.CheckRequest{Metric: m, Target: canary.Target{Namespace: "test", Name: "podinfo"}}
}

func TestNewJudgeReportsEveryProblem(t *testing.T) {
	_, err := NewJudge(JudgeOptions{})
	require.ErrorIs(t, err, ErrInvalidOptions)
	assert.ErrorContains(t, err, "Metrics: required")
	assert.ErrorContains(t, err, "Source: required")

	_, err = NewJudge(JudgeOptions{
		Source: &fixedSamples{},
		Metrics: []JudgeMetric{
			{Name: "a", Direction: "up", Tolerance: -1, MinSamples: -2, OutlierFactor: -3, EffectSize: "cohen"},
			{Name: "a", Query: "{{ nope }}"},
			{BaselineQuery: "x"},
		},
		GroupWeights:  map[string]float64{"missing": 10},
		PassScore:     80,
		MarginalScore: 90,
		Confidence:    1.5,
		Timeout:       -time.Second,
	})
	require.Error(t, err)
	for _, want := range []string{
		`Metrics[0].Direction: want increase, decrease or either, got "up"`,
		"Metrics[0].EffectSize", "Metrics[0].Tolerance", "Metrics[0].MinSamples", "Metrics[0].OutlierFactor",
		`Metrics[1].Name: duplicate metric "a"`,
		`Metrics[1].Query: does not parse`, `function "nope" not defined`,
		"Metrics[2].Name: required", "Metrics[2].BaselineQuery: set without Query",
		`GroupWeights[missing]: no metric is in group "missing"`,
		"want 0 ≤ marginal ≤ pass ≤ 100, got pass 80, marginal 90",
		"Confidence: must be in (0, 1), got 1.5",
		"Timeout: must not be negative",
	} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestJudgeRendersCanaryAndBaselineQueries(t *testing.T) {
	src := &fixedSamples{by: map[string]Samples{
		"errors":  {Canary: normals(1, 30, 1, 0.1), Baseline: normals(2, 30, 1, 0.1)},
		"latency": {Canary: normals(3, 30, 100, 5), Baseline: normals(4, 30, 100, 5)},
	}}
	j, err := NewJudge(JudgeOptions{Source: src, Metrics: []JudgeMetric{
		{Name: "errors", Query: `errors{ns="{{ namespace }}",d="{{ target }}",tier="{{ variables.tier }}"}[{{ interval }}]`},
		{Name: "latency", Query: `p99{d="{{ target }}"}`, BaselineQuery: `p99{d="{{ target }}-baseline"}`},
	}})
	require.NoError(t, err)
	m := canary.Metric{Name: "judge", Interval: 30 * time.Second, Variables: map[string]string{"tier": "web"}}
	res, err := j.Check(context.Background(), checkReq(m))
	require.NoError(t, err)
	assert.Equal(t, canary.VerdictPass, res.Verdict, res.Message)
	assert.Equal(t, 100.0, res.Value)
	assert.Equal(t, canary.AtLeast(95), res.Threshold)
	require.Len(t, src.reqs, 2)
	assert.Equal(t, SampleRequest{Metric: "errors", Target: checkReq(m).Target, Interval: 30 * time.Second,
		CanaryQuery:   `errors{ns="test",d="podinfo",tier="web"}[30s]`,
		BaselineQuery: `errors{ns="test",d="podinfo-primary",tier="web"}[30s]`}, src.reqs[0])
	assert.Equal(t, `p99{d="podinfo"}`, src.reqs[1].CanaryQuery)
	assert.Equal(t, `p99{d="podinfo-baseline"}`, src.reqs[1].BaselineQuery, "a baseline query keeps the canary's variables")
	assert.Contains(t, res.Query, `errors: canary errors{ns="test",d="podinfo",tier="web"}[30s]; baseline errors{ns="test",d="podinfo-primary",tier="web"}[30s]`)

	// A missing variables key is an error, as for Flagger's templates.
	_, err = j.Check(context.Background(), checkReq(canary.Metric{Name: "judge"}))
	require.ErrorContains(t, err, "judge metric errors")
	assert.ErrorContains(t, err, "tier")
}

func TestJudgeVerdicts(t *testing.T) {
	good := Samples{Canary: normals(1, 30, 1, 0.1), Baseline: normals(2, 30, 1, 0.1)}
	bad := Samples{Canary: normals(3, 30, 2, 0.1), Baseline: normals(4, 30, 1, 0.1)}
	newJudge := func(src SampleSource) *Judge {
		j, err := NewJudge(JudgeOptions{Source: src, Metrics: []JudgeMetric{
			{Name: "errors", Direction: DirectionIncrease, Critical: true},
			{Name: "latency", Direction: DirectionIncrease},
		}})
		require.NoError(t, err)
		return j
	}
	req := checkReq(canary.Metric{Name: "judge"})

	res, err := newJudge(&fixedSamples{by: map[string]Samples{"errors": bad, "latency": good}}).Check(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, canary.VerdictFail, res.Verdict)
	assert.Contains(t, res.Message, "judge score 0 < 75 (critical metric errors is High): errors High (critical): canary median 2")

	res, err = newJudge(&fixedSamples{by: map[string]Samples{"errors": good, "latency": bad}}).Check(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, canary.VerdictFail, res.Verdict)
	assert.Equal(t, 50.0, res.Value)

	noData := noDataErr("no series for deployment podinfo")
	res, err = newJudge(&fixedSamples{by: map[string]Samples{"latency": good}, err: map[string]error{"errors": noData}}).Check(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, canary.VerdictNoData, res.Verdict, "a critical metric without data")
	assert.ErrorIs(t, res.Err, canary.ErrNoData)
	assert.Contains(t, res.Message, "critical metric errors has no data: no values found: no series for deployment podinfo")

	broken := errors.New("prometheus unavailable: connection refused")
	_, err = newJudge(&fixedSamples{by: map[string]Samples{"latency": good}, err: map[string]error{"errors": broken}}).Check(context.Background(), req)
	require.ErrorIs(t, err, broken)
	assert.ErrorContains(t, err, "judge metric errors: samples")

	// thresholdRange.min of the Spec metric replaces the pass score.
	j := newJudge(&fixedSamples{by: map[string]Samples{"errors": good, "latency": bad}})
	res, err = j.Check(context.Background(), checkReq(canary.Metric{Name: "judge", ThresholdRange: canary.AtLeast(50)}))
	require.NoError(t, err)
	assert.Equal(t, canary.VerdictPass, res.Verdict, res.Message)
	assert.Equal(t, canary.AtLeast(50), res.Threshold)
}

// noDataErr is a source's no-data error.
func noDataErr(msg string) error { return &wrapNoData{msg} }

type wrapNoData struct{ msg string }

func (e *wrapNoData) Error() string { return canary.ErrNoData.Error() + ": " + e.msg }
func (e *wrapNoData) Unwrap() error { return canary.ErrNoData }

// TestJudgeInARollout binds the judge by name in a Rollout driven by the simulation kit: a
// good canary is promoted, a regressed one rolled back, each in virtual time.
func TestJudgeInARollout(t *testing.T) {
	for _, tc := range []struct {
		name   string
		canary float64
		want   canary.Phase
	}{{"good", 1, canary.PhaseSucceeded}, {"regressed", 3, canary.PhaseFailed}} {
		t.Run(tc.name, func(t *testing.T) {
			env := canarytest.NewEnv(canary.Target{})
			call := uint64(0)
			src := SamplesFunc(func(context.Context, SampleRequest) (Samples, error) {
				call++
				return Samples{Canary: normals(call, 30, tc.canary, 0.2), Baseline: normals(call+1000, 30, 1, 0.2)}, nil
			})
			j, err := NewJudge(JudgeOptions{Source: src, Metrics: []JudgeMetric{{Name: "error-ratio", Direction: DirectionIncrease}}})
			require.NoError(t, err)
			cfg := env.Config(canary.Spec{Interval: time.Minute, StepWeight: 20, MaxWeight: 60, Threshold: 2,
				Metrics: []canary.Metric{{Name: "canary-judge"}}})
			cfg.Checkers = map[string]canary.Checker{"canary-judge": j}
			r, err := canary.New(cfg)
			require.NoError(t, err)
			res, err := releaseV2(ctxFor(t, time.Minute), r, env)
			require.NoError(t, err)
			assert.Equal(t, tc.want, res.Phase, res.Reason)
			if tc.want == canary.PhaseFailed {
				halted := env.Events.Count(canary.ReasonHalted)
				assert.Equal(t, 2, halted)
				for _, e := range env.Events.Events() {
					if e.Reason == canary.ReasonHalted {
						require.Len(t, e.Checks, 1)
						assert.Equal(t, canary.VerdictFail, e.Checks[0].Verdict)
						assert.Contains(t, e.Message, "Halt podinfo.test advancement canary-judge score 0 < 75: error-ratio High")
					}
				}
			}
		})
	}
}

// releaseV2 bootstraps r's target, then releases revision v2 of env's workload and returns
// the result.
func releaseV2(ctx context.Context, r *canary.Rollout, env *canarytest.Env) (canary.Result, error) {
	if _, err := r.Run(ctx); err != nil {
		return canary.Result{}, fmt.Errorf("bootstrap: %w", err)
	}
	env.Workload.SetRevision("v2")
	return r.Run(ctx)
}

// A metric bound to the judge or the sequential test is refused at its path for a setting the
// checker would not honour: before, the judge read a thresholdRange.max as if nothing were set
// (passing at its default score), and a query or provider of the metric was never run.
func TestCheckersRefuseMetricSettingsTheyWouldIgnore(t *testing.T) {
	j, err := NewJudge(JudgeOptions{Source: &fixedSamples{}, Metrics: []JudgeMetric{{Name: "error-ratio"}}})
	require.NoError(t, err)
	sq, err := NewSequential(SequentialOptions{Source: CountsFunc(func(context.Context, CountRequest) ([]StepCounts, error) { return nil, nil })})
	require.NoError(t, err)
	lo, hi := 0.0, 100.0
	for _, tc := range []struct {
		name   string
		metric canary.Metric
		want   []string // "" for a metric the checker honours whole
	}{
		{"judge, min", canary.Metric{Name: "judge", ThresholdRange: canary.AtLeast(90)}, nil},
		{"judge, min at both ends", canary.Metric{Name: "judge", ThresholdRange: canary.Range{Min: &lo}}, nil},
		{"judge, min 100", canary.Metric{Name: "judge", ThresholdRange: canary.Range{Min: &hi}}, nil},
		{"judge, max", canary.Metric{Name: "judge", ThresholdRange: canary.AtMost(90)},
			[]string{"analysis.metrics[0].thresholdRange.max: the statistical judge passes a score at or above a bound: set thresholdRange.min (0 to 100), not max"}},
		{"judge, min past the scores", canary.Metric{Name: "judge", ThresholdRange: canary.AtLeast(101)},
			[]string{"analysis.metrics[0].thresholdRange.min: must be a score from 0 to 100, got 101"}},
		{"judge, query and provider", canary.Metric{Name: "judge", Query: "up", Provider: canary.MetricProviderFunc(nil)},
			[]string{"analysis.metrics[0].query: the statistical judge runs the queries of its own source", "analysis.metrics[0].provider: the statistical judge fetches through its own source"}},
		{"sequential", canary.Metric{Name: "sequential", OnNoData: canary.NoDataHold}, nil},
		{"sequential, threshold", canary.Metric{Name: "sequential", ThresholdRange: canary.AtMost(1)},
			[]string{"analysis.metrics[0].thresholdRange: the sequential test decides by its Regression and Tolerance"}},
		{"sequential, query", canary.Metric{Name: "sequential", Query: "up"},
			[]string{"analysis.metrics[0].query: the sequential test runs the queries of its own source"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := canarytest.NewEnv(canary.Target{Namespace: "test", Name: "podinfo"})
			cfg := env.Config(canary.Spec{Interval: time.Minute, StepWeight: 10, MaxWeight: 50, Threshold: 2, Metrics: []canary.Metric{tc.metric}})
			cfg.Checkers = map[string]canary.Checker{"judge": j, "sequential": sq}
			_, err := canary.New(cfg)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, canary.ErrInvalidSpec)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Empty(t, env.Calls(), "nothing is touched")
		})
	}
}
