package metrics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/go-logr/logr"

	"github.com/canarykit/canarykit/canary"
)

// Sequential test defaults.
const (
	// DefaultSequentialAlpha bounds the probability that a canary whose error rate is no worse
	// than Tolerance × the primary's is ever rolled back by the test, however often it looks.
	DefaultSequentialAlpha = 0.01
	// DefaultSequentialBeta bounds the probability that a canary with Regression × the
	// primary's error rate is ever passed by the test.
	DefaultSequentialBeta = 0.01
	// DefaultRegression is the error-rate ratio the test must not let through: 2×.
	DefaultRegression = 2.0
	// DefaultSequentialTolerance is the error-rate ratio that is no regression: a canary up
	// to a quarter worse than the primary is within the noise (the judge's DefaultTolerance).
	DefaultSequentialTolerance = 1.25
	// DefaultLearningRate tempers the evidence of each step (see SequentialOptions.LearningRate):
	// a third, so that bursts of errors do not pass for a regression.
	DefaultLearningRate = 1.0 / 3
	// DefaultSequentialTimeout bounds one check (fetching the counts).
	DefaultSequentialTimeout = 30 * time.Second
)

// SequentialOptions configure NewSequential. Zero fields mean the default.
type SequentialOptions struct {
	// Source fetches the per-step request and error counts of the canary and the primary since
	// the release's analysis started. Required.
	Source CountSource
	// Alpha bounds the false rollbacks: a canary whose error rate is at most Tolerance × the
	// primary's fails the test with probability at most Alpha over the whole release. In
	// (0, 0.5]. Default DefaultSequentialAlpha.
	Alpha float64
	// Beta bounds the missed regressions: a canary whose error rate is Regression × the
	// primary's (or worse) passes the test with probability at most Beta. In (0, 0.5]. Default
	// DefaultSequentialBeta.
	Beta float64
	// Regression is the error-rate ratio, canary over primary, that must be caught. Greater than
	// Tolerance. Default DefaultRegression.
	Regression float64
	// Tolerance is the error-rate ratio that is acceptable. At least 1. Default
	// DefaultSequentialTolerance.
	Tolerance float64
	// LearningRate, in (0, 1], raises each step's likelihood ratio to this power before it is
	// multiplied in. Below 1 the test is slower but holds its error bounds when errors come in
	// bursts (counts more dispersed than Poisson), which is common in production; at 1 it is
	// Wald's test. Default DefaultLearningRate.
	LearningRate float64
	// MinSamples is how many steps with canary traffic the test sees before it may pass (it may
	// fail sooner). Default 0: no floor beyond the evidence itself.
	MinSamples int
	// Timeout bounds one check. Default DefaultSequentialTimeout.
	Timeout time.Duration
	// Logger receives one line per check at V(1). Default: discard.
	Logger logr.Logger
}

// Sequential is a canary.Checker that tests, across all the ticks of a release, whether the
// canary's error rate is worse than the primary's: Wald's sequential probability ratio test on
// the per-step counts, conditioned on each step's total errors. Bind it by name in
// canary.Config.Checkers with OnNoData hold: it fails once the evidence of a regression is
// strong enough (Alpha), passes once the evidence that there is none is (Beta), and is
// inconclusive in between, so the canary stays at its weight until the evidence decides.
// Safe for concurrent use.
type Sequential struct {
	source     CountSource
	alpha      float64
	beta       float64
	regression float64
	tolerance  float64
	eta        float64
	minSamples int
	timeout    time.Duration
	log        logr.Logger
}

var _ canary.MetricValidator = (*Sequential)(nil)

// NewSequential validates opts, reporting every problem at once, and returns a Sequential.
func NewSequential(opts SequentialOptions) (*Sequential, error) {
	s := &Sequential{source: opts.Source, alpha: opts.Alpha, beta: opts.Beta, regression: opts.Regression,
		tolerance: opts.Tolerance, eta: opts.LearningRate, minSamples: opts.MinSamples, timeout: opts.Timeout, log: opts.Logger}
	setDefault(&s.alpha, DefaultSequentialAlpha)
	setDefault(&s.beta, DefaultSequentialBeta)
	setDefault(&s.regression, DefaultRegression)
	setDefault(&s.tolerance, DefaultSequentialTolerance)
	setDefault(&s.eta, DefaultLearningRate)
	if s.timeout == 0 {
		s.timeout = DefaultSequentialTimeout
	}
	if s.log.GetSink() == nil {
		s.log = logr.Discard()
	}
	if problems := s.validate(); len(problems) > 0 {
		return nil, fmt.Errorf("%w: sequential: %s", ErrInvalidOptions, strings.Join(problems, "; "))
	}
	return s, nil
}

func setDefault(v *float64, d float64) {
	if *v == 0 {
		*v = d
	}
}

func (s *Sequential) validate() []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if s.source == nil {
		add("Source: required")
	}
	if !(s.alpha > 0 && s.alpha <= 0.5) { // NaN fails too
		add("Alpha: must be in (0, 0.5], got %v", s.alpha)
	}
	if !(s.beta > 0 && s.beta <= 0.5) {
		add("Beta: must be in (0, 0.5], got %v", s.beta)
	}
	if !(s.tolerance >= 1) || math.IsInf(s.tolerance, 1) {
		add("Tolerance: must be a finite number of at least 1, got %v", s.tolerance)
	}
	if !(s.regression > s.tolerance) || math.IsInf(s.regression, 1) {
		add("Regression: must be a finite number above Tolerance (%v), got %v", s.tolerance, s.regression)
	}
	if !(s.eta > 0 && s.eta <= 1) {
		add("LearningRate: must be in (0, 1], got %v", s.eta)
	}
	if s.minSamples < 0 {
		add("MinSamples: must not be negative, got %d", s.minSamples)
	}
	if s.timeout < 0 {
		add("Timeout: must not be negative, got %s", s.timeout)
	}
	return problems
}

// SequentialDecision is the test's state of evidence.
type SequentialDecision string

// Decisions.
const (
	// SequentialRegression: the evidence of a regression reached 1/Alpha at some step: fail.
	SequentialRegression SequentialDecision = "Regression"
	// SequentialNoRegression: the evidence against a Regression× error rate reached 1/Beta at
	// some step (and never the evidence of a regression): pass.
	SequentialNoRegression SequentialDecision = "NoRegression"
	// SequentialContinue: neither yet: look again at the next tick.
	SequentialContinue SequentialDecision = "Continue"
)

// SequentialReport is the account of one sequential check.
type SequentialReport struct {
	Decision SequentialDecision
	// LogLR is the log of the (tempered) likelihood ratio, Regression against Tolerance, after
	// the last step; MaxLogLR and MinLogLR are its extremes over the release.
	LogLR, MaxLogLR, MinLogLR float64
	// RejectAt and AcceptAt are the boundaries: log(1/Alpha) and log(Beta).
	RejectAt, AcceptAt float64
	// Steps is how many steps had canary traffic; DecidedAt is the 1-based step at which the
	// decision was reached (0 while it continues).
	Steps, DecidedAt int
	// Canary and Primary are the totals over the release.
	Canary, Primary Counts
}

// Ratio is the observed error-rate ratio, canary over primary, over the release (NaN when a
// side has no requests, +Inf when the primary had no errors and the canary some).
func (r SequentialReport) Ratio() float64 {
	if r.Canary.Requests == 0 || r.Primary.Requests == 0 {
		return math.NaN()
	}
	return (r.Canary.Errors / r.Canary.Requests) / (r.Primary.Errors / r.Primary.Requests)
}

// ValidateMetric refuses the settings of a metric bound to the test that it would not honour: a
// thresholdRange (the test decides by Regression and Tolerance, not by a bound on a value), and
// a query or provider of the metric's own (the counts come from its CountSource). canary.New
// reports them at the metric's path.
func (s *Sequential) ValidateMetric(m canary.Metric) []canary.FieldError {
	var out []canary.FieldError
	if !m.ThresholdRange.IsZero() {
		out = append(out, canary.FieldError{Field: "thresholdRange", Message: "the sequential test decides by its Regression and Tolerance, not by a bound on a value: remove it"})
	}
	return append(out, ownQueryProblems("the sequential test", m)...)
}

// Check runs the test over the release so far. The value is the observed error-rate ratio,
// canary over primary, over the release (0 while it has no value: no requests on a side, or no
// primary errors; the message has the counts); the threshold is Regression (as a maximum), for
// reading, the decision being the test's. A regression is
// VerdictFail, no regression VerdictPass, and not yet decided VerdictInconclusive (with
// ErrInconclusive; a canary without traffic yet is VerdictNoData): the Spec metric's OnNoData
// policy decides, and hold is the one that lets the evidence build up. A failure to fetch the
// counts is an error.
func (s *Sequential) Check(ctx context.Context, req canary.CheckRequest) (canary.CheckResult, error) {
	rep, err := s.Evaluate(ctx, req)
	if err != nil {
		return canary.CheckResult{}, err
	}
	res := canary.CheckResult{Name: req.Metric.Name, Value: rep.Ratio(), Threshold: canary.AtMost(s.regression)}
	if math.IsNaN(res.Value) || math.IsInf(res.Value, 0) {
		res.Value = 0 // a CheckResult carries a finite number; the message has the counts
	}
	msg := fmt.Sprintf("%s %s: error ratio canary/primary %s (canary %s, primary %s), evidence log %.2f (fail at %.2f, pass at %.2f) after %d steps",
		req.Metric.Name, rep.Decision, formatRatio(rep.Ratio()), rep.Canary, rep.Primary, rep.LogLR, rep.RejectAt, rep.AcceptAt, rep.Steps)
	switch rep.Decision {
	case SequentialRegression:
		res.Verdict, res.Message = canary.VerdictFail, msg
	case SequentialNoRegression:
		res.Verdict, res.Message = canary.VerdictPass, msg
	default:
		if rep.Steps == 0 {
			err := fmt.Errorf("%w: no canary traffic yet", canary.ErrNoData)
			return canary.CheckResult{Name: req.Metric.Name, Verdict: canary.VerdictNoData, Err: err, Message: req.Metric.Name + ": no canary traffic yet"}, nil
		}
		res.Verdict, res.Message, res.Err = canary.VerdictInconclusive, msg, ErrInconclusive
	}
	return res, nil
}

func formatRatio(r float64) string {
	if math.IsNaN(r) {
		return "n/a"
	}
	return fmt.Sprintf("%.3g", r)
}

// Evaluate fetches the release's counts and runs the test over them: the full report behind
// Check's result.
func (s *Sequential) Evaluate(ctx context.Context, req canary.CheckRequest) (SequentialReport, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	steps, err := s.source.Counts(ctx, CountRequest{Target: req.Target, Metric: req.Metric, Started: req.Started})
	if err != nil && !errors.Is(err, canary.ErrNoData) {
		return SequentialReport{}, fmt.Errorf("sequential %s: counts: %w", req.Metric.Name, err)
	}
	rep := s.Test(steps)
	s.log.V(1).Info("sequential test", "target", req.Target.String(), "decision", rep.Decision, "logLR", rep.LogLR, "steps", rep.Steps)
	return rep, nil
}

// Test runs the test over the steps of one release, in order. It is a pure function of the
// steps: the same counts give the same decision, whichever process computes them.
func (s *Sequential) Test(steps []StepCounts) SequentialReport {
	rep := SequentialReport{Decision: SequentialContinue, RejectAt: math.Log(1 / s.alpha), AcceptAt: math.Log(s.beta)}
	llr := 0.0
	for _, st := range steps {
		c, p := st.Canary.clean(), st.Primary.clean()
		rep.Canary.add(c)
		rep.Primary.add(p)
		if c.Requests == 0 {
			continue
		}
		rep.Steps++
		llr += s.eta * stepLogLR(c, p, s.tolerance, s.regression)
		rep.LogLR = llr
		rep.MaxLogLR, rep.MinLogLR = max(rep.MaxLogLR, llr), min(rep.MinLogLR, llr)
		switch {
		case rep.Decision == SequentialRegression:
		case llr >= rep.RejectAt:
			// a regression found after a pass still fails: the bound on false rollbacks holds
			// over the whole release
			rep.Decision, rep.DecidedAt = SequentialRegression, rep.Steps
		case rep.Decision == SequentialContinue && llr <= rep.AcceptAt && rep.Steps >= s.minSamples:
			rep.Decision, rep.DecidedAt = SequentialNoRegression, rep.Steps
		}
	}
	return rep
}

// stepLogLR is the log likelihood ratio of one step's canary errors given the step's total
// errors: with Poisson errors at rates proportional to the requests, the canary's share of the
// errors is binomial with probability θ·n_c / (θ·n_c + n_p), θ the error-rate ratio; the
// primary's rate drops out. The ratio compares θ = hi against θ = lo.
func stepLogLR(c, p Counts, lo, hi float64) float64 {
	x, s := c.Errors, c.Errors+p.Errors
	if s == 0 || p.Requests == 0 {
		return 0 // no errors, or no primary to compare with: no evidence either way
	}
	pi := func(theta float64) float64 { return theta * c.Requests / (theta*c.Requests + p.Requests) }
	p0, p1 := pi(lo), pi(hi)
	return x*math.Log(p1/p0) + (s-x)*(math.Log1p(-p1)-math.Log1p(-p0))
}
