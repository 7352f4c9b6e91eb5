// Package linkerdexp serves metrics shaped like a Linkerd proxy's, for tests: Prometheus
// scrapes it, and canarykit's Linkerd checks (Flagger's request-success-rate and
// request-duration queries) read the result as they would in a meshed cluster.
//
// Series, per (namespace, deployment, pod, status code, authority), all with
// direction="inbound" and tls="true"; the authority is the host a request was addressed to
// (RecordAddressed), by default the workload's own service name:
//
//	response_total{...,classification="success"|"failure"}   counter (5xx fail)
//	response_latency_ms_bucket{...,le="1"..."50000","+Inf"}    histogram, Linkerd's bounds
//	response_latency_ms_sum, response_latency_ms_count
//
// Unlike a real proxy the exporter puts namespace, deployment and pod on the series itself:
// in a cluster Prometheus' Linkerd scrape config adds them by relabeling, and Flagger's queries
// filter on them.
//
// Two ways to make traffic, which may be mixed:
//
//   - Record counts one real request (a simulated data plane forwards HTTP requests and
//     records each answer here);
//   - SetTraffic generates requests at a rate with a failure ratio and a latency range,
//     advancing the counters as time passes (reproducible for a seed and a clock), and may be
//     changed at any time, e.g. to drop the success rate to 90 % in the middle of a test.
//
// An Exporter is an http.Handler; serve it with httptest.NewServer and give Prometheus its
// URL. The zero value is ready to use.
package linkerdexp
