// Command flagger-controller drives Flagger's Canary objects (flagger.app/v1beta1) with
// canarykit, in place of Flagger: a Flagger user keeps their Canaries, MetricTemplates and
// AlertProviders and runs this controller instead.
//
//	flagger-controller --namespace test --prometheus http://prometheus.linkerd-viz:9090
//
// It watches the Canaries of one namespace (--namespace) or all, decodes each with kube/flagger
// and drives it with a kube/driver Target: the Target holds the target's Lease, releases
// every new revision of the target Deployment, resolves the Canary's MetricTemplates and
// AlertProviders from the cluster at each release start (driver.ClusterObjects), and records
// the release's Events on the Canary as Flagger does (reason Synced, Flagger's messages), so
// `kubectl describe canary podinfo` shows the release. A Canary that does not load, or that
// canarykit cannot drive, gets a Warning Event naming the field (the problem cut to
// MaxWarning bytes) and is not driven; the
// self-metrics count it in flagger_canary_total, as Flagger counts every Canary, and give its
// target's flagger_canary_status 2 (Failed) until it is fixed or deleted (selfmetrics' Refuse).
//
// A Canary Flagger already initialized is taken over as it is: the objects Flagger generated
// for it (primary Deployment, Services, TrafficSplit or other route, primary autoscaler and
// config copies, whose controller is that Canary) are adopted and labelled as canarykit's at
// the next write, keeping Flagger's owner reference, and a primary that runs the target's
// template and configuration is taken as running its revision: the unchanged target is not
// released again, the next change is.
//
// The Canary informer decodes each Canary once, into its typed metadata (its managedFields
// skipped), its spec as the JSON it came in and the three fields of its status the
// self-metrics show (CanaryClient): the echo
// of every status write the driver makes is told from an edit without decoding the spec, and
// the spec is decoded by kube/flagger only when a Target starts or changes. The Targets are
// kicked by their Deployment's events from the driver's own informer caches
// (driver.Driver.OnDeployment), so that each Deployment event is decoded and cached once.
//
// Edits and deletion follow Flagger. A changed analysis applies from the next release (a
// release running keeps the spec it started with); a changed targetRef or service restarts
// the Target (a Canary moved to another Deployment leaves the old one on its primary).
// Deleting a Canary stops its Target and leaves the traffic on the primary (route all to the
// primary, target scaled to zero), releasing the Lease. With spec.revertOnDeletion the
// controller puts Flagger's finalizer (finalizer.flagger.app) on the Canary (and removes it
// from a Canary edited without, as Flagger does) and, on deletion, hands the target back: scaled up, the apex Service selecting its pods, the route
// objects, the primary and the generated Services removed; then it removes the finalizer.
//
// Replicas share the work with no leader: every replica runs the informers and a Target per
// Canary, and the target's Lease lets one replica at a time drive it. When a replica dies,
// its Canaries continue on the others within one lease duration (--lease-duration), each
// from its saved step. Give each replica its own --identity (default: host name and pid).
//
// The driver's client rate limit follows the running Canaries (driver.RateLimit of them,
// never below 50 requests per second, burst 100); --kube-api-qps and --kube-api-burst set a
// fixed one instead, and the driver logs a warning when the Canaries' expected load nears it.
// /metrics shows the limit (canarykit_client_rate_limit_qps, canarykit_client_rate_limit_burst)
// and the requests that waited for it (canarykit_client_throttled_requests_total), and the
// targets' Events the driver could not write (canarykit_events_dropped_total). The watch
// client has its own small limit. --http1-requests sends the driver's requests over HTTP/1.1
// (driver.Options.HTTP1Requests): less CPU per request, up to 100 connections per pool.
// --events says which Events are written on the Canaries: all (the default, as Flagger writes
// them), warnings (what goes wrong or holds a release; a release that goes well writes none)
// or none (kube.EventsOptions.Record); the releases' events still reach the self-metrics, the
// alerts and the event webhooks.
// --gomaxprocs (1 by default) is how many threads run the controller's Go code at once: its
// work is waiting on the API server and Prometheus, and a second thread cost more CPU in the
// Go scheduler's hand-offs than it gave back (a third more per step at 1,000 Canaries on two
// cores); 0 keeps Go's default, and a GOMAXPROCS variable is kept unless the flag is given.
//
// --metrics-addr serves Flagger's self-metrics, the Go and process metrics and
// rest_client_rate_limiter_duration_seconds (how long the clients' requests waited for their
// rate limit, by verb); --pprof-addr serves net/http/pprof's /debug/pprof/ on a listener of its
// own (off by default). Log lines go to stderr gathered, at most --log-flush-frequency (1s)
// after they are logged, a Warning or an Error at once with everything before it (0: every
// line at once). internal/scale measures this controller, run as its own process.
//
// rbac.yaml beside this file holds the permissions it needs; the README shows how to run it
// in and out of the cluster.
package main
