package metrics

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/canarykit/canarykit/canary"
)

// Classification is the judge's verdict on one metric (Kayenta's metric classification).
type Classification string

// Classifications.
const (
	// ClassPass: no significant shift in the direction of concern.
	ClassPass Classification = "Pass"
	// ClassHigh: the canary is significantly higher than the baseline, beyond the tolerance
	// and the effect-size gate.
	ClassHigh Classification = "High"
	// ClassLow: the canary is significantly lower.
	ClassLow Classification = "Low"
	// ClassNoData: a side has fewer than MinSamples values.
	ClassNoData Classification = "NoData"
)

// Outcome is the judge's verdict on the canary, from the score.
type Outcome string

// Outcomes.
const (
	OutcomePass     Outcome = "Pass"     // score ≥ pass score
	OutcomeMarginal Outcome = "Marginal" // marginal score ≤ score < pass score
	OutcomeFail     Outcome = "Fail"     // score < marginal score, or a critical metric High/Low
	OutcomeNoData   Outcome = "NoData"   // half the metrics or more, or a critical one, lack data
)

// SampleSummary describes the values a side contributed after NaN and outlier removal.
type SampleSummary struct {
	N      int
	Median float64
	Mean   float64
}

// MetricReport is the judge's account of one metric.
type MetricReport struct {
	Name           string
	Group          string
	Classification Classification
	Critical       bool
	// Reason explains a NoData classification or a Pass without a test (identical samples).
	Reason string
	// CanaryQuery and BaselineQuery are the rendered queries, when the metric has a query.
	CanaryQuery, BaselineQuery string
	Canary, Baseline           SampleSummary
	// Test is the Mann-Whitney test of canary against baseline; nil when none was run.
	Test *MannWhitneyResult
	// EffectSize is the metric's effect-size measure; NaN when it cannot be computed (a mean
	// of zero) or no test was run.
	EffectSize float64
	// EffectMeasure names EffectSize's measure.
	EffectMeasure EffectMeasure
}

// GroupScore is one group's share of the score.
type GroupScore struct {
	Name string
	// Score is Pass / (Pass + High + Low) × 100 over the group's metrics.
	Score float64
	// Weight is the group's weight before renormalization.
	Weight float64
	// NoData is set when none of the group's metrics had data; the group is left out.
	NoData bool
}

// Report is the judge's account of one check.
type Report struct {
	// Score is the weighted group score, 0..100, rounded to two decimals; 0 after a critical
	// failure.
	Score   float64
	Outcome Outcome
	// Reason explains a Fail or NoData that the score alone does not.
	Reason                   string
	PassScore, MarginalScore float64
	Metrics                  []MetricReport
	Groups                   []GroupScore
}

// classify compares canary with baseline for metric m (with defaults applied) as Kayenta's
// MannWhitneyClassifier does.
func classify(m JudgeMetric, canaryValues, baselineValues []float64, confidence float64) MetricReport {
	c, b := clean(canaryValues, m.OutlierFactor), clean(baselineValues, m.OutlierFactor)
	mr := MetricReport{Name: m.Name, Group: m.Group, Critical: m.Critical, Canary: summarize(c), Baseline: summarize(b),
		EffectSize: math.NaN(), EffectMeasure: m.EffectSize}
	switch {
	case len(c) < m.MinSamples || len(b) < m.MinSamples:
		mr.Classification = ClassNoData
		mr.Reason = fmt.Sprintf("canary has %d values, baseline %d; %d needed on each side", len(c), len(b), m.MinSamples)
		return mr
	case !slices.ContainsFunc(c, isFinite):
		// a histogram quantile is +Inf when the values fall in the last bucket: nothing is
		// known but that the canary is at the worst end
		mr.Classification = worstClass(c, m.Direction)
		mr.Reason = "every canary value is infinite (" + fmtNum(c[0]) + ", e.g. beyond a histogram's last bucket)"
		return mr
	case slices.Equal(c, b):
		mr.Classification = ClassPass
		mr.Reason = "canary and baseline values are identical"
		return mr
	case c[0] == c[len(c)-1] && b[0] == b[len(b)-1] && c[0] == b[0]:
		mr.Classification = ClassPass
		mr.Reason = "every value is " + fmtNum(c[0])
		return mr
	}
	cs, bs := standIns(c, b, m.Direction)
	r, err := MannWhitney(cs, bs, confidence)
	if err != nil { // cannot happen: both sides are non-empty and NaN-free
		mr.Classification = ClassNoData
		mr.Reason = err.Error()
		return mr
	}
	mr.Test = &r
	if m.EffectSize == EffectCLES {
		mr.EffectSize = r.CLES()
	} else if cm, bm := summarize(cs).Mean, summarize(bs).Mean; cm != 0 && bm != 0 {
		mr.EffectSize = cm / bm // with infinities stood in for, as the test saw them
	}
	bound := m.Tolerance * math.Abs(r.Estimate)
	gate := func(ok bool) bool { return math.IsNaN(mr.EffectSize) || ok }
	switch {
	case m.Direction != DirectionDecrease && r.Lower > bound && gate(mr.EffectSize >= m.AllowedIncrease):
		mr.Classification = ClassHigh
	case m.Direction != DirectionIncrease && r.Upper < -bound && gate(mr.EffectSize <= m.AllowedDecrease):
		mr.Classification = ClassLow
	default:
		mr.Classification = ClassPass
	}
	return mr
}

func isFinite(v float64) bool { return !math.IsInf(v, 0) && !math.IsNaN(v) }

// worstClass classifies a canary whose every value is infinite: a regression in the metric's
// direction (High for DirectionIncrease, Low for DirectionDecrease, the infinity's side for
// DirectionEither).
func worstClass(c []float64, dir Direction) Classification {
	switch {
	case dir == DirectionIncrease:
		return ClassHigh
	case dir == DirectionDecrease:
		return ClassLow
	case slices.Contains(c, math.Inf(1)):
		return ClassHigh
	}
	return ClassLow
}

// standIns returns c and b with every infinity replaced by a finite value beyond all finite
// values of both sides, at the worst end for the metric's direction (above them for
// DirectionIncrease, below for DirectionDecrease, on the infinity's side for DirectionEither),
// so that the test ranks them as the worst values and the shift stays finite.
func standIns(c, b []float64, dir Direction) ([]float64, []float64) {
	lo, hi, any := math.Inf(1), math.Inf(-1), false
	for _, v := range slices.Concat(c, b) {
		if isFinite(v) {
			lo, hi, any = min(lo, v), max(hi, v), true
		}
	}
	if !any {
		lo, hi = 0, 0
	}
	gap := max(hi-lo, 1)
	high, low := hi+gap, lo-gap
	replace := func(s []float64) []float64 {
		if !slices.ContainsFunc(s, func(v float64) bool { return math.IsInf(v, 0) }) {
			return s
		}
		out := make([]float64, len(s))
		for i, v := range s {
			switch {
			case !math.IsInf(v, 0):
				out[i] = v
			case dir == DirectionIncrease || (dir == DirectionEither && v > 0):
				out[i] = high
			default:
				out[i] = low
			}
		}
		slices.Sort(out)
		return out
	}
	return replace(c), replace(b)
}

// clean returns the values without NaN and, with factor > 0, without outliers, sorted.
// Infinities are never outliers: they are kept for standIns to rank as the worst values.
func clean(values []float64, factor float64) []float64 {
	out := make([]float64, 0, len(values))
	var inf []float64
	for _, v := range values {
		switch {
		case math.IsInf(v, 0):
			inf = append(inf, v)
		case !math.IsNaN(v):
			out = append(out, v)
		}
	}
	slices.Sort(out)
	if factor > 0 && len(out) > 0 {
		q1, q3 := percentile(out, 0.25), percentile(out, 0.75)
		iqr := q3 - q1
		lo := math.Min(percentile(out, 0.01), q1-factor*iqr)
		hi := math.Max(percentile(out, 0.99), q3+factor*iqr)
		kept := out[:0]
		for _, v := range out {
			if v >= lo && v <= hi {
				kept = append(kept, v)
			}
		}
		out = kept
	}
	out = append(out, inf...)
	slices.Sort(out)
	return out
}

// percentile is the p-quantile of sorted values by linear interpolation (R's type 7).
func percentile(sorted []float64, p float64) float64 {
	h := p * float64(len(sorted)-1)
	i := int(math.Floor(h))
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (h-float64(i))*(sorted[i+1]-sorted[i])
}

func summarize(sorted []float64) SampleSummary {
	s := SampleSummary{N: len(sorted), Median: median(sorted), Mean: math.NaN()}
	if len(sorted) > 0 {
		sum := 0.0
		for _, v := range sorted {
			sum += v
		}
		s.Mean = sum / float64(len(sorted))
	}
	return s
}

// score fills the group scores, the score and the outcome (Kayenta's WeightedSumScorer and
// ThresholdScoreClassifier, with groups without data renormalized away).
func (r *Report) score(weights map[string]float64) {
	type tally struct{ pass, total int }
	tallies := map[string]*tally{}
	r.Groups = nil
	for _, m := range r.Metrics {
		t, ok := tallies[m.Group]
		if !ok {
			t = &tally{}
			tallies[m.Group] = t
			r.Groups = append(r.Groups, GroupScore{Name: m.Group, Weight: weights[m.Group]})
		}
		if m.Classification != ClassNoData {
			t.total++
			if m.Classification == ClassPass {
				t.pass++
			}
		}
	}
	sum, wsum := 0.0, 0.0
	for i := range r.Groups {
		g := &r.Groups[i]
		t := tallies[g.Name]
		if t.total == 0 {
			g.NoData = true
			continue
		}
		g.Score = float64(t.pass) / float64(t.total) * 100
		sum += g.Weight * g.Score
		wsum += g.Weight
	}
	if wsum > 0 {
		r.Score = math.Round(sum/wsum*100) / 100
	}

	noData := 0
	for _, m := range r.Metrics {
		if m.Critical && (m.Classification == ClassHigh || m.Classification == ClassLow) {
			r.Score, r.Outcome = 0, OutcomeFail
			r.Reason = fmt.Sprintf("critical metric %s is %s", m.Name, m.Classification)
			return
		}
		if m.Classification == ClassNoData {
			noData++
		}
	}
	for _, m := range r.Metrics {
		if m.Critical && m.Classification == ClassNoData {
			r.Outcome = OutcomeNoData
			r.Reason = fmt.Sprintf("critical metric %s has no data: %s", m.Name, m.Reason)
			return
		}
	}
	if noData*2 >= len(r.Metrics) || wsum == 0 {
		r.Outcome = OutcomeNoData
		r.Reason = fmt.Sprintf("%d of %d metrics have no data", noData, len(r.Metrics))
		return
	}
	switch {
	case r.Score >= r.PassScore:
		r.Outcome = OutcomePass
	case r.Score >= r.MarginalScore:
		r.Outcome = OutcomeMarginal
	default:
		r.Outcome = OutcomeFail
	}
}

// checkResult turns the report into the engine's account of a check.
func (r Report) checkResult(name string, threshold canary.Range) canary.CheckResult {
	res := canary.CheckResult{Name: name, Value: r.Score, Threshold: threshold, Message: name + " " + r.Summary()}
	var queries []string
	for _, m := range r.Metrics {
		if m.CanaryQuery != "" {
			queries = append(queries, fmt.Sprintf("%s: canary %s; baseline %s", m.Name, m.CanaryQuery, m.BaselineQuery))
		}
	}
	res.Query = strings.Join(queries, "\n")
	switch r.Outcome {
	case OutcomePass:
		res.Verdict = canary.VerdictPass
	case OutcomeFail:
		res.Verdict = canary.VerdictFail
	case OutcomeMarginal:
		res.Verdict = canary.VerdictInconclusive
		res.Err = fmt.Errorf("%w: score %s is between the marginal %s and the pass score %s", ErrInconclusive,
			fmtNum(r.Score), fmtNum(r.MarginalScore), fmtNum(r.PassScore))
	default:
		res.Verdict = canary.VerdictNoData
		res.Err = noDataError{r.Reason}
	}
	return res
}

// Summary is one line: the score against the thresholds, then every metric's classification.
func (r Report) Summary() string {
	var b strings.Builder
	switch r.Outcome {
	case OutcomePass:
		fmt.Fprintf(&b, "score %s >= %s", fmtNum(r.Score), fmtNum(r.PassScore))
	case OutcomeMarginal:
		fmt.Fprintf(&b, "score %s marginal (< %s, >= %s)", fmtNum(r.Score), fmtNum(r.PassScore), fmtNum(r.MarginalScore))
	case OutcomeFail:
		fmt.Fprintf(&b, "score %s < %s", fmtNum(r.Score), fmtNum(r.MarginalScore))
	default:
		b.WriteString("no data")
	}
	if r.Reason != "" {
		b.WriteString(" (" + r.Reason + ")")
	}
	for i, m := range r.Metrics {
		sep := "; "
		if i == 0 {
			sep = ": "
		}
		b.WriteString(sep + m.String())
	}
	return b.String()
}

// String describes the classification and the evidence, e.g. "error-ratio High (critical):
// canary median 1.2 vs baseline 0.5, shift +0.7 [+0.4, +1] at 98%, p=0.0003, mean ratio 2.2, n=20/20".
func (m MetricReport) String() string {
	var b strings.Builder
	b.WriteString(m.Name + " " + string(m.Classification))
	if m.Critical {
		b.WriteString(" (critical)")
	}
	if m.Test == nil {
		if m.Reason != "" {
			b.WriteString(": " + m.Reason)
		}
		return b.String()
	}
	t := m.Test
	fmt.Fprintf(&b, ": canary median %s vs baseline %s, shift %s [%s, %s] at %s%%, p=%s",
		fmtNum(m.Canary.Median), fmtNum(m.Baseline.Median), fmtSigned(t.Estimate), fmtSigned(t.Lower), fmtSigned(t.Upper),
		fmtNum(t.Confidence*100), strconv.FormatFloat(t.P, 'g', 2, 64))
	if !math.IsNaN(m.EffectSize) {
		name := "mean ratio"
		if m.EffectMeasure == EffectCLES {
			name = "CLES"
		}
		fmt.Fprintf(&b, ", %s %s", name, fmtNum(m.EffectSize))
	}
	fmt.Fprintf(&b, ", n=%d/%d", m.Canary.N, m.Baseline.N)
	return b.String()
}

// fmtNum formats with up to four significant digits, without exponent below 10¹⁵.
func fmtNum(v float64) string {
	if a := math.Abs(v); a >= 1e4 && a < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

func fmtSigned(v float64) string {
	if v > 0 {
		return "+" + fmtNum(v)
	}
	return fmtNum(v)
}
