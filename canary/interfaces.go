package canary

import (
	"context"
	"time"
)

// MeshRouter shapes the route objects that divide a target's traffic between primary and
// canary (an SMI TrafficSplit, a Gateway API HTTPRoute, ...).
//
// Calls block until the change is accepted by the system that stores the route (not until the
// data plane applies it). Implementations must be safe for concurrent use across targets; the
// Rollout never calls one target concurrently.
//
// Errors: a transient error (a conflict, a timeout, a server error) is reported as an Error
// event and the call is retried at the next tick. A permanent error (see Permanent: the route
// kind is not served, the route object belongs to someone else, the request is forbidden or
// invalid) stops Run with a *RolloutError; if the analysis had moved traffic to the canary, the
// Rollout first makes one best-effort SetWeights(AllPrimary()). ErrMatchUnsupported,
// ErrMirrorUnsupported and ErrInvalidWeights stop Run in the same way, marked or not.
type MeshRouter interface {
	// Reconcile creates the route objects for t, or adopts those it created earlier. It is
	// idempotent and never changes the weights of an existing route; a new route starts with
	// all traffic on the primary. It reports ErrMatchUnsupported (wrapped) when t.Match is set
	// and the route kind cannot match requests, and ErrMirrorUnsupported (wrapped) when
	// t.Mirror is set and it cannot mirror them.
	Reconcile(ctx context.Context, t Target) error
	// SetWeights routes w; w is valid (see Weights.ValidateFor). With t.Match set, w applies to
	// matching requests and the rest go to the primary. Mirrored weights also copy t.Mirror
	// percent of the requests to the canary; unmirrored ones leave no mirror on the route.
	SetWeights(ctx context.Context, t Target, w Weights) error
	// Weights reads the weights back from the system of record, whether the route mirrors to
	// the canary included. A Rollout calls it only when it resumes, to see the truth rather
	// than what it last wrote.
	Weights(ctx context.Context, t Target) (Weights, error)
}

// WeightsReconciler is an optional MeshRouter extension for routers that read the route while
// reconciling it: ReconcileWeights does what Reconcile does and returns the route's weights as
// Weights would read them right after, so a Rollout that adopts a route reads it once.
type WeightsReconciler interface {
	MeshRouter
	ReconcileWeights(ctx context.Context, t Target) (Weights, error)
}

// RoutePreflighter is an optional MeshRouter extension for routers whose route objects the
// cluster may refuse for what the target asks of them (a field the route's CRD does not
// have, a validating webhook's rule): PreflightRoute asks the cluster whether it would accept
// the route Reconcile would create for t, writing nothing (a server-side dry run). A Rollout
// calls it once, before the Bootstrap of a target that was never initialized, so that such a
// refusal stops the release before the workload is touched. It returns what Reconcile would
// return before writing (the route's own problems, a route kind the cluster does not serve, a
// route object of its name that someone else manages) and the cluster's refusal of the route,
// as Reconcile would (permanent when Reconcile's would be); an answer that says nothing of the
// route's content (the dry run is not served, the request did not get through) is nil, and
// Reconcile finds out. A router that wraps another forwards it.
type RoutePreflighter interface {
	MeshRouter
	PreflightRoute(ctx context.Context, t Target) error
}

// MetricProvider runs a query against a metrics backend and returns one value.
//
// Query blocks for at most its context's deadline. An empty result or NaN is reported as an
// error wrapping ErrNoData; transient failures may be retried inside Query within ctx. Safe for
// concurrent use: the checks of one tick run concurrently.
//
// Errors never stop Run: an error wrapping ErrNoData makes the check's verdict NoData (handled by
// the metric's OnNoData policy), any other error makes it Error, a failed check. A permanent
// error (see Permanent) is a hint to the provider's own retries only: it is not retried inside
// Query, and the Rollout asks again at the next analysis tick like after any failed check.
type MetricProvider interface {
	Query(ctx context.Context, query string) (float64, error)
}

// MetricProviderFunc adapts a function to MetricProvider.
type MetricProviderFunc func(ctx context.Context, query string) (float64, error)

// Query calls f.
func (f MetricProviderFunc) Query(ctx context.Context, query string) (float64, error) {
	return f(ctx, query)
}

var _ MetricProvider = MetricProviderFunc(nil)

// GateRequest is what a Gate is asked: which hook, for which release, in which phase.
type GateRequest struct {
	// Hook is the hook being run: a Spec webhook (with its URL and metadata) or a Config gate.
	Hook   Webhook
	Target Target
	Phase  Phase
	// Checksum identifies the revision under release (Flagger's payload "checksum").
	Checksum string
	// Event is set for HookEvent calls.
	Event *Event
}

// Gate answers a hook. The meaning of true depends on the hook type: open (confirm-*), passed
// (pre-rollout, rollout, post-rollout, event), or "roll back now" (rollback, whose 2xx answer
// triggers a rollback in Flagger). An error counts as false and is reported in events.
//
// Allow blocks until answered or ctx ends; the Rollout bounds each call by the hook's Timeout.
// Safe for concurrent use.
//
// Errors never stop Run: an error, permanent (see Permanent) or not, counts as the answer false
// for this call, and the hook is asked again when its hook point comes round.
type Gate interface {
	Allow(ctx context.Context, req GateRequest) (bool, error)
}

// GateFunc adapts a function to Gate.
type GateFunc func(ctx context.Context, req GateRequest) (bool, error)

// Allow calls f.
func (f GateFunc) Allow(ctx context.Context, req GateRequest) (bool, error) { return f(ctx, req) }

var _ Gate = GateFunc(nil)

// Hook binds a Gate written in Go to a hook point, beside the Spec's webhooks.
type Hook struct {
	Name string
	Type HookType
	Gate Gate
	// Timeout bounds each call. Default 10s.
	Timeout time.Duration
}

// Checker is an analysis check computed in code rather than by one query and a threshold, e.g.
// a statistical comparison of canary and primary. It is bound to a Spec metric by name
// (Config.Checkers) and runs at every analysis tick with the metric's settings.
//
// Errors never stop Run: as for a MetricProvider, an error wrapping ErrNoData gives the verdict
// NoData and any other error, permanent (see Permanent) or not, the verdict Error.
//
// The checks of one tick run concurrently, each metric's in a goroutine of its own: a Checker
// bound to several metrics, or sharing state with another, must be safe for concurrent use.
type Checker interface {
	Check(ctx context.Context, req CheckRequest) (CheckResult, error)
}

// CheckerFunc adapts a function to Checker.
type CheckerFunc func(ctx context.Context, req CheckRequest) (CheckResult, error)

// Check calls f.
func (f CheckerFunc) Check(ctx context.Context, req CheckRequest) (CheckResult, error) {
	return f(ctx, req)
}

var _ Checker = CheckerFunc(nil)

// MetricValidator is an optional Checker extension for checkers that honour only some of a
// metric's settings. New calls ValidateMetric for every metric bound to the checker and reports
// each problem it returns at the metric's path (analysis.metrics[i]), so that a setting the
// checker would ignore (a thresholdRange.max it has no use for, a query it never runs) is
// refused before anything runs instead of silently read some other way. A problem's Field is
// relative to the metric ("thresholdRange.max"). A checker that wraps another forwards it.
type MetricValidator interface {
	Checker
	ValidateMetric(m Metric) []FieldError
}

// CheckRequest gives a Checker the context of the tick.
type CheckRequest struct {
	Metric       Metric
	Target       Target
	Revision     string
	CanaryWeight int
	Iteration    int
	// Started is when the release's analysis began (its first step); a checker can look at the
	// canary's whole life since then.
	Started time.Time
	// Interval is the analysis interval (Spec.Interval), which also bounds each check.
	Interval time.Duration
}

// Readiness is one workload's health as the Workload sees it.
type Readiness struct {
	Ready bool
	// Failed means the workload will not become ready without a new revision (for a Deployment:
	// condition Progressing=False with reason ProgressDeadlineExceeded). The Rollout fails the
	// release at once instead of waiting out ProgressDeadline.
	Failed bool
	// Message says why it is not ready.
	Message string
}

// WorkloadState is what the Rollout observes of the target at every tick.
type WorkloadState struct {
	// Revision identifies the target's desired state (pod template and the configuration it
	// references); equal revisions mean nothing to release.
	Revision string
	Canary   Readiness
	// Primary readiness must reflect the primary's latest spec: after Promote, the primary is
	// not ready until it has rolled out the promoted revision.
	Primary Readiness
	// PrimaryRevision is the revision the primary was bootstrapped or promoted with ("" when
	// unknown). Initialization records it as promoted, so a target changed while its primary
	// was being created is still released. A target at the primary's revision has nothing to
	// release, whatever the status records (one another controller wrote, such as Flagger's
	// hashes): the status is brought level with it.
	PrimaryRevision string
}

// Workload drives the target and its primary (for Kubernetes: Deployments, services, HPA).
//
// Observe is called at every tick and must be cheap (served from a cache); the other methods
// are called on transitions and must be idempotent, so a resumed Rollout can call them again.
// The Rollout never calls one target concurrently.
//
// Errors: a transient error is reported as an Error event and the step is retried at the next
// tick (ErrRevisionChanged from Promote restarts the analysis). A permanent error (see
// Permanent: the target does not exist, an object of a derived name belongs to someone else, a
// call for another target) stops Run with a *RolloutError naming the call; if the analysis had
// moved traffic to the canary, the Rollout first makes one best-effort switch of all traffic
// back to the primary.
type Workload interface {
	// Bootstrap creates or adopts the primary and whatever else the target needs, from the
	// target's current spec when the primary does not exist yet. It never changes an existing
	// primary's spec and does not wait for readiness.
	Bootstrap(ctx context.Context, t Target) error
	// Observe reports the target's revision and the readiness of canary and primary.
	Observe(ctx context.Context, t Target) (WorkloadState, error)
	// ScaleUp scales the canary from zero to its desired size.
	ScaleUp(ctx context.Context, t Target) error
	// ScaleDown scales the canary to zero.
	ScaleDown(ctx context.Context, t Target) error
	// Promote copies the canary's spec (and the configuration it references) to the primary,
	// provided the target is still at revision (the one analysed); otherwise it changes nothing
	// and returns an error wrapping ErrRevisionChanged (the Rollout then restarts the analysis).
	Promote(ctx context.Context, t Target, revision string) error
}

// SwitchingRouter is an optional MeshRouter extension for routers that can only send all of a
// target's traffic to one side (no weighted split), like switching a Service's selector. New
// refuses specs that need a split with such a router: only blue/green without
// stepWeightPromotion works. Its errors mean what a MeshRouter's do.
type SwitchingRouter interface {
	MeshRouter
	SwitchesOnly() bool
}

// StatusStore persists a target's Status with optimistic concurrency.
//
// Errors: any error from Load stops Run at once (nothing is known to resume from). From Save, a
// transient error is reported as an Error event and the unsaved change is retried before
// anything else at the next tick. ErrConflict (another driver saved first) stops Run with a
// *RolloutError and leaves the route to that driver; a permanent error (see Permanent) stops Run
// as a Workload's does.
type StatusStore interface {
	// Load returns the saved status, or the zero Status (Phase "") when none was saved.
	Load(ctx context.Context, t Target) (Status, error)
	// Save stores s if s.Version is the stored version ("" when none was saved) and returns s
	// with its new Version; otherwise it returns an error wrapping ErrConflict.
	Save(ctx context.Context, t Target, s Status) (Status, error)
}
