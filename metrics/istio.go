package metrics

// Istio returns Flagger's built-in Istio queries, token for token (Flagger indents them over
// many lines; the whitespace differs, nothing else), for canary.Config.Builtins of a target
// routed through Istio: a Spec metric named RequestSuccessRate or RequestDuration without a
// query uses them, as a Flagger Canary with provider istio does. Each call returns a new map,
// the caller's to change. {{ namespace }} is the target's namespace, {{ target }} the canary
// Deployment and {{ interval }} the metric's interval.
//
// The series are the Istio proxies' istio_requests_total and
// istio_request_duration_milliseconds_bucket as the server side reports them
// (reporter="destination"), selected by destination_workload_namespace and
// destination_workload; a request fails when its response_code is 5xx.
func Istio() map[string]string {
	return map[string]string{
		RequestSuccessRate: istioSuccessRate,
		RequestDuration:    istioDuration,
	}
}

const (
	istioSuccessRate = `sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}",response_code!~"5.*"}[{{ interval }}]))` +
		` / sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}"}[{{ interval }}])) * 100`
	istioDuration = `histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}"}[{{ interval }}])) by (le))`
)
