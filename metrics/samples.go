package metrics

import (
	"context"
	"fmt"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"k8s.io/utils/clock"

	"github.com/canarykit/canarykit/canary"
)

// SampleSource fetches the values the judge compares: the canary's and the baseline's samples
// of one metric, e.g. per-pod values or per-step values over a window. Missing data may be
// reported as an error wrapping canary.ErrNoData or as too few samples; any other error fails
// the check. Implementations must be safe for concurrent use.
type SampleSource interface {
	Samples(ctx context.Context, req SampleRequest) (Samples, error)
}

// SamplesFunc adapts a function to SampleSource.
type SamplesFunc func(ctx context.Context, req SampleRequest) (Samples, error)

// Samples calls f.
func (f SamplesFunc) Samples(ctx context.Context, req SampleRequest) (Samples, error) {
	return f(ctx, req)
}

var _ SampleSource = SamplesFunc(nil)

// SampleRequest asks for one metric's samples at one analysis tick.
type SampleRequest struct {
	// Metric is the JudgeMetric's name.
	Metric string
	// CanaryQuery and BaselineQuery are the metric's rendered queries ("" without a query).
	CanaryQuery, BaselineQuery string
	// Target is the release's target.
	Target canary.Target
	// Interval is the Spec metric's interval (the {{ interval }} variable).
	Interval time.Duration
	// Started is when the release's analysis began (zero if unknown).
	Started time.Time
}

// Samples are one metric's values for the canary and the baseline. NaN values are dropped by
// the judge.
type Samples struct {
	Canary, Baseline []float64
}

// PrometheusSamplesOptions configure NewPrometheusSamples. Zero fields mean the default.
type PrometheusSamplesOptions struct {
	// Step, when set, makes every query a range query over Window at this resolution, and
	// every point of every series a sample (per-step values). Choose it equal to the queries'
	// rate window ({{ interval }}) so that samples do not overlap. Zero runs instant queries
	// and takes every series' value as a sample (e.g. per-pod values of `sum by (pod) (...)`).
	Step time.Duration
	// Window is how far back a range query looks. Default: since the release's analysis
	// started (its whole life, as Kayenta looks; at least one step, at most 1000), 10 steps when
	// unknown.
	Window time.Duration
	// Clock gives the end of the window. Default: the real clock.
	Clock clock.PassiveClock
}

// PrometheusSamples is a SampleSource that runs a metric's canary and baseline queries
// against Prometheus, with the provider's authentication, timeouts and retries.
type PrometheusSamples struct {
	p      *Prometheus
	step   time.Duration
	window time.Duration
	clock  clock.PassiveClock
}

var _ SampleSource = (*PrometheusSamples)(nil)

// NewPrometheusSamples returns a SampleSource over p.
func NewPrometheusSamples(p *Prometheus, opts PrometheusSamplesOptions) (*PrometheusSamples, error) {
	var problems []string
	if p == nil {
		problems = append(problems, "Prometheus: required")
	}
	if opts.Step < 0 {
		problems = append(problems, fmt.Sprintf("Step: must not be negative, got %s", opts.Step))
	}
	if opts.Window < 0 || (opts.Window > 0 && opts.Step == 0) {
		problems = append(problems, fmt.Sprintf("Window: must be positive and needs Step, got %s with step %s", opts.Window, opts.Step))
	}
	if opts.Step > 0 && opts.Window > 0 && opts.Window < opts.Step {
		problems = append(problems, fmt.Sprintf("Window: %s is shorter than Step %s", opts.Window, opts.Step))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: prometheus samples: %s", ErrInvalidOptions, strings.Join(problems, "; "))
	}
	s := &PrometheusSamples{p: p, step: opts.Step, window: opts.Window, clock: opts.Clock}
	if s.clock == nil {
		s.clock = clock.RealClock{}
	}
	return s, nil
}

// Samples runs the canary and the baseline queries. A metric without queries is an error.
func (s *PrometheusSamples) Samples(ctx context.Context, req SampleRequest) (Samples, error) {
	if req.CanaryQuery == "" || req.BaselineQuery == "" {
		return Samples{}, fmt.Errorf("metric %s has no query", req.Metric)
	}
	var out Samples
	var err error
	window := s.windowFor(req.Started)
	if out.Canary, err = s.values(ctx, req.CanaryQuery, window); err != nil {
		return Samples{}, err
	}
	if out.Baseline, err = s.values(ctx, req.BaselineQuery, window); err != nil {
		return Samples{}, err
	}
	return out, nil
}

// maxWindowSteps caps a look-back at the release's life, far below Prometheus' limit of 11,000
// points per series, so a release parked for days at a gate keeps being judged.
const maxWindowSteps = 1000

// windowFor is the range queries' look-back: the configured Window, else the release's life so
// far (at least one step, at most maxWindowSteps), else 10 steps.
func (s *PrometheusSamples) windowFor(started time.Time) time.Duration {
	switch {
	case s.window > 0:
		return s.window
	case !started.IsZero():
		return min(max(s.clock.Since(started), s.step), maxWindowSteps*s.step)
	}
	return 10 * s.step
}

// values runs one query over window and returns every value of its result.
func (s *PrometheusSamples) values(ctx context.Context, query string, window time.Duration) ([]float64, error) {
	q := canary.CompactQuery(query)
	p := s.p
	var v model.Value
	var err error
	if s.step == 0 {
		v, err = p.instant(ctx, q)
	} else {
		end := s.clock.Now().Truncate(s.step)
		r := v1.Range{Start: end.Add(-window), End: end, Step: s.step}
		v, err = p.retry(ctx, q, func(ctx context.Context) (model.Value, v1.Warnings, error) {
			return p.rq.QueryRange(ctx, q, r, v1.WithTimeout(p.timeout))
		})
	}
	if err != nil {
		return nil, err
	}
	out, err := allValues(v)
	if err != nil {
		return nil, &QueryError{Query: q, Err: err}
	}
	return out, nil
}

// allValues flattens a result into its values.
func allValues(v model.Value) ([]float64, error) {
	var out []float64
	switch r := v.(type) {
	case *model.Scalar:
		out = append(out, float64(r.Value))
	case model.Vector:
		for _, s := range r {
			if s.Histogram != nil {
				return nil, fmt.Errorf("%w: a native histogram sample; use histogram_quantile or histogram_count", ErrUnexpectedResult)
			}
			out = append(out, float64(s.Value))
		}
	case model.Matrix:
		for _, ss := range r {
			if ss == nil {
				return nil, fmt.Errorf("%w: a null series", ErrUnexpectedResult)
			}
			if len(ss.Histograms) > 0 {
				return nil, fmt.Errorf("%w: native histogram samples; use histogram_quantile or histogram_count", ErrUnexpectedResult)
			}
			for _, p := range ss.Values {
				out = append(out, float64(p.Value))
			}
		}
	default:
		return nil, fmt.Errorf("%w: result type %s", ErrUnexpectedResult, v.Type())
	}
	return out, nil
}
