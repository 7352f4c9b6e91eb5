package selfmetrics

import (
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/canarykit/canarykit/canary"
)

// Label values of Flagger's success and failure counters.
const (
	analysisCompleted = "completed" // the analysis ran
	analysisSkipped   = "skipped"   // promoted without analysis (skipAnalysis)
)

// builtinDuration is Flagger's built-in latency check: its value is a p99 in milliseconds,
// which Flagger exports in seconds.
const builtinDuration = "request-duration"

// Flagger's flagger_canary_status values.
const (
	statusRunning   = 0 // Progressing
	statusSucceeded = 1 // any phase but Progressing and Failed
	statusFailed    = 2 // Failed
)

// phases are the values of canarykit_canary_phase's phase label.
var phases = []canary.Phase{canary.PhaseInitializing, canary.PhaseInitialized, canary.PhaseWaiting,
	canary.PhaseProgressing, canary.PhaseWaitingPromotion, canary.PhasePromoting, canary.PhaseFinalising,
	canary.PhaseSucceeded, canary.PhaseFailed}

// statusValue is flagger_canary_status for a phase, as Flagger maps it.
func statusValue(p canary.Phase) float64 {
	switch p {
	case canary.PhaseProgressing:
		return statusRunning
	case canary.PhaseFailed:
		return statusFailed
	}
	return statusSucceeded
}

// strategyLabel is Flagger's deployment_strategy label value.
func strategyLabel(s canary.Strategy) string {
	switch s {
	case canary.StrategyABTesting:
		return "ab-testing"
	case canary.StrategyBlueGreen:
		return "blue-green"
	}
	return "canary"
}

// verdictLabels are the verdict label's values: the engine's verdicts, and Other for any
// other.
var verdictLabels = [...]string{string(canary.VerdictPass), string(canary.VerdictFail), string(canary.VerdictNoData),
	string(canary.VerdictError), string(canary.VerdictInconclusive), string(canary.VerdictUnavailable), "Other"}

// labelIndex is v's index among labels, whose last value stands for any value not before it.
func labelIndex(labels []string, v string) int {
	if i := slices.Index(labels[:len(labels)-1], v); i >= 0 {
		return i
	}
	return len(labels) - 1
}

// causeLabels are the cause label's values: the engine's causes of failure, and other for
// any other.
var causeLabels = [...]string{string(canary.CauseThreshold), string(canary.CauseRollbackHook), string(canary.CauseAborted),
	string(canary.CauseProgressDeadline), string(canary.CauseReverted), string(canary.CausePromotionFailed),
	string(canary.CauseSplitNotFollowed), "other"}

// analysisDecision reports whether e ends an analysis tick's work: the step advanced, was
// halted or held, waits at a gate (a tick waiting for promotion approval too), or the
// promotion starts. Flagger times these ticks.
func analysisDecision(e canary.Event) bool {
	if e.Phase != canary.PhaseProgressing && e.Phase != canary.PhaseWaitingPromotion {
		return false
	}
	switch e.Reason {
	case canary.ReasonAdvanced, canary.ReasonHalted, canary.ReasonNoData, canary.ReasonUnavailable,
		canary.ReasonWaiting, canary.ReasonPromoting, canary.ReasonAnalysed:
		return true
	}
	return false
}

// Restore records a saved status (the Lease's, or a Flagger Canary's) as the current state of
// a declared target: its phase, status, failed checks and weights. A process that starts over
// targets whose releases are over calls it after For, since their Rollouts emit no event until
// the next release (Flagger sets the status of every Canary at each of its ticks). A target
// not declared, or a status without a phase, records nothing.
func (c *Collector) Restore(t canary.Target, st canary.Status) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tg, ok := c.targets[key{namespace: t.Namespace, name: t.Name}]
	if !ok || st.Phase == "" {
		return
	}
	w := canary.CanaryWeight(st.CanaryWeight)
	if w.Validate() != nil {
		w = canary.Weights{}
	}
	c.state(tg, st.Phase, st.FailedChecks, w)
}

// state records a target's phase (never ""), failed checks and, when valid, weights.
func (c *Collector) state(tg *target, p canary.Phase, failedChecks int, w canary.Weights) {
	tg.phase, tg.failedChecks = p, failedChecks
	if w.Validate() == nil {
		c.weights[key{namespace: tg.key.namespace, name: primaryWorkload(tg.key.name)}] = float64(w.Primary)
		c.weights[tg.key] = float64(w.Canary)
	}
}

// observe records one event of tg's Rollouts.
func (c *Collector) observe(tg *target, e canary.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if tg.gone || e.Phase == "" {
		return
	}
	w := e.Weights
	if e.Reason == canary.ReasonRollingBack {
		w = canary.Weights{} // the weights the canary failed at, not the route's
	}
	c.state(tg, e.Phase, e.FailedChecks, w)
	if analysisDecision(e) && (e.TickStarted.IsZero() || !e.TickStarted.Equal(tg.lastTick)) {
		tg.lastTick = e.TickStarted
		if !e.TickStarted.IsZero() {
			if tg.duration == nil {
				tg.duration = newHistogram(prometheus.DefBuckets)
			}
			tg.duration.observe(e.Time.Sub(e.TickStarted).Seconds())
		}
		tg.recordChecks(e.Checks)
	}

	switch e.Reason {
	case canary.ReasonNewRevision, canary.ReasonRestarted:
		tg.releaseStart = e.Time
	case canary.ReasonSucceeded:
		tg.outcome(false, tg.analysisStatus()).n++
		tg.ended(e)
	case canary.ReasonFailed:
		tg.outcome(true, analysisCompleted).n++
		tg.causes[labelIndex(causeLabels[:], string(e.Cause))]++
		tg.ended(e)
	}
}

// recordChecks records one tick's check results: every verdict counted (a dry-run metric's
// apart, so its failures never read as failed checks), and the value of those that measured
// one (as Flagger, which sets the gauge whenever a query answered).
func (tg *target) recordChecks(checks []canary.CheckResult) {
	for _, r := range checks {
		m := tg.metric(r.Name)
		if m == nil {
			continue // not the spec's: no label value from elsewhere
		}
		counted := &m.checks
		if r.DryRun {
			counted = &m.dryRun
		}
		counted[labelIndex(verdictLabels[:], string(r.Verdict))]++
		switch r.Verdict {
		case canary.VerdictPass, canary.VerdictFail, canary.VerdictInconclusive:
			m.value, m.hasValue = m.unit.value(r.Value), true
		}
	}
}

// analysisStatus is the analysis_status of the target's successes.
func (tg *target) analysisStatus() string {
	if tg.skip {
		return analysisSkipped
	}
	return analysisCompleted
}

// ended records the end of a release seen from its start.
func (tg *target) ended(e canary.Event) {
	if !tg.releaseStart.IsZero() {
		i := slices.IndexFunc(tg.releases, func(r phaseHistogram) bool { return r.phase == e.Phase })
		if i < 0 {
			tg.releases = append(tg.releases, phaseHistogram{phase: e.Phase, h: newHistogram(ReleaseBuckets)})
			i = len(tg.releases) - 1
		}
		tg.releases[i].h.observe(e.Time.Sub(tg.releaseStart).Seconds())
	}
	tg.releaseStart = time.Time{}
}
