package metrics

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
)

// normals returns n seeded normal values.
func normals(seed uint64, n int, mean, sd float64) []float64 {
	rnd := rand.New(rand.NewPCG(seed, seed+1))
	out := make([]float64, n)
	for i := range out {
		out[i] = mean + sd*rnd.NormFloat64()
	}
	return out
}

func TestClassify(t *testing.T) {
	base := normals(1, 40, 100, 5)
	for _, tc := range []struct {
		name   string
		metric JudgeMetric
		canary []float64
		want   Classification
	}{
		{"same distribution", JudgeMetric{}, normals(2, 40, 100, 5), ClassPass},
		{"clearly higher", JudgeMetric{}, normals(3, 40, 120, 5), ClassHigh},
		{"clearly lower", JudgeMetric{}, normals(4, 40, 80, 5), ClassLow},
		{"lower but only increase matters", JudgeMetric{Direction: DirectionIncrease}, normals(4, 40, 80, 5), ClassPass},
		{"higher but only decrease matters", JudgeMetric{Direction: DirectionDecrease}, normals(3, 40, 120, 5), ClassPass},
		{"higher, decrease direction sees lower", JudgeMetric{Direction: DirectionDecrease}, normals(4, 40, 80, 5), ClassLow},
		// +20 % is significant, but a mean ratio of 1.2 does not reach the gate of 1.5.
		{"effect-size gate", JudgeMetric{AllowedIncrease: 1.5}, normals(3, 40, 120, 5), ClassPass},
		{"effect-size gate passed", JudgeMetric{AllowedIncrease: 1.1}, normals(3, 40, 120, 5), ClassHigh},
		{"CLES gate", JudgeMetric{EffectSize: EffectCLES, AllowedIncrease: 0.9}, normals(3, 40, 120, 5), ClassHigh},
		{"too few canary values", JudgeMetric{MinSamples: 50}, normals(3, 40, 120, 5), ClassNoData},
		{"NaN dropped below the minimum", JudgeMetric{MinSamples: 3}, []float64{math.NaN(), 200, math.NaN(), 200}, ClassNoData},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.metric
			m.Name = "m"
			mr := classify(m.withDefaults(), tc.canary, base, DefaultConfidence)
			assert.Equal(t, tc.want, mr.Classification, mr.String())
		})
	}
}

// TestClassifyTolerance follows Kayenta: a shift is High only if the interval's lower bound
// exceeds Tolerance × |estimate|. A significant but imprecise shift (wide interval) passes.
func TestClassifyTolerance(t *testing.T) {
	// 0..29 against 7..36: U's test is significant, the shift estimate is 7 and the 98 %
	// interval starts at 1, below 0.25 × 7.
	base, canary := make([]float64, 30), make([]float64, 30)
	for i := range base {
		base[i], canary[i] = float64(i), float64(i+7)
	}
	mr := classify(JudgeMetric{Name: "m"}.withDefaults(), canary, base, DefaultConfidence)
	require.NotNil(t, mr.Test)
	assert.Equal(t, [2]float64{1, 7}, [2]float64{mr.Test.Lower, mr.Test.Estimate}, mr.String())
	assert.Equal(t, ClassPass, mr.Classification)
	mr = classify(JudgeMetric{Name: "m", Tolerance: 1e-9}.withDefaults(), canary, base, DefaultConfidence)
	assert.Equal(t, ClassHigh, mr.Classification, "without tolerance significance suffices")
}

func TestClassifyDegenerateSamples(t *testing.T) {
	m := JudgeMetric{Name: "errors", MinSamples: 3}.withDefaults()
	mr := classify(m, []float64{0, 0, 0, 0}, []float64{0, 0, 0, 0}, DefaultConfidence)
	assert.Equal(t, ClassPass, mr.Classification)
	assert.Equal(t, "canary and baseline values are identical", mr.Reason)

	mr = classify(m, []float64{0, 0, 0}, []float64{0, 0, 0, 0}, DefaultConfidence)
	assert.Equal(t, ClassPass, mr.Classification)
	assert.Equal(t, "every value is 0", mr.Reason)

	// Two different constants: Kayenta adds noise here; the tie-corrected test needs none.
	mr = classify(m, []float64{2, 2, 2, 2, 2, 2}, []float64{1, 1, 1, 1, 1, 1}, DefaultConfidence)
	assert.Equal(t, ClassHigh, mr.Classification, mr.String())
	assert.Equal(t, 2.0, mr.EffectSize)
}

func TestClassifyOutliers(t *testing.T) {
	base := normals(20, 200, 100, 5)
	canary := append(normals(21, 198, 100, 5), 10_000, 12_000)
	m := JudgeMetric{Name: "latency", Direction: DirectionIncrease}
	assert.Equal(t, 200, classify(m.withDefaults(), canary, base, DefaultConfidence).Canary.N)
	m.OutlierFactor = 3
	mr := classify(m.withDefaults(), canary, base, DefaultConfidence)
	assert.Equal(t, 198, mr.Canary.N, "Kayenta's IQR rule drops what lies beyond both Q3 + 3·IQR and p99")
	assert.Equal(t, 200, mr.Baseline.N)

	assert.Equal(t, []float64{1, 2, 3}, clean([]float64{3, math.NaN(), 1, 2}, 0))
	inf := math.Inf(1)
	assert.Equal(t, []float64{1, inf, inf, inf}, clean([]float64{inf, 1, inf, inf}, 3), "quartiles at +Inf keep everything")
	assert.InDelta(t, 2.5, percentile([]float64{1, 2, 3, 4}, 0.5), 1e-12)
	assert.InDelta(t, 1.75, percentile([]float64{1, 2, 3, 4}, 0.25), 1e-12, "R type 7")
}

func report(metrics ...MetricReport) Report {
	return Report{PassScore: 95, MarginalScore: 75, Metrics: metrics}
}

func mr(name, group string, c Classification, critical bool) MetricReport {
	return MetricReport{Name: name, Group: group, Classification: c, Critical: critical}
}

func TestScore(t *testing.T) {
	equal := map[string]float64{"errors": 1, "latency": 1, "saturation": 1}
	for _, tc := range []struct {
		name    string
		weights map[string]float64
		rep     Report
		score   float64
		outcome Outcome
		reason  string
	}{
		{"all pass", equal, report(mr("a", "errors", ClassPass, false), mr("b", "latency", ClassPass, false)), 100, OutcomePass, ""},
		{"one of two groups high", equal, report(mr("a", "errors", ClassHigh, false), mr("b", "latency", ClassPass, false)), 50, OutcomeFail, ""},
		{"group score is pass over classified", equal, report(mr("a", "errors", ClassHigh, false), mr("b", "errors", ClassPass, false),
			mr("c", "errors", ClassPass, false), mr("d", "errors", ClassPass, false), mr("e", "latency", ClassPass, false)), 87.5, OutcomeMarginal, ""},
		{"weights", map[string]float64{"errors": 70, "latency": 30},
			report(mr("a", "errors", ClassPass, false), mr("b", "latency", ClassLow, false)), 70, OutcomeFail, ""},
		{"no-data group renormalized away", equal,
			report(mr("a", "errors", ClassPass, false), mr("b", "latency", ClassPass, false), mr("c", "saturation", ClassNoData, false)), 100, OutcomePass, ""},
		{"critical high", equal, report(mr("a", "errors", ClassHigh, true), mr("b", "latency", ClassPass, false),
			mr("c", "saturation", ClassPass, false)), 0, OutcomeFail, "critical metric a is High"},
		{"critical no data", equal, report(mr("a", "errors", ClassNoData, true), mr("b", "latency", ClassPass, false),
			mr("c", "saturation", ClassPass, false)), 100, OutcomeNoData, "critical metric a has no data: "},
		{"half without data", equal, report(mr("a", "errors", ClassNoData, false), mr("b", "latency", ClassPass, false)),
			100, OutcomeNoData, "1 of 2 metrics have no data"},
		{"rounded to two decimals", map[string]float64{"errors": 1},
			report(mr("a", "errors", ClassPass, false), mr("b", "errors", ClassPass, false), mr("c", "errors", ClassHigh, false)), 66.67, OutcomeFail, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.rep
			r.score(tc.weights)
			assert.Equal(t, tc.score, r.Score)
			assert.Equal(t, tc.outcome, r.Outcome)
			assert.Equal(t, tc.reason, r.Reason)
		})
	}
}

func TestGroupWeightsLikeKayenta(t *testing.T) {
	var problems []string
	add := func(f string, a ...any) { problems = append(problems, f) }
	w := groupWeights(add, []string{"errors", "latency", "cpu"}, map[string]float64{"errors": 50})
	assert.Equal(t, map[string]float64{"errors": 50, "latency": 25, "cpu": 25}, w, "unlisted groups share the rest")
	assert.Empty(t, problems)
	groupWeights(add, []string{"errors", "latency"}, map[string]float64{"errors": 120, "typo": -1})
	assert.Len(t, problems, 3)
	problems = nil
	groupWeights(add, []string{"errors"}, map[string]float64{"errors": 0})
	assert.Equal(t, []string{"GroupWeights: every group weighs 0"}, problems)
}

func TestReportCheckResult(t *testing.T) {
	test := &MannWhitneyResult{N1: 20, N2: 20, U: 380, P: 0.00012, Estimate: 0.52, Lower: 0.31, Upper: 0.77, Confidence: 0.98}
	r := report(
		MetricReport{Name: "error-ratio", Group: "errors", Classification: ClassHigh, Critical: true, Test: test,
			Canary: SampleSummary{N: 20, Median: 1.02}, Baseline: SampleSummary{N: 20, Median: 0.5}, EffectSize: 2.04, EffectMeasure: EffectMeanRatio,
			CanaryQuery: "q{d=\"podinfo\"}", BaselineQuery: "q{d=\"podinfo-primary\"}"},
		MetricReport{Name: "latency-p99", Group: "latency", Classification: ClassNoData, Reason: "canary has 2 values, baseline 20; 5 needed on each side"},
	)
	r.score(map[string]float64{"errors": 1, "latency": 1})
	res := r.checkResult("judge", canary.AtLeast(95))
	assert.Equal(t, canary.VerdictFail, res.Verdict)
	assert.Equal(t, 0.0, res.Value)
	assert.Equal(t, canary.AtLeast(95), res.Threshold)
	assert.Equal(t, "error-ratio: canary q{d=\"podinfo\"}; baseline q{d=\"podinfo-primary\"}", res.Query)
	assert.Equal(t, "judge score 0 < 75 (critical metric error-ratio is High): "+
		"error-ratio High (critical): canary median 1.02 vs baseline 0.5, shift +0.52 [+0.31, +0.77] at 98%, p=0.00012, mean ratio 2.04, n=20/20; "+
		"latency-p99 NoData: canary has 2 values, baseline 20; 5 needed on each side", res.Message)

	marginal := report(mr("a", "g", ClassPass, false), mr("b", "g", ClassPass, false), mr("c", "g", ClassPass, false),
		mr("d", "g", ClassPass, false), mr("e", "g", ClassHigh, false))
	marginal.score(map[string]float64{"g": 1})
	res = marginal.checkResult("judge", canary.AtLeast(95))
	assert.Equal(t, canary.VerdictInconclusive, res.Verdict, "the metric's OnNoData policy decides a marginal score")
	require.ErrorIs(t, res.Err, ErrInconclusive)
	assert.False(t, res.Passed(canary.NoDataFail))
	assert.True(t, res.Passed(canary.NoDataIgnore))
	assert.Contains(t, res.Err.Error(), "score 80 is between the marginal 75 and the pass score 95")

	nodata := report(mr("a", "g", ClassNoData, false))
	nodata.score(map[string]float64{"g": 1})
	res = nodata.checkResult("judge", canary.AtLeast(95))
	assert.Equal(t, canary.VerdictNoData, res.Verdict)
	require.ErrorIs(t, res.Err, canary.ErrNoData)
}
