// Package canary is canarykit's engine: a Rollout drives one release of a target through
// Flagger's canary analysis, deciding everything and doing nothing itself. Every side effect
// goes through a small interface the caller supplies:
//
//   - Workload: the target and its primary (kube.Workload for Deployments);
//   - MeshRouter: the traffic split (mesh's routers for SMI TrafficSplit, Gateway API
//     HTTPRoute, Istio and ingress-nginx; a RoutePreflighter's route is checked by a dry run
//     before a new target's Bootstrap, so a route the cluster refuses stops it before anything
//     is written);
//   - MetricProvider: metric queries (metrics.Prometheus), with Builtins for Flagger's
//     built-in checks and Checkers for checks computed in code (metrics' statistical judge);
//   - Gate: webhooks and gates (webhook's HTTP client speaks Flagger's payload);
//   - StatusStore: the persisted Status (kube's store; MemoryStore by default).
//
// The package imports no Kubernetes, HTTP or Prometheus client.
//
// # A release
//
// New validates a Config (target, Spec, adapters) and reports every problem at once, with the
// field paths of Flagger's manifest, before anything is touched. Run then takes the target's
// current revision through the phases Flagger users know (Initializing, Initialized, Waiting,
// Progressing, WaitingPromotion, Promoting, Finalising, Succeeded, Failed), one tick per
// Spec.Interval, with Flagger's semantics:
//
//   - the strategy follows the Spec: weighted canary (StepWeight/StepWeights up to MaxWeight),
//     A/B testing (Iterations with Match) or blue/green (Iterations alone). A Match is a
//     Flagger analysis.match entry (an Istio HTTPMatchRequest): headers, uri, method and
//     queryParams, and Istio's other fields; ValidateMatches bounds them (a header's name an
//     HTTP token, a query parameter's without separators), and a router that
//     cannot match by a field ends Run with ErrMatchUnsupported naming it (match[0].uri);
//   - with Mirror, requests are copied to the canary (Weights.Mirrored, Target.Mirror percent
//     of them) before it gets any: a weighted canary takes one mirrored step at weight 0,
//     analysed like any other, before its first weight (the step that ends the mirroring asks
//     no confirm-traffic-increase gate, as in Flagger); blue/green mirrors for all its
//     iterations ("Start traffic mirroring") until all traffic goes to the canary ("Stop
//     traffic mirroring and route all traffic to canary"). Rollback, restart and promotion
//     route without a mirror; a resumed release reads the mirror back from the route. A router
//     that cannot mirror ends Run with ErrMirrorUnsupported;
//   - with SessionAffinity, a client that reached the canary stays on it: the release's
//     cookie ("<name>=<random>", from crypto/rand) is made with its first weighted step and
//     saved in the Status (SessionAffinityCookie) before any route carries it; routers get it,
//     with the settings, in Target.Affinity at every call, so a resumed release keeps it. When
//     the canary is back at weight 0 (promotion, rollback, restart) the cookie becomes
//     PreviousSessionAffinityCookie, which routes at weight 0 expire; with PrimaryCookieName
//     the primary's cookie (PrimarySessionAffinityCookie) lives one Interval. A cookie read
//     from the status that is not one the Rollout makes is dropped. A router that cannot keep
//     sessions on the canary ends Run with ErrSessionAffinityUnsupported;
//   - each analysis tick runs the rollout hooks and every metric check; a failure counts a
//     failed check and holds the weight; Threshold failed checks roll back;
//   - a check whose provider could not be reached (an error wrapping ErrUnavailable) measured
//     nothing: it holds the step without counting (an Unavailable event), until providers
//     have been unavailable for ProgressDeadline in a row of ticks; from then on it counts as
//     a failed check, so an outage rolls back after ProgressDeadline plus Threshold ticks;
//   - with Config.Split, a weighted canary's traffic is measured from the mesh's own metrics
//     once each weight has been in place for an interval: when the canary answers less than
//     half its weight of the requests in SplitShortTicks windows in a row (each with enough
//     requests: SplitMinExpected owed to the canary), a TrafficNotSplit event gives the weight,
//     the share and the likely causes, and Spec.SplitCheck applies: hold (the default: no
//     advance until the traffic follows), warn, fail (roll back) or off;
//   - confirm-rollout, confirm-traffic-increase and confirm-promotion gates wait without
//     failing (a blue/green release that waited in WaitingPromotion stays in it while all
//     traffic goes to the canary, as in Flagger, until it is Promoting); a rollback hook
//     answering yes rolls back; pre-rollout hooks run once before the first step,
//     post-rollout hooks after the end (in order, until one fails, as Flagger runs them),
//     event hooks on every event;
//   - a canary that is not ready is waited for up to ProgressDeadline (or fails at once when the
//     Workload reports it failed); a new revision during the analysis restarts it; a revert to
//     the promoted revision abandons it; SkipAnalysis promotes a ready canary at once;
//   - promotion copies the canary's spec to the primary, waits for it, shifts traffic back (all
//     at once or by StepWeightPromotion per tick) and scales the canary to zero.
//
// With no new revision, Run bootstraps the target if needed and returns at once: a long-lived
// embedder calls Run again when the target changes. Promote, Abort, Pause and Resume steer a
// running release from other goroutines.
//
// # Resuming and economy
//
// The Status is saved through the StatusStore at every transition (optimistic concurrency:
// ErrConflict stops a Run that lost a race). A new Rollout over the same store and route
// continues where the last one stopped, at the same weight (mirrored or not: read from the
// route), iteration and failed-check count,
// after the rest of the interval it was in (every weight gets a whole interval of traffic,
// however often the driver restarts); a rollback in flight is finished, and a pause stays.
// Cancelling Run's context leaves a consistent saved state. The primary only ever receives the
// analysed revision (Workload.Promote refuses another; the analysis restarts). A permanent
// adapter error mid-analysis stops Run and routes all traffic back to the primary.
//
// # Errors and outcomes
//
// Adapters mark the errors that retrying cannot fix with Permanent (IsPermanent also accepts
// errors marked by backoff v4's backoff.Permanent). Each interface's documentation says what
// such an error does to that call: for the Workload, MeshRouter and StatusStore it stops Run
// with a *RolloutError; for a MetricProvider, Checker or Gate it is a failed check or a closed
// gate, like any other error. Other adapter errors are reported as Error events and retried at
// the next tick.
//
// Run returns a Result: the phase reached, the weights set, and why it ended as a typed Cause
// (CausePromoted, CauseThreshold, CauseRollbackHook, CauseAborted, CauseProgressDeadline,
// CauseNothingToRelease, ...), the same Cause the RollingBack and Failed events carry.
//
// Objects the adapters create in Kubernetes carry LabelManagedBy=ManagedBy, and adapters
// change only objects that do. Metadata is a user's labels and annotations for them (Flagger's
// spec.service.apex, primary and canary), checked as the API server checks them
// (Metadata.Problems, without the adapters' own keys) and written with ApplyMetadata, which
// removes what it wrote earlier and is no longer wanted and never touches other writers' keys.
//
// The engine keeps what it knows in memory and reads state back (Store.Load, Router.Weights)
// only when a Run starts. One analysis step costs one Workload.Observe (served from a cache by
// real adapters), the rollout hooks, the metric queries, one Router.SetWeights and one
// Store.Save. A tick saves the status once at most, as Flagger writes it once per tick: the
// tick that shifts the traffic back to the primary and scales the canary down ends the release
// with one save (Finalising is saved on its own only when the scale-down has to be tried again).
// Flagger re-reads every object on every tick (19 API requests per step).
//
// # Observing
//
// Config.OnEvent receives every decision as an Event whose Message follows Flagger's wording
// ("Advance podinfo.test canary weight 10", "Halt podinfo.test advancement request-success-rate
// 90.00 < 99", "Rolling back podinfo.test failed checks threshold reached 5") and whose Checks
// carry each metric's resolved query, value, threshold and verdict. Metrics without data (and
// inconclusive checks) are a failed check by default (Flagger's behaviour), or hold the step,
// or are ignored (Metric.OnNoData). A dry-run metric (Metric.DryRun) is evaluated at every tick
// and reported — its result marked CheckResult.DryRun in the tick's events, and a Normal DryRun
// event for each tick it does not pass — but never counted: it neither fails, holds nor passes
// a step, so a new query can be trialled on live releases. Event webhooks receive the events off the Rollout's path:
// a slow receiver never delays a decision. Logs go to Config.Logger (logr).
//
// Time is injected (Config.Clock); the canarytest package runs whole releases in virtual time.
//
// # Bounds
//
// A Spec often comes from a manifest, so Validate bounds what it may ask for: finite threshold
// bounds, an interval of at least MinInterval (a metric's of at least MinMetricInterval), at
// most MaxHookRetries retries per webhook, and query templates that do not loop or call other
// templates (CheckQuery), within MaxQueryLength before and after rendering. Abort cuts short a
// hook call in progress, whatever its retries; a call so cut short said nothing (no failed
// check, no closed gate), and the release is rolled back for the abort.
package canary
