// Command operator is a small canary-delivery controller built on canarykit: it releases every
// Deployment annotated with canarykit.dev/analysis (Flagger's `analysis` section, as YAML)
// through canary analysis, many at once, while it is the elected leader among its replicas.
//
//	kubectl annotate deployment podinfo canarykit.dev/port=9898 canarykit.dev/analysis="$(cat <<EOF
//	interval: 30s
//	threshold: 5
//	maxWeight: 50
//	stepWeight: 5
//	metrics:
//	- {name: request-success-rate, thresholdRange: {min: 99}, interval: 1m}
//	EOF
//	)"
//	operator --prometheus http://prometheus.linkerd-viz:9090 --identity $POD_NAME
//
// Each annotated Deployment gets a kube/driver Target, kicked on every change of the
// Deployment; the Target holds the target's Lease (status, resumption), applies control
// requests, delivers the analysis' alerts and releases every new revision, so a new leader
// continues the releases a previous one left mid-way. The annotations are values, never
// manifest text: the Canary is assembled around them as data. The leader lock has its own
// client; a replica that loses the lead stops every target and exits with status 1.
package main
