package metrics

import (
	"context"
	"math"

	"github.com/canarykit/canarykit/canary"
)

// Names of Flagger's built-in checks.
const (
	// RequestSuccessRate is the percentage of inbound requests to the canary that did not fail;
	// Flagger fails it when the value is below thresholdRange.min.
	RequestSuccessRate = "request-success-rate"
	// RequestDuration is the canary's p99 inbound latency in milliseconds; Flagger fails it
	// when the value is above thresholdRange.max.
	RequestDuration = "request-duration"
)

// Linkerd returns Flagger's built-in Linkerd queries, token for token (Flagger indents them over
// many lines; the whitespace differs, nothing else). Wire it as canary.Config.Builtins so that a
// Spec metric named RequestSuccessRate or RequestDuration without a query uses them, exactly as
// a Flagger Canary with meshProvider linkerd does. Each call returns a new map, the caller's to
// change. The engine renders the Flagger variables:
// {{ target }} is the canary Deployment and {{ interval }} the metric's interval.
//
// The series are the Linkerd proxy's response_total and response_latency_ms_bucket, with the
// namespace and deployment labels Linkerd's Prometheus configuration adds.
func Linkerd() map[string]string {
	return map[string]string{
		RequestSuccessRate: linkerdSuccessRate,
		RequestDuration:    linkerdDuration,
	}
}

const (
	linkerdSuccessRate = `sum(rate(response_total{namespace="{{ namespace }}",deployment=~"{{ target }}",classification!="failure",direction="inbound"}[{{ interval }}]))` +
		` / sum(rate(response_total{namespace="{{ namespace }}",deployment=~"{{ target }}",direction="inbound"}[{{ interval }}])) * 100`
	linkerdDuration = `histogram_quantile(0.99, sum(rate(response_latency_ms_bucket{namespace="{{ namespace }}",deployment=~"{{ target }}",direction="inbound"}[{{ interval }}])) by (le))`
)

// LinkerdJudgeMetrics returns judge metrics over the same Linkerd series as Flagger's built-in
// checks, for a Judge with a PrometheusSamples source: the inbound error ratio in percent and
// the p99 latency in milliseconds, both bad when they increase. {{ target }} is rendered once
// for the canary and once for the primary (the baseline); {{ interval }} is the rate window,
// which should equal the source's step so that samples do not overlap.
func LinkerdJudgeMetrics() []JudgeMetric {
	return []JudgeMetric{
		{
			Name: "error-ratio",
			// 100 − the success rate: a failure series exists only once a request failed, so the
			// ratio is taken over the non-failures, as Flagger's success rate does.
			Query: `100 - sum(rate(response_total{namespace="{{ namespace }}",deployment=~"{{ target }}",classification!="failure",direction="inbound"}[{{ interval }}]))` +
				` / sum(rate(response_total{namespace="{{ namespace }}",deployment=~"{{ target }}",direction="inbound"}[{{ interval }}])) * 100`,
			Direction: DirectionIncrease,
			Critical:  true,
		},
		{
			Name:      "latency-p99",
			Query:     `histogram_quantile(0.99, sum(rate(response_latency_ms_bucket{namespace="{{ namespace }}",deployment=~"{{ target }}",direction="inbound"}[{{ interval }}])) by (le))`,
			Direction: DirectionIncrease,
		},
	}
}

// WholeMilliseconds returns a MetricProvider whose values are p's truncated toward zero, as
// Flagger reads its built-in request-duration check: a time.Duration of whole milliseconds
// (a p99 of 500.7 ms passes a thresholdRange.max of 500 there). The kube driver wires it for a
// Canary's request-duration metric without a query or template; an embedder wiring Builtins
// by hand does the same for a check read as Flagger reads it. Errors pass as p returns them.
func WholeMilliseconds(p canary.MetricProvider) canary.MetricProvider { return &wholeMilliseconds{p} }

// wholeMilliseconds is WholeMilliseconds' provider (a pointer: comparable, as a Spec's
// providers are).
type wholeMilliseconds struct{ p canary.MetricProvider }

func (w *wholeMilliseconds) Query(ctx context.Context, query string) (float64, error) {
	v, err := w.p.Query(ctx, query)
	if err != nil {
		return v, err
	}
	return math.Trunc(v), nil // NaN (no data) stays NaN
}
