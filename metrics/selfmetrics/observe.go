package selfmetrics

import (
	"time"

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

// verdictLabel bounds the verdict label to the engine's verdicts.
func verdictLabel(v canary.Verdict) string {
	switch v {
	case canary.VerdictPass, canary.VerdictFail, canary.VerdictNoData, canary.VerdictError,
		canary.VerdictInconclusive, canary.VerdictUnavailable:
		return string(v)
	}
	return "Other"
}

// causeLabel bounds the cause label to the engine's causes of failure.
func causeLabel(c canary.Cause) string {
	switch c {
	case canary.CauseThreshold, canary.CauseRollbackHook, canary.CauseAborted, canary.CauseProgressDeadline,
		canary.CauseReverted, canary.CausePromotionFailed:
		return string(c)
	}
	return "other"
}

// analysisDecision reports whether e ends an analysis tick's work: the step advanced, was
// halted or held, waits at a gate, or the promotion starts. Flagger times these ticks.
func analysisDecision(e canary.Event) bool {
	if e.Phase != canary.PhaseProgressing && e.Phase != canary.PhaseWaitingPromotion {
		return false
	}
	switch e.Reason {
	case canary.ReasonAdvanced, canary.ReasonHalted, canary.ReasonNoData, canary.ReasonUnavailable,
		canary.ReasonWaiting, canary.ReasonPromoting:
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

// state records a target's phase, failed checks and, when valid, weights.
func (c *Collector) state(tg *target, p canary.Phase, failedChecks int, w canary.Weights) {
	k := tg.key
	c.status.WithLabelValues(k.name, k.namespace).Set(statusValue(p))
	for _, q := range phases {
		v := 0.0
		if q == p {
			v = 1
		}
		c.phase.WithLabelValues(k.name, k.namespace, string(q)).Set(v)
	}
	c.failedChecks.WithLabelValues(k.name, k.namespace).Set(float64(failedChecks))
	if w.Validate() == nil {
		c.weight.WithLabelValues(primaryWorkload(k.name), k.namespace).Set(float64(w.Primary))
		c.weight.WithLabelValues(k.name, k.namespace).Set(float64(w.Canary))
	}
}

// observe records one event of tg's Rollouts.
func (c *Collector) observe(tg *target, e canary.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if tg.gone || e.Phase == "" {
		return
	}
	k := tg.key
	w := e.Weights
	if e.Reason == canary.ReasonRollingBack {
		w = canary.Weights{} // the weights the canary failed at, not the route's
	}
	c.state(tg, e.Phase, e.FailedChecks, w)
	if analysisDecision(e) && (e.TickStarted.IsZero() || !e.TickStarted.Equal(tg.lastTick)) {
		tg.lastTick = e.TickStarted
		if !e.TickStarted.IsZero() {
			c.duration.WithLabelValues(k.name, k.namespace).Observe(e.Time.Sub(e.TickStarted).Seconds())
		}
		c.recordChecks(tg, e.Checks)
	}

	switch e.Reason {
	case canary.ReasonNewRevision, canary.ReasonRestarted:
		tg.releaseStart = e.Time
	case canary.ReasonSucceeded:
		c.successes.WithLabelValues(k.name, k.namespace, tg.strategy, tg.analysisStatus()).Inc()
		c.ended(tg, e)
	case canary.ReasonFailed:
		c.failures.WithLabelValues(k.name, k.namespace, tg.strategy, analysisCompleted).Inc()
		c.causes.WithLabelValues(k.name, k.namespace, causeLabel(e.Cause)).Inc()
		c.ended(tg, e)
	}
}

// recordChecks exports one tick's check results: every verdict counted (a dry-run metric's
// apart, so its failures never read as failed checks), and the value of those that measured
// one (as Flagger, which sets the gauge whenever a query answered).
func (c *Collector) recordChecks(tg *target, checks []canary.CheckResult) {
	k := tg.key
	for _, r := range checks {
		u, ok := tg.metrics[r.Name]
		if !ok {
			continue // not the spec's: no label value from elsewhere
		}
		counted := c.checks
		if r.DryRun {
			counted = c.dryRunChecks
		}
		counted.WithLabelValues(k.name, k.namespace, r.Name, verdictLabel(r.Verdict)).Inc()
		switch r.Verdict {
		case canary.VerdictPass, canary.VerdictFail, canary.VerdictInconclusive:
			c.analysis.WithLabelValues(k.name, k.namespace, r.Name).Set(u.value(r.Value))
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
func (c *Collector) ended(tg *target, e canary.Event) {
	if !tg.releaseStart.IsZero() {
		c.release.WithLabelValues(tg.key.name, tg.key.namespace, string(e.Phase)).Observe(e.Time.Sub(tg.releaseStart).Seconds())
	}
	tg.releaseStart = time.Time{}
}
