// Package canarykit is an embeddable Go SDK for progressive (canary) delivery on Kubernetes:
// Flagger's canary analysis as a library that an operator, a CLI, a CI job or an integration
// test calls with rollout.Run(ctx).
//
// # Architecture
//
// The engine sits in the middle and the adapters around it:
//
//	         examples/ (quickstart, canaryctl, operator, integration)      wiring only
//	              │
//	         kube/driver (a Canary to a release on a cluster), kube/flagger (Flagger's objects)
//	              │
//	┌─────────────┼──────────────┬──────────────┬─────────────────────┐
//	mesh/         metrics/       webhook/       kube/                 canary/canarytest/
//	TrafficSplit, Prometheus,    hooks, gates,  Deployments, status   in-memory doubles +
//	HTTPRoute,    Linkerd        persisted      in a Lease, events,   virtual time
//	services      checks, judge  gates, alerts  control requests
//	└─────────────┴──────────────┴───────┬──────┴─────────────────────┘
//	                                     ▼
//	                                  canary/   the engine and the interfaces it consumes
//
// Package canary holds the state machine (Rollout, Run, phases, events) and the small
// interfaces it consumes — MeshRouter, MetricProvider, Gate, Checker, Workload, StatusStore —
// and imports no Kubernetes, HTTP or Prometheus client: every side effect is a call through one
// of them. The adapter packages implement them against real systems and import canary for its
// shared types; canary never imports them. Package canary/canarytest implements all of them in
// memory with a virtual clock, so a whole release runs in milliseconds. Package canary/progress
// shows a Rollout's events to people: lines with every check's verdict, or on a terminal one
// status line per target redrawn in place; metrics/selfmetrics shows them to Prometheus, with
// Flagger's self-metrics, and dashboards holds a Grafana dashboard on those.
//
// Above the adapters, in public: kube/flagger is Flagger compatibility (the Canary,
// MetricTemplate and AlertProvider objects: loading, references, conversion to canary.Spec,
// without a cluster client), and kube/driver the assembled path from a loaded Canary to a
// release on a cluster (clients, caches, the router spec.provider chooses, Prometheus per
// metric, hooks, alerts, events, the Lease), for one release (Release.Run) or for a target's
// releases as long as a context lives (Target.Start). canaryctl, the operator and the
// end-to-end tests are built on them.
//
// Under internal/: testenv (real etcd, kube-apiserver, kube-controller-manager and Prometheus
// for the tests), meshsim (a simulated Linkerd data plane) and e2e (the Canary manifests of
// kube/flagger/testdata released end to end).
//
// Start with the canary package, then examples/quickstart and examples/canaryctl.
package canarykit
