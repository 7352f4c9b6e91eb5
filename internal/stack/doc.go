// Package stack wires canarykit's packages into what a Flagger + Linkerd + Prometheus user
// runs: a Deployment workload with the status in a Lease (kube), an SMI TrafficSplit or
// Gateway API HTTPRoute router (mesh), Prometheus with Linkerd's built-in checks (metrics),
// and Flagger-compatible HTTP webhooks (webhook), for a Flagger Canary manifest. canaryctl,
// the operator example and the end-to-end tests share it; it is the reference wiring for
// embedders to copy.
package stack
