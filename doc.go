// Package canarykit is an embeddable Go SDK for progressive (canary) delivery on Kubernetes:
// Flagger's canary analysis as a library that an operator, a CLI, a CI job or an integration
// test calls with rollout.Run(ctx).
//
// # Architecture
//
// The engine sits in the middle and the adapters around it:
//
//	         examples/ (quickstart, ...)          wiring only
//	              │
//	┌─────────────┼──────────────┬──────────────┬─────────────────────┐
//	mesh/         metrics/       webhook/       kube/                 canary/canarytest/
//	routers       Prometheus,    gates, hooks,  Deployments,          in-memory doubles +
//	              judge          notifiers      status, lease         virtual time
//	└─────────────┴──────────────┴───────┬──────┴─────────────────────┘
//	                                     ▼
//	                                  canary/   the engine and the interfaces it consumes
//
// Package canary holds the state machine (Rollout, Run, phases, events) and the small
// interfaces it consumes — MeshRouter, MetricProvider, Gate, Checker, Workload, StatusStore —
// and imports no Kubernetes, HTTP or Prometheus client: every side effect is a call through one
// of them. The adapter packages implement them against real systems and import canary for its
// shared types; canary never imports them. Package canary/canarytest implements all of them in
// memory with a virtual clock, so a whole release runs in milliseconds.
//
// Start with the canary package, then examples/quickstart.
package canarykit
