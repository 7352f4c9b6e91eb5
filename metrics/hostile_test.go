package metrics

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
)

// histogram_quantile answers +Inf when the latency falls in the last bucket: that is the worst
// latency there is, never a pass.
func TestClassifyInfinitiesAreTheWorstValues(t *testing.T) {
	inf := math.Inf(1)
	base := normals(1, 40, 100, 5)
	mostlyInf := slices.Concat(normals(2, 10, 100, 5), slices.Repeat([]float64{inf}, 30))
	allInf := slices.Repeat([]float64{inf}, 40)
	for _, tc := range []struct {
		name           string
		metric         JudgeMetric
		canary, baseln []float64
		want           Classification
	}{
		{"mostly +Inf latency", JudgeMetric{Direction: DirectionIncrease}, mostlyInf, base, ClassHigh},
		{"mostly +Inf, either direction", JudgeMetric{}, mostlyInf, base, ClassHigh},
		{"every value +Inf", JudgeMetric{Direction: DirectionIncrease}, allInf, base, ClassHigh},
		{"every value +Inf on both sides", JudgeMetric{Direction: DirectionIncrease}, allInf, allInf, ClassHigh},
		{"+Inf success rate is the worst for decrease", JudgeMetric{Direction: DirectionDecrease}, mostlyInf, base, ClassLow},
		{"+Inf with an outlier filter", JudgeMetric{Direction: DirectionIncrease, OutlierFactor: 3}, mostlyInf, base, ClassHigh},
		{"+Inf only in the baseline", JudgeMetric{Direction: DirectionIncrease}, base, mostlyInf, ClassPass},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.metric
			m.Name = "latency"
			mr := classify(m.withDefaults(), tc.canary, tc.baseln, DefaultConfidence)
			assert.Equal(t, tc.want, mr.Classification, mr.String())
		})
	}
}

func TestNewJudgeRefusesNonFiniteOptions(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	_, err := NewJudge(JudgeOptions{
		Source: &fixedSamples{},
		Metrics: []JudgeMetric{
			{Name: "a", Tolerance: nan, AllowedIncrease: inf, AllowedDecrease: nan, OutlierFactor: inf},
		},
		GroupWeights: map[string]float64{"a": nan},
		PassScore:    nan,
		Confidence:   nan,
	})
	require.ErrorIs(t, err, ErrInvalidOptions)
	for _, want := range []string{
		"Metrics[0].Tolerance: must be a finite number, got NaN",
		"Metrics[0].AllowedIncrease: must be a finite number, got +Inf",
		"Metrics[0].AllowedDecrease: must be a finite number, got NaN",
		"Metrics[0].OutlierFactor: must be a finite number, got +Inf",
		"GroupWeights[a]: must be a finite number, not negative, got NaN",
		"got pass NaN",
		"Confidence: must be in (0, 1), got NaN",
	} {
		assert.Contains(t, err.Error(), want)
	}
	_, err = NewJudge(JudgeOptions{Source: &fixedSamples{}, Metrics: []JudgeMetric{{Name: "a"}}, MarginalScore: inf})
	assert.ErrorContains(t, err, "marginal +Inf")
}

func TestJudgeRefusesLoopingQueries(t *testing.T) {
	_, err := NewJudge(JudgeOptions{Source: &fixedSamples{}, Metrics: []JudgeMetric{
		{Name: "a", Query: "{{ range 10000000 }}x{{ end }}"},
		{Name: "b", Query: "up", BaselineQuery: `{{ printf "%900000000d" 1 }}`},
	}})
	require.ErrorIs(t, err, ErrInvalidOptions)
	assert.ErrorContains(t, err, "Metrics[0].Query: query template must not loop (range)")
	assert.ErrorContains(t, err, "Metrics[1].BaselineQuery: query template: printf width or precision above 256")
}

// The shift's order statistics found by counting equal those found by selecting among the
// materialized differences, ties and infinities included.
func TestImplicitOrderStatsMatchMaterialized(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 8))
	for trial := range 40 {
		n1, n2 := 1+rnd.IntN(60), 1+rnd.IntN(60)
		gen := func(n int) []float64 {
			out := make([]float64, n)
			for i := range out {
				switch r := rnd.IntN(20); {
				case r == 0 && trial%3 == 0:
					out[i] = math.Inf(1)
				case r == 1 && trial%3 == 0:
					out[i] = math.Inf(-1)
				case r < 8:
					out[i] = float64(rnd.IntN(5)) // ties
				default:
					out[i] = rnd.NormFloat64() * 10
				}
			}
			return out
		}
		x, y := gen(n1), gen(n2)
		k := n1 * n2
		lo := rnd.IntN((k + 1) / 2)
		hi := k - 1 - lo
		wl, wm, wu := orderStats(pairwiseDiffs(x, y), lo, hi)
		gl, gm, gu := implicitOrderStats(x, y, lo, hi)
		require.Equal(t, []float64{wl, wm, wu}, []float64{gl, gm, gu}, "trial %d: %v vs %v", trial, x, y)
	}
}

// 3000 × 3000 samples: the 9 million differences (72 MB) are never allocated.
func TestMannWhitneyLargeSamplesStayBounded(t *testing.T) {
	x, y := normals(1, 3000, 100, 5), normals(2, 3000, 101, 5)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r, err := MannWhitney(x, y, 0.98)
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(4<<20), "bytes allocated")
	assert.InDelta(t, -1, r.Estimate, 0.5)
	assert.Less(t, r.Lower, r.Estimate)
	assert.Greater(t, r.Upper, r.Estimate)
}

// A SampleRequest renders bounded queries: a huge variable cannot make the judge build a huge
// query.
func TestJudgeQueryOutputBounded(t *testing.T) {
	m := JudgeMetric{Name: "a", Query: "{{ variables.big }}{{ variables.big }}"}
	req := canary.CheckRequest{Target: canary.Target{Namespace: "n", Name: "t"}, Metric: canary.Metric{Name: "judge",
		Variables: map[string]string{"big": strings.Repeat("x", 40<<10)}}, Started: time.Time{}}
	_, err := sampleRequest(m, req)
	assert.ErrorContains(t, err, "rendered query is longer than 65536 bytes")
}
