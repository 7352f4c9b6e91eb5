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

// observe records one event of tg's Rollouts.
func (c *Collector) observe(tg *target, e canary.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if tg.gone || e.Phase == "" {
		return
	}
	k := tg.key
	c.status.WithLabelValues(k.name, k.namespace).Set(statusValue(e.Phase))
	for _, p := range phases {
		v := 0.0
		if p == e.Phase {
			v = 1
		}
		c.phase.WithLabelValues(k.name, k.namespace, string(p)).Set(v)
	}
	c.failedChecks.WithLabelValues(k.name, k.namespace).Set(float64(e.FailedChecks))
	// RollingBack carries the weights the canary failed at, not the route's
	if e.Reason != canary.ReasonRollingBack && e.Weights.Validate() == nil {
		c.weight.WithLabelValues(primaryWorkload(k.name), k.namespace).Set(float64(e.Weights.Primary))
		c.weight.WithLabelValues(k.name, k.namespace).Set(float64(e.Weights.Canary))
	}
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

// recordChecks exports one tick's check results: every verdict counted, and the value of
// those that measured one (as Flagger, which sets the gauge whenever a query answered).
func (c *Collector) recordChecks(tg *target, checks []canary.CheckResult) {
	k := tg.key
	for _, r := range checks {
		u, ok := tg.metrics[r.Name]
		if !ok {
			continue // not the spec's: no label value from elsewhere
		}
		c.checks.WithLabelValues(k.name, k.namespace, r.Name, verdictLabel(r.Verdict)).Inc()
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
