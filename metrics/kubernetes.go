package metrics

// Kubernetes returns Flagger's built-in queries for a Canary with provider kubernetes where
// no mesh's proxies report its traffic (Flagger's HTTP observer), for canary.Config.Builtins:
// the app's own request metrics, token for token as Flagger writes them but for the duration's
// unit (the query multiplies Flagger's seconds by 1000: the analysis reads milliseconds, as
// Flagger converts them after the query). Each call returns a new map, the caller's to change.
// {{ namespace }} is the target's namespace, {{ target }} the canary Deployment and
// {{ interval }} the metric's interval.
//
// The series are http_request_duration_seconds' (_count and _bucket) as Prometheus' pod
// scraping labels them: kubernetes_namespace, and kubernetes_pod_name matched by the target's
// name with a pod's generated suffixes; a request fails when its status is 5xx. In a Linkerd
// mesh, Flagger uses Linkerd's queries for every Canary, provider kubernetes too (Linkerd).
func Kubernetes() map[string]string {
	return map[string]string{
		RequestSuccessRate: kubernetesSuccessRate,
		RequestDuration:    kubernetesDuration,
	}
}

const (
	kubernetesPods        = `kubernetes_namespace="{{ namespace }}",kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"`
	kubernetesSuccessRate = `sum(rate(http_request_duration_seconds_count{` + kubernetesPods + `,status!~"5.*"}[{{ interval }}]))` +
		` / sum(rate(http_request_duration_seconds_count{` + kubernetesPods + `}[{{ interval }}])) * 100`
	kubernetesDuration = `histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket{` + kubernetesPods +
		`}[{{ interval }}])) by (le)) * 1000`
)
