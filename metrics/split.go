package metrics

import "github.com/canarykit/canarykit/canary"

// Mesh names a data plane whose own metrics measure the split.
type Mesh string

// The data planes the split check can measure.
const (
	MeshLinkerd Mesh = "linkerd" // SMI TrafficSplit and Gateway API HTTPRoute on Linkerd
	MeshIstio   Mesh = "istio"
	MeshNGINX   Mesh = "nginx" // ingress-nginx canary Ingresses
)

// splitShares is the one table of the split check's queries (see SplitQueries).
var splitShares = map[Mesh][2]string{
	MeshLinkerd: {
		`sum(increase(response_total{namespace="{{ namespace }}",deployment="{{ target }}",direction="inbound",authority!~"{{ service }}-(canary|primary)([.:].*)?"}[{{ interval }}]))`,
		`sum(increase(response_total{namespace="{{ namespace }}",deployment=~"{{ target }}|{{ target }}-primary",direction="inbound",authority!~"{{ service }}-(canary|primary)([.:].*)?"}[{{ interval }}]))`,
	},
	MeshIstio: {
		`sum(increase(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload="{{ target }}"}[{{ interval }}]))`,
		`sum(increase(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}|{{ target }}-primary"}[{{ interval }}]))`,
	},
	MeshNGINX: {
		`sum(increase(nginx_ingress_controller_requests{namespace="{{ namespace }}",ingress="{{ ingress }}",canary!=""}[{{ interval }}]))`,
		`sum(increase(nginx_ingress_controller_requests{namespace="{{ namespace }}",ingress="{{ ingress }}"}[{{ interval }}]))`,
	},
}

// SplitQueries returns the split check's queries for a data plane (canary.Config.Split), and
// false for a data plane it cannot measure. Provider is left nil: the Rollout's metric
// provider runs them.
//
// Per data plane, the requests the canary answered and those both sides answered, over
// {{ interval }}:
//
//   - Linkerd: the inbound response_total of the two Deployments. Requests addressed to
//     <service>-canary or <service>-primary themselves (a load test's, an acceptance test's)
//     are left out by their authority, since no split routes them; requests from outside the
//     mesh to the apex Service's pods (seed 000's ingress) count, which is what reveals them.
//   - Istio: istio_requests_total as the destination's sidecar reports it, by
//     destination_workload. Istio's standard labels cannot tell direct requests to the canary
//     Service from split ones: a load test on the canary raises its share (it can hide a
//     bypass, never invent one).
//   - NGINX: nginx_ingress_controller_requests of the ingress ({{ ingress }}), the canary's
//     being those with a canary label. Only the ingress's own traffic is seen.
func SplitQueries(m Mesh) (*canary.SplitQueries, bool) {
	q, ok := splitShares[m]
	if !ok {
		return nil, false
	}
	return &canary.SplitQueries{Canary: q[0], Total: q[1]}, true
}
