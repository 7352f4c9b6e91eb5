package metrics

// Names of Flagger's built-in checks.
const (
	// RequestSuccessRate is the percentage of inbound requests to the canary that did not fail;
	// Flagger fails it when the value is below thresholdRange.min.
	RequestSuccessRate = "request-success-rate"
	// RequestDuration is the canary's p99 inbound latency in milliseconds; Flagger fails it
	// when the value is above thresholdRange.max.
	RequestDuration = "request-duration"
)

// Linkerd holds Flagger's built-in Linkerd queries, token for token (Flagger indents them over
// many lines; the whitespace differs, nothing else). Wire it as canary.Config.Builtins so that a
// Spec metric named RequestSuccessRate or RequestDuration without a query uses them, exactly as
// a Flagger Canary with meshProvider linkerd does. The engine renders the Flagger variables:
// {{ target }} is the canary Deployment and {{ interval }} the metric's interval.
//
// The series are the Linkerd proxy's response_total and response_latency_ms_bucket, with the
// namespace and deployment labels Linkerd's Prometheus configuration adds.
var Linkerd = map[string]string{
	RequestSuccessRate: `sum(rate(response_total{namespace="{{ namespace }}",deployment=~"{{ target }}",classification!="failure",direction="inbound"}[{{ interval }}]))` +
		` / sum(rate(response_total{namespace="{{ namespace }}",deployment=~"{{ target }}",direction="inbound"}[{{ interval }}])) * 100`,
	RequestDuration: `histogram_quantile(0.99, sum(rate(response_latency_ms_bucket{namespace="{{ namespace }}",deployment=~"{{ target }}",direction="inbound"}[{{ interval }}])) by (le))`,
}
