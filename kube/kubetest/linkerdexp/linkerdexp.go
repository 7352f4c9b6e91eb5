// Package linkerdexp serves metrics shaped like a Linkerd proxy's, for tests that give a release
// real Prometheus queries without a mesh: serve an Exporter (an http.Handler) to a test
// Prometheus, and canarykit's Linkerd checks (Flagger's request-success-rate and
// request-duration queries) read it as they would read a meshed cluster.
//
//	exp := linkerdexp.New(linkerdexp.Options{})
//	srv := httptest.NewServer(exp) // a scrape target of the test's Prometheus
//	exp.SetTraffic(linkerdexp.Workload{Namespace: ns, Deployment: "podinfo"},
//		linkerdexp.Traffic{RPS: 100, FailureRatio: 0.1}) // 90 % success from now on
//
// Series, per (namespace, deployment, pod, status code), all with direction="inbound",
// tls="true" and an authority label: response_total (classification "success", or "failure"
// for 5xx) and the response_latency_ms histogram with Linkerd's bucket bounds (BucketsMs).
// Record counts one real request; SetTraffic generates requests at a rate with a failure ratio
// and a latency range as time passes (reproducible for a seed and a clock) and may be changed at
// any time. The zero Exporter is ready to use.
//
// These are the types of canarykit's own test bed, under their public names.
package linkerdexp

import (
	internal "github.com/canarykit/canarykit/internal/testenv/linkerdexp"
)

type (
	// Exporter serves Linkerd-proxy-shaped metrics in the Prometheus text format.
	Exporter = internal.Exporter
	// Options configure an Exporter: the clock of synthetic traffic and its random seed.
	Options = internal.Options
	// Workload identifies the pods whose proxies report: a Deployment in a namespace.
	Workload = internal.Workload
	// Traffic describes synthetic requests to a workload; the zero value is no traffic.
	Traffic = internal.Traffic
)

// New returns an Exporter.
func New(opts Options) *Exporter { return internal.New(opts) }

// BucketsMs returns the upper bounds, in milliseconds, of Linkerd's response_latency_ms
// buckets (a +Inf bucket follows).
func BucketsMs() []float64 { return internal.BucketsMs() }
