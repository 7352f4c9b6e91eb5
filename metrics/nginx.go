package metrics

// NGINX returns Flagger's built-in NGINX ingress queries, token for token (whitespace aside),
// for a Canary with provider nginx: wire it as canary.Config.Builtins. Each call returns a new
// map, the caller's to change. {{ ingress }} is the Canary's ingressRef name
// (canary.Target.Ingress) and {{ interval }} the metric's interval.
//
// The series are ingress-nginx's controller metrics: nginx_ingress_controller_requests for
// the success rate (percent of requests the canary Ingress served without a 5xx status), and
// the response time for the duration, which Flagger computes as the mean of
// nginx_ingress_controller_response_duration_seconds (its _sum over its _count) in
// milliseconds, not as a quantile. canary!="" selects the requests ingress-nginx sent to the
// canary upstream.
func NGINX() map[string]string {
	return map[string]string{
		RequestSuccessRate: nginxSuccessRate,
		RequestDuration:    nginxDuration,
	}
}

const (
	nginxSuccessRate = `sum(rate(nginx_ingress_controller_requests{namespace="{{ namespace }}",ingress="{{ ingress }}",canary!="",status!~"5.*"}[{{ interval }}]))` +
		` / sum(rate(nginx_ingress_controller_requests{namespace="{{ namespace }}",ingress="{{ ingress }}",canary!=""}[{{ interval }}])) * 100`
	nginxDuration = `sum(rate(nginx_ingress_controller_response_duration_seconds_sum{namespace="{{ namespace }}",ingress="{{ ingress }}",canary!=""}[{{ interval }}]))` +
		` / sum(rate(nginx_ingress_controller_response_duration_seconds_count{namespace="{{ namespace }}",ingress="{{ ingress }}",canary!=""}[{{ interval }}])) * 1000`
)
