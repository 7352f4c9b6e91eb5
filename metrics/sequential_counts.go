package metrics

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"k8s.io/utils/clock"

	"github.com/canarykit/canarykit/canary"
)

// Counts are one workload's requests and failed requests.
type Counts struct {
	Requests, Errors float64
}

func (c Counts) String() string { return fmt.Sprintf("%.0f/%.0f failed", c.Errors, c.Requests) }

// clean makes counts the test can use: whole numbers (Prometheus' increase() extrapolates),
// nothing negative or NaN, no more errors than requests.
func (c Counts) clean() Counts {
	r, e := math.Round(c.Requests), math.Round(c.Errors)
	if !(r > 0) || math.IsInf(r, 0) {
		return Counts{}
	}
	if !(e > 0) {
		e = 0
	}
	return Counts{Requests: r, Errors: min(e, r)}
}

func (c *Counts) add(o Counts) { c.Requests += o.Requests; c.Errors += o.Errors }

// StepCounts are the counts of one step (one analysis interval) of the canary and the primary.
type StepCounts struct {
	Time            time.Time
	Canary, Primary Counts
}

// CountRequest asks for a release's counts.
type CountRequest struct {
	Target canary.Target
	// Metric is the Spec metric the check runs as: its Interval is the step, its Variables
	// fill the queries' {{ variables.<key> }}.
	Metric canary.Metric
	// Started is when the release's analysis began (zero if unknown).
	Started time.Time
}

// CountSource fetches the per-step counts of a release, oldest first, since its analysis
// started. Implementations must be safe for concurrent use.
type CountSource interface {
	Counts(ctx context.Context, req CountRequest) ([]StepCounts, error)
}

// CountsFunc adapts a function to CountSource.
type CountsFunc func(ctx context.Context, req CountRequest) ([]StepCounts, error)

// Counts calls f.
func (f CountsFunc) Counts(ctx context.Context, req CountRequest) ([]StepCounts, error) {
	return f(ctx, req)
}

// The Linkerd proxy's inbound responses per step: all of them, and those it classified as
// failures (the series Flagger's request-success-rate reads).
const (
	LinkerdRequestsQuery = `sum(increase(response_total{namespace="{{ namespace }}",deployment="{{ target }}",direction="inbound"}[{{ interval }}]))`
	LinkerdErrorsQuery   = `sum(increase(response_total{namespace="{{ namespace }}",deployment="{{ target }}",direction="inbound",classification="failure"}[{{ interval }}]))`
)

// PrometheusCountsOptions configure NewPrometheusCounts. Zero fields mean the default.
type PrometheusCountsOptions struct {
	// RequestsQuery and ErrorsQuery count one workload's requests and failed requests over
	// {{ interval }}; {{ target }} is rendered as the canary and as the primary. Both or
	// neither. Default: LinkerdRequestsQuery and LinkerdErrorsQuery.
	RequestsQuery, ErrorsQuery string
	// Clock gives the end of the window. Default: the real clock.
	Clock clock.PassiveClock
}

// PrometheusCounts is a CountSource that runs range queries over the release's life at a step
// of the Spec metric's interval (default 1m), which is also their {{ interval }}, so steps do
// not overlap: four queries per check (requests and errors, canary and primary). Steps are
// counted from the release's start (CountRequest.Started): the first ends one interval after
// it, and none counts requests answered before it, such as the last ones of a canary rolled
// back moments earlier, whose pods' series carry the same deployment label. Until the first
// whole step there are no counts (and no query). A step without requests is a step without
// traffic; a step without an errors value had no errors (a failure series appears with the
// first failure). The window is capped at 1000 steps.
type PrometheusCounts struct {
	p                  *Prometheus
	requests, failures string
	clock              clock.PassiveClock
}

// NewPrometheusCounts returns a CountSource over p.
func NewPrometheusCounts(p *Prometheus, opts PrometheusCountsOptions) (*PrometheusCounts, error) {
	var problems []string
	if p == nil {
		problems = append(problems, "Prometheus: required")
	}
	if (opts.RequestsQuery == "") != (opts.ErrorsQuery == "") {
		problems = append(problems, "RequestsQuery, ErrorsQuery: set both or neither")
	}
	if opts.RequestsQuery == "" {
		opts.RequestsQuery, opts.ErrorsQuery = LinkerdRequestsQuery, LinkerdErrorsQuery
	}
	for _, q := range []struct{ field, text string }{{"RequestsQuery", opts.RequestsQuery}, {"ErrorsQuery", opts.ErrorsQuery}} {
		if err := canary.CheckQuery(q.text); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", q.field, err))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: prometheus counts: %s", ErrInvalidOptions, strings.Join(problems, "; "))
	}
	c := &PrometheusCounts{p: p, requests: opts.RequestsQuery, failures: opts.ErrorsQuery, clock: opts.Clock}
	if c.clock == nil {
		c.clock = clock.RealClock{}
	}
	return c, nil
}

// Counts runs the four range queries and aligns their steps.
func (c *PrometheusCounts) Counts(ctx context.Context, req CountRequest) ([]StepCounts, error) {
	step := req.Metric.Interval
	if step <= 0 {
		step = canary.DefaultMetricInterval
	}
	start, end, ok := stepRange(req.Started, c.clock.Now(), step)
	if !ok {
		return nil, nil // the release has no whole step yet: nothing to ask
	}
	r := v1.Range{Start: start, End: end, Step: step}
	var series [4]map[int64]float64 // canary requests, canary errors, primary requests, primary errors
	i := 0
	for _, name := range []string{req.Target.Name, req.Target.PrimaryName()} {
		vars := canary.VarsFor(req.Target, req.Metric)
		vars.Target = name
		for _, tmpl := range []string{c.requests, c.failures} {
			q, err := canary.RenderQuery(tmpl, vars)
			if err != nil {
				return nil, err
			}
			if series[i], err = c.rangeSums(ctx, canary.CompactQuery(q), r); err != nil {
				return nil, err
			}
			i++
		}
	}
	var times []int64
	for t := range series[0] {
		times = append(times, t)
	}
	slices.Sort(times)
	out := make([]StepCounts, 0, len(times))
	for _, t := range times {
		s := StepCounts{Time: time.UnixMilli(t), Canary: Counts{Requests: series[0][t], Errors: series[1][t]}}
		if pr, ok := series[2][t]; ok {
			s.Primary = Counts{Requests: pr, Errors: series[3][t]}
		}
		out = append(out, s)
	}
	return out, nil
}

// stepRange gives the first and last steps' times of the range queries: each step's value
// counts the window (t-step, t]. From the release's start, steps are the release's own:
// started+step, started+2·step, …, up to now, so no window reaches before it started. A window
// that did would count the requests the canary's Deployment answered just before (the pods of
// a revision rolled back or replaced moments earlier carry the same deployment label) as the
// new release's. ok is false while the release has no whole step. Without a start, the last 10
// steps on the step's grid.
func stepRange(started, now time.Time, step time.Duration) (start, end time.Time, ok bool) {
	if started.IsZero() {
		end = now.Truncate(step)
		return end.Add(-10 * step), end, true
	}
	// Prometheus' timestamps are milliseconds: the origin rounded up keeps windows after it
	origin := started.Truncate(time.Millisecond)
	if origin.Before(started) {
		origin = origin.Add(time.Millisecond)
	}
	n := now.Sub(origin) / step
	if n < 1 {
		return time.Time{}, time.Time{}, false
	}
	end = origin.Add(n * step)
	start = origin.Add(step)
	if oldest := end.Add(-(maxWindowSteps - 1) * step); start.Before(oldest) {
		start = oldest
	}
	return start, end, true
}

// rangeSums runs a range query and sums its series per timestamp (milliseconds).
func (c *PrometheusCounts) rangeSums(ctx context.Context, q string, r v1.Range) (map[int64]float64, error) {
	p := c.p
	v, err := p.retry(ctx, q, func(ctx context.Context) (model.Value, v1.Warnings, error) {
		return p.rq.QueryRange(ctx, q, r, v1.WithTimeout(p.timeout))
	})
	if err != nil {
		return nil, err
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return nil, &QueryError{Query: q, Err: fmt.Errorf("%w: result type %s, want a matrix", ErrUnexpectedResult, v.Type())}
	}
	out := map[int64]float64{}
	for _, ss := range m {
		if ss == nil {
			return nil, &QueryError{Query: q, Err: fmt.Errorf("%w: a null series", ErrUnexpectedResult)}
		}
		if len(ss.Histograms) > 0 {
			return nil, &QueryError{Query: q, Err: fmt.Errorf("%w: native histogram samples", ErrUnexpectedResult)}
		}
		for _, pt := range ss.Values {
			if v := float64(pt.Value); !math.IsNaN(v) {
				out[int64(pt.Timestamp)] += v
			}
		}
	}
	return out, nil
}
