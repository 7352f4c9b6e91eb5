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
//	┌─────────────┼──────────────┬──────────────┬─────────────────────┐
//	mesh/         metrics/       webhook/       kube/                 canary/canarytest/
//	TrafficSplit, Prometheus,    hooks, gates,  Deployments, status   in-memory doubles +
//	HTTPRoute,    Linkerd        persisted      in a Lease, events,   virtual time
//	services      checks, judge  gates, alerts  Flagger manifests,
//	                                            MetricTemplates,
//	                                            AlertProviders
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
// status line per target redrawn in place.
//
// Under internal/: testenv (real etcd, kube-apiserver, kube-controller-manager and Prometheus
// for the tests), meshsim (a simulated Linkerd data plane), e2e (the demo Canary manifests of kube/flagger/testdata released
// end to end), and stack (the wiring canaryctl, the operator and the e2e tests share).
//
// Start with the canary package, then examples/quickstart and examples/canaryctl.
package canarykit
