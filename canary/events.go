package canary

import (
	"time"
)

// EventType is Kubernetes' event type: Normal or Warning.
type EventType string

// Event types.
const (
	EventNormal  EventType = "Normal"
	EventWarning EventType = "Warning"
)

// Reason is a short, stable, greppable word for what happened.
type Reason string

// Event reasons.
const (
	ReasonInitializing Reason = "Initializing" // bootstrap started, waiting for the primary
	ReasonInitialized  Reason = "Initialized"  // "Initialization done! podinfo.test"
	ReasonNewRevision  Reason = "NewRevision"  // "New revision detected! Scaling up podinfo.test"
	ReasonRestarted    Reason = "Restarted"    // new revision during analysis
	ReasonResumed      Reason = "Resumed"      // a Rollout picked up a saved release
	ReasonWaiting      Reason = "Waiting"      // a confirm gate is closed
	ReasonNotReady     Reason = "NotReady"     // canary or primary not ready yet (a Warning, as Flagger's)
	ReasonStarted      Reason = "Started"      // "Starting canary analysis for podinfo.test"
	ReasonHookPassed   Reason = "HookPassed"   // a hook answered yes
	ReasonHookFailed   Reason = "HookFailed"   // a pre-rollout/rollout/post-rollout hook failed
	ReasonHalted       Reason = "Halted"       // a check failed: "Halt podinfo.test advancement ..."
	ReasonNoData       Reason = "NoData"       // a check had no data and its policy held the step
	ReasonUnavailable  Reason = "Unavailable"  // a metric provider could not be reached: the step is held
	ReasonAdvanced     Reason = "Advanced"     // "Advance podinfo.test canary weight 10"
	ReasonPromoting    Reason = "Promoting"    // "Copying podinfo.test template spec to podinfo-primary.test"
	ReasonShifted      Reason = "Shifted"      // traffic moved back to the promoted primary
	ReasonSucceeded    Reason = "Succeeded"    // "Promotion completed! Scaling down podinfo.test"
	ReasonRollingBack  Reason = "RollingBack"  // "Rolling back podinfo.test failed checks threshold reached 5"
	ReasonFailed       Reason = "Failed"       // "Canary failed! Scaling down podinfo.test"
	ReasonPaused       Reason = "Paused"
	ReasonUnpaused     Reason = "Unpaused"
	ReasonError        Reason = "Error"  // an adapter failed; the tick is retried
	ReasonDryRun       Reason = "DryRun" // a dry-run metric did not pass; nothing was counted
	// ReasonAnalysed: an analysis tick that passed and changed nothing, the release waiting
	// for promotion approval (WaitingPromotion after its first tick). Its Checks are the tick's
	// results, for self-metrics. Flagger records nothing then: it is not for Kubernetes Events,
	// event hooks or alerts, and kube.Events and the Rollout's event hooks leave it out.
	ReasonAnalysed Reason = "Analysed"
	// ReasonTrafficNotSplit: the canary gets far less traffic than its weight (see SplitQueries).
	ReasonTrafficNotSplit Reason = "TrafficNotSplit"
)

// Event is one decision or transition of a Rollout, emitted through Config.OnEvent (and to the
// release's event webhooks). Messages follow Flagger's wording so users recognise them.
type Event struct {
	Time    time.Time
	Target  Target
	Type    EventType
	Reason  Reason
	Message string
	Phase   Phase
	// Revision is the revision under release (or observed) when the event happened.
	Revision string
	// TickStarted is when the tick that emitted the event began, in the Rollout's clock: the
	// events of one tick share it, and Time minus TickStarted is how long the tick had run.
	TickStarted time.Time
	// Weights is the route's weights as the Rollout last set or read them; on RollingBack, the
	// weights the canary had when it failed (the route is switched to the primary first); on
	// Shifted, the weights being set.
	Weights      Weights
	Iteration    int
	FailedChecks int
	// Checks holds every check result of an analysis tick (on Halted, NoData and Advanced).
	Checks []CheckResult
	// Hook names the hook an event is about.
	Hook string
	// Check names the check a Halted or NoData event is about (one event per such check; its
	// result is in Checks).
	Check string
	// Cause says why a release is rolled back or failed (RollingBack and Failed events). A
	// rollback resumed by a new Rollout carries the cause saved when it started.
	Cause Cause
	// Split is what the split check measured (on TrafficNotSplit events).
	Split *SplitMeasure
}

// Cause is why a release ended the way it did, for routing alerts and reports without parsing
// messages: on events, why a release is rolled back or failed; on a Result, why Run ended.
type Cause string

// Causes. A new one is added to Valid too.
const (
	CausePromoted         Cause = "promoted"           // the analysis passed and the canary was promoted
	CauseAnalysisSkipped  Cause = "analysis-skipped"   // promoted without analysis (Spec.SkipAnalysis)
	CauseNothingToRelease Cause = "nothing-to-release" // the target's revision is the released one

	CauseThreshold        Cause = "threshold"        // failed checks reached the threshold
	CauseRollbackHook     Cause = "hook"             // a rollback hook asked for it
	CauseAborted          Cause = "abort"            // Rollout.Abort
	CauseProgressDeadline Cause = "deadline"         // the canary did not become ready in time
	CauseReverted         Cause = "reverted"         // the target went back to the promoted revision
	CausePromotionFailed  Cause = "promotion-failed" // the primary did not become ready with the promoted revision
	CauseSplitNotFollowed Cause = "split"            // the traffic did not follow the weights (SplitFail)
)

// Valid reports whether c is one of the Causes above (a cause read back from storage is
// checked with it).
func (c Cause) Valid() bool {
	switch c {
	case CausePromoted, CauseAnalysisSkipped, CauseNothingToRelease, CauseThreshold, CauseRollbackHook, CauseAborted,
		CauseProgressDeadline, CauseReverted, CausePromotionFailed, CauseSplitNotFollowed:
		return true
	}
	return false
}

// Verdict is the outcome of one check.
type Verdict string

// Verdicts.
const (
	VerdictPass   Verdict = "Pass"
	VerdictFail   Verdict = "Fail"
	VerdictNoData Verdict = "NoData"
	VerdictError  Verdict = "Error"
	// VerdictInconclusive: the check ran but cannot decide (e.g. a marginal statistical score).
	// Like NoData, the metric's OnNoData policy decides what it does to the analysis.
	VerdictInconclusive Verdict = "Inconclusive"
	// VerdictUnavailable: the provider could not be reached (an error wrapping ErrUnavailable):
	// nothing was measured. The step is held (neither advanced nor counted as a failed check)
	// until the provider has been unavailable for Spec.ProgressDeadline; from then on each
	// such check counts as failed.
	VerdictUnavailable Verdict = "Unavailable"
)

// CheckResult is the full account of one check: what ran, what came back, against what.
type CheckResult struct {
	Name string
	// Query is the resolved query (templates rendered), when the check ran one.
	Query     string
	Value     float64
	Threshold Range
	Verdict   Verdict
	// Message explains a non-passing verdict.
	Message string
	// Err is the provider's error for NoData, Unavailable and Error verdicts.
	Err error
	// DryRun marks the result of a dry-run metric (Metric.DryRun): reported, never counted.
	DryRun bool
}

// Passed reports whether the check passed under policy p (NoData and Inconclusive count per
// the policy).
func (c CheckResult) Passed(p NoDataPolicy) bool {
	switch c.Verdict {
	case VerdictPass:
		return true
	case VerdictNoData, VerdictInconclusive:
		return p == NoDataIgnore
	}
	return false
}
