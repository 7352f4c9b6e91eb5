package metrics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"

	"github.com/canarykit/canarykit/canary"
)

// Judge defaults (Kayenta's NetflixACAJudge where it has one).
const (
	DefaultConfidence    = 0.98
	DefaultTolerance     = 0.25
	DefaultMinSamples    = 5
	DefaultPassScore     = 95
	DefaultMarginalScore = 75
	DefaultJudgeTimeout  = 30 * time.Second
)

// Direction says which change of a metric is a regression.
type Direction string

// Directions.
const (
	// DirectionEither flags a significant change either way (the default, as in Kayenta).
	DirectionEither Direction = "either"
	// DirectionIncrease flags only an increase: errors, latency.
	DirectionIncrease Direction = "increase"
	// DirectionDecrease flags only a decrease: success rate, throughput.
	DirectionDecrease Direction = "decrease"
)

// EffectMeasure is how the size of a change is measured for the effect-size gate.
type EffectMeasure string

// Effect measures.
const (
	// EffectMeanRatio is mean(canary) / mean(baseline) (the default); no gate at 1.
	EffectMeanRatio EffectMeasure = "meanRatio"
	// EffectCLES is the probability that a canary value exceeds a baseline value; no gate at 0.5.
	EffectCLES EffectMeasure = "cles"
)

// JudgeMetric is one metric the judge compares between canary and baseline (Kayenta's canary
// config metric with its "canary" analysis settings). Zero fields mean the default.
type JudgeMetric struct {
	// Name identifies the metric in reports and in SampleRequests. Required, unique.
	Name string
	// Group is the scoring group. Default: the metric's Name.
	Group string
	// Query is a template with Flagger's variables. It is rendered twice per check: with
	// {{ target }} the canary workload (Target.Name) and with {{ target }} the primary
	// (Target.PrimaryName()), which is the baseline. It may be empty for a SampleSource that
	// knows the metric by name.
	Query string
	// BaselineQuery, if set, is rendered with the canary's variables for the baseline instead
	// of Query with the primary's name: for a dedicated baseline workload.
	BaselineQuery string
	// Direction is the change that counts as a regression. Default DirectionEither.
	Direction Direction
	// Critical makes a High or Low classification fail the whole judgement (score 0), and a
	// missing value make it inconclusive (NoData).
	Critical bool
	// Tolerance is Kayenta's fraction: the metric is High only when the lower bound of the
	// shift's confidence interval exceeds Tolerance × |shift estimate| (Low symmetrically).
	// Default DefaultTolerance.
	Tolerance float64
	// EffectSize selects the effect-size measure. Default EffectMeanRatio.
	EffectSize EffectMeasure
	// AllowedIncrease is the effect size a High needs in addition to significance (e.g. 1.1:
	// the canary's mean at least 10 % above the baseline's). Default: no gate (1 for the mean
	// ratio, 0.5 for CLES).
	AllowedIncrease float64
	// AllowedDecrease is the effect size a Low must be at or below (e.g. 0.9). Default: no gate.
	AllowedDecrease float64
	// MinSamples is how many values each side needs after cleaning; fewer is NoData. Default
	// DefaultMinSamples. Spinnaker recommends at least 50 per metric.
	MinSamples int
	// OutlierFactor, when positive, removes outliers on each side before the test with
	// Kayenta's rule: values beyond min(p1, Q1 − f·IQR) or max(p99, Q3 + f·IQR). Kayenta uses
	// 3. Zero keeps every value (Kayenta's default).
	OutlierFactor float64
}

// JudgeOptions configure NewJudge. Zero fields mean the default.
type JudgeOptions struct {
	// Metrics are compared at every check. Required.
	Metrics []JudgeMetric
	// Source fetches the canary and baseline samples. Required.
	Source SampleSource
	// GroupWeights weighs the groups' scores, in percent (Kayenta's classifier.groupWeights).
	// Groups without a weight share what the listed ones leave of 100; with no weights at all,
	// groups weigh the same. Groups without data are left out and the rest renormalized.
	GroupWeights map[string]float64
	// PassScore is the score a check needs to pass. Default DefaultPassScore. A Spec metric's
	// thresholdRange.min, when set, replaces it for that metric.
	PassScore float64
	// MarginalScore is the score below which a check fails; between it and PassScore the
	// result is inconclusive (ErrInconclusive). Default DefaultMarginalScore.
	MarginalScore float64
	// Confidence is the level of the Mann-Whitney confidence interval. Default
	// DefaultConfidence.
	Confidence float64
	// Timeout bounds one check (fetching every metric's samples). Default DefaultJudgeTimeout.
	Timeout time.Duration
	// Logger receives one line per check at V(1). Default: discard.
	Logger logr.Logger
}

// Judge is a canary.Checker that compares canary and baseline samples of several metrics with
// Kayenta's model: a Mann-Whitney U test and Hodges–Lehmann shift per metric, classified High,
// Low, Pass or NoData, and a weighted score over groups. Bind it by name in
// canary.Config.Checkers. Samples at ±Inf (histogram_quantile's answer when the values fall in
// the last bucket) are ranked as the worst values for the metric's Direction, and a canary whose
// every value is infinite is High (or Low). Any sample sizes are compared without allocating
// their N1·N2 pairwise differences. Safe for concurrent use.
type Judge struct {
	metrics  []JudgeMetric
	source   SampleSource
	weights  map[string]float64 // every group's weight
	pass     float64
	marginal float64
	conf     float64
	timeout  time.Duration
	log      logr.Logger
}

var _ canary.MetricValidator = (*Judge)(nil)

// NewJudge validates opts, reporting every problem at once, and returns a Judge.
func NewJudge(opts JudgeOptions) (*Judge, error) {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if len(opts.Metrics) == 0 {
		add("Metrics: required")
	}
	if opts.Source == nil {
		add("Source: required")
	}
	j := &Judge{source: opts.Source, pass: opts.PassScore, marginal: opts.MarginalScore, conf: opts.Confidence,
		timeout: opts.Timeout, log: opts.Logger}
	seen := map[string]bool{}
	var groups []string
	for i, m := range opts.Metrics {
		m = m.withDefaults()
		validateMetric(add, fmt.Sprintf("Metrics[%d]", i), m, seen)
		if !contains(groups, m.Group) {
			groups = append(groups, m.Group)
		}
		j.metrics = append(j.metrics, m)
	}
	j.weights = groupWeights(add, groups, opts.GroupWeights)
	if j.pass == 0 {
		j.pass = DefaultPassScore
	}
	if j.marginal == 0 {
		j.marginal = min(DefaultMarginalScore, j.pass)
	}
	if !(j.pass >= 0 && j.pass <= 100 && j.marginal >= 0 && j.marginal <= j.pass) { // NaN fails too
		add("PassScore, MarginalScore: want 0 ≤ marginal ≤ pass ≤ 100, got pass %v, marginal %v", j.pass, j.marginal)
	}
	if j.conf == 0 {
		j.conf = DefaultConfidence
	}
	if !(j.conf > 0 && j.conf < 1) {
		add("Confidence: must be in (0, 1), got %v", j.conf)
	}
	if j.timeout == 0 {
		j.timeout = DefaultJudgeTimeout
	}
	if j.timeout < 0 {
		add("Timeout: must not be negative, got %s", j.timeout)
	}
	if j.log.GetSink() == nil {
		j.log = logr.Discard()
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: judge: %s", ErrInvalidOptions, strings.Join(problems, "; "))
	}
	return j, nil
}

func (m JudgeMetric) withDefaults() JudgeMetric {
	if m.Group == "" {
		m.Group = m.Name
	}
	if m.Direction == "" {
		m.Direction = DirectionEither
	}
	if m.Tolerance == 0 {
		m.Tolerance = DefaultTolerance
	}
	if m.EffectSize == "" {
		m.EffectSize = EffectMeanRatio
	}
	neutral := 1.0
	if m.EffectSize == EffectCLES {
		neutral = 0.5
	}
	if m.AllowedIncrease == 0 {
		m.AllowedIncrease = neutral
	}
	if m.AllowedDecrease == 0 {
		m.AllowedDecrease = neutral
	}
	if m.MinSamples == 0 {
		m.MinSamples = DefaultMinSamples
	}
	return m
}

func validateMetric(add func(string, ...any), f string, m JudgeMetric, seen map[string]bool) {
	switch {
	case m.Name == "":
		add("%s.Name: required", f)
	case seen[m.Name]:
		add("%s.Name: duplicate metric %q", f, m.Name)
	}
	seen[m.Name] = true
	switch m.Direction {
	case DirectionEither, DirectionIncrease, DirectionDecrease:
	default:
		add("%s.Direction: want increase, decrease or either, got %q", f, m.Direction)
	}
	switch m.EffectSize {
	case EffectMeanRatio, EffectCLES:
	default:
		add("%s.EffectSize: want meanRatio or cles, got %q", f, m.EffectSize)
	}
	for _, o := range []struct {
		field string
		v     float64
	}{{"Tolerance", m.Tolerance}, {"AllowedIncrease", m.AllowedIncrease}, {"AllowedDecrease", m.AllowedDecrease}, {"OutlierFactor", m.OutlierFactor}} {
		if math.IsNaN(o.v) || math.IsInf(o.v, 0) {
			add("%s.%s: must be a finite number, got %v", f, o.field, o.v)
		}
	}
	if m.Tolerance < 0 {
		add("%s.Tolerance: must not be negative, got %v", f, m.Tolerance)
	}
	if m.MinSamples < 1 {
		add("%s.MinSamples: must be at least 1, got %d", f, m.MinSamples)
	}
	if m.OutlierFactor < 0 {
		add("%s.OutlierFactor: must not be negative, got %v", f, m.OutlierFactor)
	}
	if m.BaselineQuery != "" && m.Query == "" {
		add("%s.BaselineQuery: set without Query", f)
	}
	for _, q := range []struct{ field, text string }{{"Query", m.Query}, {"BaselineQuery", m.BaselineQuery}} {
		if err := canary.CheckQuery(q.text); err != nil {
			add("%s.%s: %v", f, q.field, err)
		}
	}
}

// groupWeights gives every group its weight, as Kayenta: unlisted groups share the rest of 100.
func groupWeights(add func(string, ...any), groups []string, given map[string]float64) map[string]float64 {
	out := make(map[string]float64, len(groups))
	if len(given) == 0 {
		for _, g := range groups {
			out[g] = 1
		}
		return out
	}
	sum, unlisted := 0.0, 0
	for g, w := range given {
		if !contains(groups, g) {
			add("GroupWeights[%s]: no metric is in group %q", g, g)
		}
		if !(w >= 0) || math.IsInf(w, 1) { // NaN fails too
			add("GroupWeights[%s]: must be a finite number, not negative, got %v", g, w)
		}
		sum += w
	}
	for _, g := range groups {
		if _, ok := given[g]; !ok {
			unlisted++
		}
	}
	if unlisted > 0 && sum > 100 {
		add("GroupWeights: listed weights sum to %v, leaving nothing for %d unlisted groups", sum, unlisted)
	}
	total := 0.0
	for _, g := range groups {
		w, ok := given[g]
		if !ok {
			w = (100 - sum) / float64(unlisted)
		}
		out[g] = w
		total += w
	}
	if total <= 0 && len(groups) > 0 {
		add("GroupWeights: every group weighs 0")
	}
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Check judges the canary at one analysis tick and returns the full account: the score as
// the value, the pass score as the threshold, every metric's classification in the message.
// A marginal score is VerdictInconclusive (with ErrInconclusive) and too little data is
// VerdictNoData: the Spec metric's OnNoData policy decides both. A failure to fetch samples is
// an error.
func (j *Judge) Check(ctx context.Context, req canary.CheckRequest) (canary.CheckResult, error) {
	rep, err := j.Evaluate(ctx, req)
	if err != nil {
		return canary.CheckResult{}, err
	}
	return rep.checkResult(req.Metric.Name, j.threshold(req.Metric)), nil
}

// ValidateMetric refuses the settings of a metric bound to the judge that the judge would not
// honour: a thresholdRange.max (a score passes at or above a bound, thresholdRange.min), a
// thresholdRange.min outside the scores' 0 to 100, and a query or provider of the metric's own
// (the judge runs its JudgeMetrics' queries through its Source). canary.New reports them at the
// metric's path.
func (j *Judge) ValidateMetric(m canary.Metric) []canary.FieldError {
	var out []canary.FieldError
	if m.ThresholdRange.Max != nil {
		out = append(out, canary.FieldError{Field: "thresholdRange.max", Message: "the statistical judge passes a score at or above a bound: set thresholdRange.min (0 to 100), not max"})
	}
	if v := m.ThresholdRange.Min; v != nil && !(*v >= 0 && *v <= 100) {
		out = append(out, canary.FieldError{Field: "thresholdRange.min", Message: "must be a score from 0 to 100, got " + strconv.FormatFloat(*v, 'g', -1, 64)})
	}
	return append(out, ownQueryProblems("the statistical judge", m)...)
}

// ownQueryProblems refuses a query or provider on a metric bound to a checker that fetches its
// data through a source of its own.
func ownQueryProblems(checker string, m canary.Metric) []canary.FieldError {
	var out []canary.FieldError
	if m.Query != "" {
		out = append(out, canary.FieldError{Field: "query", Message: checker + " runs the queries of its own source and would never run this one: remove it"})
	}
	if m.Provider != nil {
		out = append(out, canary.FieldError{Field: "provider", Message: checker + " fetches through its own source and would never query this provider: remove it"})
	}
	return out
}

func (j *Judge) threshold(m canary.Metric) canary.Range {
	if m.ThresholdRange.Min != nil {
		return canary.AtLeast(*m.ThresholdRange.Min)
	}
	return canary.AtLeast(j.pass)
}

// Evaluate fetches every metric's samples, classifies them and scores the canary: the full
// report behind Check's result.
func (j *Judge) Evaluate(ctx context.Context, req canary.CheckRequest) (Report, error) {
	ctx, cancel := context.WithTimeout(ctx, j.timeout)
	defer cancel()
	pass := *j.threshold(req.Metric).Min
	rep := Report{PassScore: pass, MarginalScore: min(j.marginal, pass)}
	for _, m := range j.metrics {
		sreq, err := sampleRequest(m, req)
		if err != nil {
			return Report{}, fmt.Errorf("judge metric %s: %w", m.Name, err)
		}
		s, err := j.source.Samples(ctx, sreq)
		var mr MetricReport
		switch {
		case errors.Is(err, canary.ErrNoData):
			mr = MetricReport{Name: m.Name, Group: m.Group, Critical: m.Critical, Classification: ClassNoData, Reason: err.Error()}
		case err != nil:
			return Report{}, fmt.Errorf("judge metric %s: samples: %w", m.Name, err)
		default:
			mr = classify(m, s.Canary, s.Baseline, j.conf)
		}
		mr.CanaryQuery, mr.BaselineQuery = sreq.CanaryQuery, sreq.BaselineQuery
		rep.Metrics = append(rep.Metrics, mr)
	}
	rep.score(j.weights)
	j.log.V(1).Info("canary judged", "target", req.Target.String(), "score", rep.Score, "outcome", rep.Outcome, "reason", rep.Reason)
	return rep, nil
}

// sampleRequest renders a metric's queries for the canary and the baseline.
func sampleRequest(m JudgeMetric, req canary.CheckRequest) (SampleRequest, error) {
	sr := SampleRequest{Metric: m.Name, Target: req.Target, Interval: req.Metric.Interval, Started: req.Started}
	if sr.Interval == 0 {
		sr.Interval = canary.DefaultMetricInterval
	}
	if m.Query == "" {
		return sr, nil
	}
	vars := canary.VarsFor(req.Target, req.Metric)
	var err error
	if sr.CanaryQuery, err = canary.RenderQuery(m.Query, vars); err != nil {
		return sr, err
	}
	baseline := m.BaselineQuery
	if baseline == "" {
		baseline = m.Query
		vars.Target = req.Target.PrimaryName()
	}
	sr.BaselineQuery, err = canary.RenderQuery(baseline, vars)
	return sr, err
}
