// Package metrics gives the canary engine its metric checks: a Prometheus provider, a Datadog
// provider for Flagger's datadog MetricTemplates, Flagger's
// built-in Linkerd queries, a statistical judge that compares the canary with its primary at
// each tick, and a sequential test of the error rate across the whole release.
//
// # Prometheus
//
// Prometheus implements canary.MetricProvider with instant queries over Prometheus' HTTP API.
// An instant query is the hot path of a process with many rollouts, so the provider sends it
// itself, the way client_golang does (a form-encoded POST to /api/v1/query with the query and
// the evaluation timeout, again as a GET when the server answers 405 or 501), asks for the
// answer uncompressed (a few hundred bytes), and decodes the usual answer (a scalar, or a
// vector of one sample) in one pass without allocating; any other answer goes through the
// general decoder of client_golang's types, which writes the errors. Range queries
// (PrometheusSamples, PrometheusCounts) use client_golang's API client. NewPrometheus takes what a Flagger
// MetricTemplate's provider and secret carry — address, bearer token or basic auth
// (SecretCredentials reads Flagger's secret keys), headers, insecureSkipVerify — plus a CA
// bundle and timeouts:
//
//	prom, err := metrics.NewPrometheus(metrics.PrometheusOptions{
//		Address:     "http://prometheus.linkerd-viz:9090",
//		Credentials: metrics.Credentials{BearerToken: token},
//	})
//
// Each attempt is bounded by Timeout (default 5 s, Flagger's), which is also sent to
// Prometheus as the evaluation timeout. Connection errors, 5xx answers, 408/429 and attempt
// timeouts are retried with exponential backoff (a cenkalti/backoff schedule, made only once an
// attempt has failed) within the query's context —
// a Rollout gives each query the analysis interval — and stop before a wait would outlast it.
// Bad queries (bad_data, execution), other 4xx, answers that are not Prometheus' API and TLS
// verification failures fail at once. Every error is a *QueryError carrying the query as sent,
// Prometheus' own error type and message, and the number of attempts:
//
//	bad_data: invalid parameter "query": 1:52: parse error: unclosed left parenthesis: query sum(rate(...
//	could not reach Prometheus at http://127.0.0.1:9090: Post "http://127.0.0.1:9090/api/v1/query": dial tcp ...: connection refused (14 attempts): query ...
//
// A query that could not reach Prometheus (connection errors, no answer before the context's
// deadline, 5xx on every attempt) wraps ErrUnavailable, which also matches
// canary.ErrUnavailable: nothing was measured, so a Rollout holds the step instead of counting
// a failed check (see canary.VerdictUnavailable). Prometheus' error text is cut at
// MaxErrorTextBytes in errors and events, and an answer larger than MaxResponseBytes fails
// the query (ErrUnexpectedResult) rather than being read whole.
//
// # Connections and credentials
//
// Providers for the same server (scheme, host and TLS settings) share one transport from a
// Pool, with at most MaxConnsPerServer connections (default 32, reused between ticks; the
// numbers and why are at DefaultMaxConnsPerServer). An operator with a provider per target
// creates one Pool and passes it in PrometheusOptions.Pool; providers without one share a
// process-wide pool. Credentials and headers stay per provider, and are added only to
// requests for the configured server's scheme and host: a redirect to another host does not
// receive them.
//
// A scalar or a vector with one sample is the value. An empty vector, or NaN (the 0/0 of a
// success rate without traffic), is an error wrapping canary.ErrNoData, so the metric's
// OnNoData policy applies and the event names the query. Several series
// wrap ErrMultipleSeries and name the first label sets; a range vector or a string wraps
// ErrUnexpectedResult. Runs of whitespace outside string literals are folded before sending,
// as Flagger does, so multi-line templates read well in events and Prometheus' query log.
//
// # Datadog
//
// Datadog implements canary.MetricProvider for Flagger's MetricTemplates of type datadog: a GET
// of Datadog's v1 query API (/api/v1/query) with the query as written, from = now − Window and
// to = now (Unix seconds; Window is ten times the metric's interval, as Flagger: DatadogWindow),
// and the DD-API-KEY and DD-APPLICATION-KEY headers (the secret's datadog_api_key and
// datadog_application_key), sent only to the configured server's scheme and host. It shares
// the Prometheus provider's machinery: the Pool's connections, bounded bodies and error text,
// the same retries and classification (5xx, 408, 429 and connection errors retried within the
// query's context, then ErrUnavailable; other answers fail at once with Datadog's
// {"errors": [...]} text as a client_error, and a successful answer whose status is "error",
// or that carries {"errors": [...]}, as type "error"; a successful answer with neither
// "status": "ok" nor "series", such as {}, wraps ErrUnexpectedResult, not canary.ErrNoData),
// and *QueryError.
//
// The value is the most recent non-null point of the query's single series. Flagger returns
// the first point of the first series instead (the oldest of its ten-interval window, on the
// grounds that the newest bucket may be incomplete); a query that needs a settled value should
// say so itself (a rollup, or .fill). Several series wrap ErrMultipleSeries (Flagger takes the
// first); no series, or only null points, wrap canary.ErrNoData. Datadog's own availability
// check (Flagger's IsOnline, /api/v1/validate) is not made: a bad key fails the first query
// with Datadog's 403. The tests use an httptest server that speaks the v1 query API; no real
// Datadog is contacted.
//
// # Flagger's checks
//
// Linkerd() maps "request-success-rate" and "request-duration" to Flagger's Linkerd queries,
// token for token (a new map per call); Istio() does the same with Flagger's Istio queries
// (istio_requests_total and istio_request_duration_milliseconds_bucket, reporter
// "destination"), for targets routed through Istio. Wire it as canary.Config.Builtins and a Flagger Canary's analysis converts
// as is: a metric named without a query uses the built-in, with thresholdRange min (success
// rate, percent) or max (p99, milliseconds). Flagger reads request-duration in whole
// milliseconds, its value and bounds truncated (a p99 of 500.7 passes a max of 500):
// WholeMilliseconds(provider) as that metric's Provider reads it so, as the kube driver wires
// it. Custom queries are Go templates with Flagger's
// variables — {{ name }}, {{ namespace }}, {{ target }}, {{ service }}, {{ interval }},
// {{ variables.key }} — rendered by the engine once, at canary.New, where a missing key is an
// error. The engine builds each check's CheckResult (resolved query, value, threshold,
// verdict) for its events.
//
// NGINX() does the same with Flagger's NGINX ingress queries over ingress-nginx's
// nginx_ingress_controller_requests and nginx_ingress_controller_response_duration_seconds
// (the mean, in milliseconds, as Flagger computes it), for Canaries with provider nginx;
// {{ ingress }} is the Canary's ingressRef name. Kubernetes() does the same with the queries
// Flagger runs for provider kubernetes outside a Linkerd mesh, over the app's own
// http_request_duration_seconds (its pods by kubernetes_namespace and kubernetes_pod_name; the
// p99 in milliseconds).
//
// # Does the split reach the traffic?
//
// SplitQueries(mesh) returns the split check's queries (canary.Config.Split) for MeshLinkerd,
// MeshIstio or MeshNGINX: the requests the canary answered and those both sides answered over
// the analysis interval, from the data plane's own series, in one table (SplitQueries says
// what each counts and cannot tell apart).
//
// # The judge
//
// Judge is a canary.Checker that follows Kayenta's NetflixACAJudge. At every analysis tick,
// for each JudgeMetric it renders the metric's query twice — {{ target }} as the canary and as
// the primary, the baseline — and asks a SampleSource for both sides' samples: per pod (the
// series of an instant query) or per step (a range query), as PrometheusSamples does, or from
// anywhere else (SamplesFunc). Then per metric:
//
//   - NaN values are dropped; with OutlierFactor, values beyond Kayenta's IQR fences too.
//   - Fewer than MinSamples values on a side (default 5) is NoData.
//   - A two-sided Mann-Whitney U test (MannWhitney) of canary against baseline estimates the
//     shift (Hodges–Lehmann: the median of pairwise differences) with a confidence interval at
//     Confidence (default 0.98). Ties get average ranks and a corrected variance; the p-value
//     and interval are exact for samples under ExactLimit without ties, normal approximations
//     with continuity correction otherwise.
//   - High when the interval's lower bound exceeds Tolerance × |estimate| (default 0.25), Low
//     when its upper bound is below −Tolerance × |estimate|, for the Direction of concern
//     (increase, decrease, either); an optional effect-size gate (AllowedIncrease and
//     AllowedDecrease on the mean ratio or CLES) must agree. Otherwise Pass.
//
// A group's score is Pass / (Pass + High + Low) × 100; the score weighs the groups
// (GroupWeights, Kayenta's semantics) over those with data. A Critical metric that is High or
// Low scores 0. The outcome is Pass at PassScore (default 95; a Spec metric's
// thresholdRange.min, 0 to 100, overrides it), Marginal at MarginalScore (default 75), Fail
// below. A Spec metric bound to the judge (or to Sequential) has no thresholdRange.max, query
// or provider of its own (Sequential no thresholdRange at all): both implement
// canary.MetricValidator, and canary.New refuses such a setting at the metric's path. The
// check result has the score as its value, the pass score as its threshold, every rendered
// query, and a message with each metric's classification and evidence:
//
//	canary-judge score 0 < 75 (critical metric error-ratio is High): error-ratio High (critical): canary median 1.005
//	vs baseline 0.5, shift +0.5 [+0.47, +0.54] at 98%, p=3.6e-05, mean ratio 2.01, n=12/12
//
// Marginal scores (VerdictInconclusive, with ErrInconclusive) and missing data (VerdictNoData:
// half the metrics or more, or a critical one) go to the Spec metric's OnNoData policy, which
// decides: fail counts a failed check (Flagger's default; Kayenta's verdict at the end of an
// analysis), hold keeps the weight and looks again (Kayenta between intervals), ignore passes.
// With hold and a MinSamples, the canary stays at its first weight until the judge has
// enough evidence. Where this differs from Kayenta: groups without data are left out rather
// than counted as 100, missing data goes to the policy rather than failing outright, two
// constant samples are tested as they are rather than with added noise, and one Critical flag
// replaces Kayenta's separate critical effect sizes.
//
// LinkerdJudgeMetrics compares the Linkerd error ratio and p99 latency of canary and primary.
//
// # The sequential test
//
// The judge tests each tick on its own: looking again at every tick raises its chance of a
// false rollback over a long release, and a regression it cannot see in one window at 5 % is
// let through to the next weight. Sequential is a canary.Checker that instead accumulates the
// evidence of the whole release and stays valid however often it looks. It is Wald's sequential
// probability ratio test (A. Wald, Sequential Tests of Statistical Hypotheses, 1945) on the
// error counts of canary and primary, each step conditioned on its total errors: with errors
// Poisson at rates proportional to the requests, the canary's share of a step's errors is
// binomial with probability θ·n_c / (θ·n_c + n_p), θ the ratio of the error rates, and the
// primary's own rate drops out — the conditional test for comparing two Poisson rates
// (J. Przyborowski and H. Wileński, 1940). The log likelihood ratio of θ = Regression (default
// 2) against θ = Tolerance (default 1.25) is summed over the steps; the check fails once it has
// reached log(1/Alpha) at any step, and passes once it has reached log(Beta) (and never
// log(1/Alpha)); in between it is inconclusive, and with OnNoData hold the canary stays at its
// weight until the evidence decides. The ratio is a nonnegative martingale under θ = Tolerance
// (a supermartingale for any θ below, the binomial family having a monotone likelihood ratio),
// so by Ville's inequality (J. Ville, 1939) a canary no worse than Tolerance × the primary is
// failed with probability at most Alpha over the whole release, whatever the number of looks;
// the same argument on its inverse bounds by Beta the probability that a Regression × canary
// is ever passed. A regression found after a pass still fails. LearningRate η raises each
// step's ratio to the power η ≤ 1, which keeps both martingale bounds (by Jensen's inequality)
// and makes the test slower to move on counts more dispersed than Poisson (errors in bursts);
// the default, 1/3, and the Tolerance of 1.25 are what keeps bursty good canaries from false
// rollbacks in the benchmark below.
//
// What is accumulated: for every step of the Spec metric's interval (default 1m) since the
// release's analysis started, the canary's and the primary's requests and failed requests
// (CountSource; PrometheusCounts runs four range queries at that step, by default Linkerd's
// response_total, LinkerdRequestsQuery and LinkerdErrorsQuery). Steps are counted from the
// release's start, the first ending one interval after it, so that no step counts requests
// answered before it: the last requests of a canary rolled back, or of a revision replaced,
// moments earlier carry the same deployment label as the new canary's. Counts are rounded to whole
// numbers; a step without canary requests, or without errors on either side, carries no
// evidence. Nothing is kept in memory or in canary.Status: every check recomputes the test from
// Prometheus over the release's window, from canary.Status.StartedAt (saved with the release)
// to now, so a driver that restarts, or another replica that takes the release over, reaches
// the same evidence, and a new revision, which restarts the analysis with a new StartedAt,
// starts from none. The window is capped at 1000 steps, and Prometheus must keep the release's
// samples (its retention) for the evidence to survive.
//
// # Decision quality
//
// BenchmarkDecisionQuality runs a seeded corpus of synthetic releases through whole Rollouts
// in virtual time (canary/canarytest) and reports how often each analysis rolls back. The
// service takes 200 req/s with 0.5 % errors and a p99 of 350 ms; traffic splits by the route's
// weight; Prometheus' view is simulated in 30 s buckets (counts drawn per bucket, p99 as a
// histogram estimate from the bucket's requests). Every release steps 5 % a minute to 50 %
// and rolls back at 5 failed checks (the podinfo demo Canary's analysis). Threshold-only is
// Flagger's: request-success-rate ≥ 99 and request-duration ≤ 500 over 1 m. The judge compares
// per-bucket error ratio (critical) and p99 of canary and primary, both bad when they rise, over
// the last 20 minutes, holding (OnNoData hold) until each side has 20 or 60 buckets. The
// sequential test (defaults, at least 20 buckets before it passes) takes the per-bucket counts,
// with the judge on the p99 beside it:
//
//	go test ./metrics -run '^$' -bench DecisionQuality -benchtime 1x -timeout 60m -v   # -quality.n=1000 per class
//
//	| release class                | a rollback is a | threshold-only (Flagger)        | judge, 20 samples                | judge, 60 samples                | sequential, 20 samples            |
//	|------------------------------|-----------------|---------------------------------|----------------------------------|----------------------------------|-----------------------------------|
//	| good                         | false rollback  | 0.0 %, 12 min                   | 0.2 %, 21 min                    | 0.1 %, 41 min                    | 0.1 %, 29 min                     |
//	| 2× error rate                | detection       | 89.2 % (7.9 % by 10 %), 12 min  | 100.0 % (74.1 % by 10 %), 16 min | 100.0 % (99.7 % by 10 %), 36 min | 100.0 % (100.0 % by 10 %), 31 min |
//	| +50 % latency                | detection       | 100.0 % (52.6 % by 10 %), 8 min | 100.0 % (100.0 % by 10 %), 16 min| 100.0 % (100.0 % by 10 %), 36 min| 100.0 % (100.0 % by 10 %), 16 min |
//	| noisy (good)                 | false rollback  | 0.2 %, 13 min                   | 0.1 %, 21 min                    | 0.0 %, 41 min                    | 0.4 %, 28 min                     |
//	| low traffic (good, 20 req/s) | false rollback  | 2.9 %, 13 min                   | 0.0 %, 21 min                    | 0.0 %, 41 min                    | 0.0 %, 183 min, 6 undecided       |
//
// Cells are the rollback rate over 1000 releases, for regressions the share rolled back before
// the canary had more than 10 % of the traffic, and the median release duration in virtual
// minutes. A second table gives, per regression and method, the weights the rolled-back
// releases were stopped at and the canary requests served before (2× error rate, median: 21122
// for the thresholds, 9081 for the judge with 20 samples, which lets a quarter through 10 %,
// 20997 with 60, 17826 for the sequential test), and the run ends with one line per method:
//
//	decision method=sequential detect_before_10pct=100.0% false_rollback=0.4% samples=20
//
// The absolute thresholds miss a tenth of the doubled error rates (0.5 % → 1 % sits on the 99 %
// line) and roll back 3 % of good low-traffic canaries; the judge tests each window alone and
// needs 60 samples (30 minutes at 5 %) to stop 99.7 % of doubled error rates by 10 %; the
// sequential test stops all of them at 5 %, with at most 0.4 % false rollbacks. Its price is
// time where errors are rare: on the 20 req/s service it takes a median of 3 hours to rule a
// doubled error rate out, and 6 releases in 1000 are still holding after 6 hours.
package metrics
