package notify

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/canarykit/canarykit/canary"
)

// alerter turns one Rollout's events into notifications at the points where Flagger alerts,
// with Flagger's severities:
//
//	Initialized          info   "New Deployment detected, initialization completed." (+ spec fields;
//	                            "workload" when Config.Kind is not set)
//	NewRevision          info   "New revision detected, progressing canary analysis." (+ spec fields)
//	Restarted            info   "New revision detected during the analysis, restarting it."
//	Waiting              warn   "Canary is waiting for approval." (confirm-rollout),
//	                            "Canary traffic increase is waiting for approval.",
//	                            "Canary promotion is waiting for approval."
//	Succeeded            info   "Canary analysis completed successfully, promotion finished."
//	                            (or "Canary analysis was skipped, promotion finished.")
//	RollingBack          error  the cause, e.g. "Failed checks threshold reached 5";
//	                     warn   when asked for: a rollback hook or Rollout.Abort
//	Failed               error  when no RollingBack alert came first (promotion failed, or a
//	                            rollback resumed after a restart)
//
// A Waiting alert is not repeated while the same gate stays closed (Flagger repeats the
// traffic-increase one every tick), and is muted for hooks with MuteAlert, as in Flagger.
// Other events are not notified.
type alerter struct {
	spec    canary.Spec
	cluster string
	kind    string // the target's kind, "" when unknown

	mu          sync.Mutex
	rollingBack bool   // a RollingBack alert was sent for the current release
	waiting     string // the closed gate last announced
}

func newAlerter(spec canary.Spec, cluster, kind string) *alerter {
	return &alerter{spec: spec, cluster: cluster, kind: kind}
}

func (a *alerter) alert(e canary.Event) (Notification, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := Notification{Target: e.Target, Event: e, Severity: SeverityInfo}
	switch e.Reason {
	case canary.ReasonInitialized:
		kind := a.kind
		if kind == "" {
			kind = "workload"
		}
		n.Message = "New " + kind + " detected, initialization completed."
		n.Fields = a.specFields(e.Target)
	case canary.ReasonNewRevision:
		a.rollingBack, a.waiting = false, ""
		n.Message = "New revision detected, progressing canary analysis."
		n.Fields = a.specFields(e.Target)
	case canary.ReasonRestarted:
		a.rollingBack, a.waiting = false, ""
		n.Message = "New revision detected during the analysis, restarting it."
	case canary.ReasonAdvanced:
		a.waiting = "" // the gate let the release on
		return n, false
	case canary.ReasonWaiting:
		key := e.Hook + "/" + string(e.Phase)
		if a.muted(e.Hook, gateOf(e.Phase)) || key == a.waiting {
			return n, false
		}
		a.waiting = key
		n.Severity = SeverityWarn
		switch e.Phase {
		case canary.PhaseWaiting:
			n.Message = "Canary is waiting for approval."
		case canary.PhaseWaitingPromotion:
			n.Message = "Canary promotion is waiting for approval."
		default:
			n.Message = "Canary traffic increase is waiting for approval."
		}
		n.Fields = append(n.Fields, Field{Name: "Gate", Value: e.Hook})
	case canary.ReasonSucceeded:
		n.Message = "Canary analysis completed successfully, promotion finished."
		if a.spec.SkipAnalysis {
			n.Message = "Canary analysis was skipped, promotion finished."
		}
	case canary.ReasonRollingBack:
		a.rollingBack = true
		cause := strings.TrimPrefix(e.Message, "Rolling back "+e.Target.String()+" ")
		n.Severity = SeverityError
		if e.Cause == canary.CauseRollbackHook || e.Cause == canary.CauseAborted {
			n.Severity = SeverityWarn // asked for, not a failure
		}
		n.Message = capitalize(cause)
		n.Fields = progressFields(e)
	case canary.ReasonFailed:
		if a.rollingBack {
			return n, false
		}
		n.Severity = SeverityError
		n.Message = e.Message
		n.Fields = progressFields(e)
	default:
		return n, false
	}
	n.Fields = a.withCluster(n.Fields)
	return n, true
}

// muted reports whether the Spec webhook of that name and type has MuteAlert set (two hooks
// of different types may share a name).
func (a *alerter) muted(hook string, typ canary.HookType) bool {
	for _, h := range a.spec.Webhooks {
		if h.Name == hook && h.Type == typ && h.MuteAlert {
			return true
		}
	}
	return false
}

// gateOf is the type of the gate a Waiting event in phase waits on.
func gateOf(phase canary.Phase) canary.HookType {
	switch phase {
	case canary.PhaseWaiting:
		return canary.HookConfirmRollout
	case canary.PhaseWaitingPromotion:
		return canary.HookConfirmPromotion
	}
	return canary.HookConfirmTrafficIncrease
}

func (a *alerter) withCluster(fs []Field) []Field {
	if a.cluster == "" {
		return fs
	}
	return append([]Field{{Name: "Cluster", Value: a.cluster}}, fs...)
}

// specFields are the release settings Flagger shows when a release starts. Target names the
// target workload, "<kind>/<name>.<namespace>" as Flagger's does (the kind left out when
// unknown), not the Canary.
func (a *alerter) specFields(t canary.Target) []Field {
	s := a.spec
	threshold := s.Threshold
	if threshold == 0 {
		threshold = canary.DefaultThreshold
	}
	deadline := s.ProgressDeadline
	if deadline == 0 {
		deadline = canary.DefaultProgressDeadline
	}
	return []Field{
		{Name: "Target", Value: a.target(t)},
		{Name: "Failed checks threshold", Value: strconv.Itoa(threshold)},
		{Name: "Progress deadline", Value: fmt.Sprintf("%.0fs", deadline.Seconds())},
		{Name: "Traffic routing", Value: routing(s)},
	}
}

// target is the Target field's value for t.
func (a *alerter) target(t canary.Target) string {
	v := t.Name + "." + t.Namespace
	if a.kind != "" {
		v = a.kind + "/" + v
	}
	return v
}

func routing(s canary.Spec) string {
	switch s.Strategy() {
	case canary.StrategyABTesting:
		return "A/B Testing"
	case canary.StrategyBlueGreen:
		return "Blue/Green"
	}
	if n := len(s.StepWeights); n > 0 {
		steps := make([]string, n)
		for i, w := range s.StepWeights {
			steps[i] = strconv.Itoa(w)
		}
		return fmt.Sprintf("Weight steps: %s max: %d", strings.Join(steps, ","), s.StepWeights[n-1])
	}
	maxWeight := s.MaxWeight
	if maxWeight == 0 {
		maxWeight = canary.DefaultMaxWeight
	}
	return fmt.Sprintf("Weight step: %d max: %d", s.StepWeight, maxWeight)
}

// progressFields say where the release stood.
func progressFields(e canary.Event) []Field {
	return []Field{
		{Name: "Canary weight", Value: strconv.Itoa(e.Weights.Canary)},
		{Name: "Failed checks", Value: strconv.Itoa(e.FailedChecks)},
	}
}

func capitalize(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError {
		return s
	}
	return string(unicode.ToUpper(r)) + s[size:]
}

// EveryEvent is a Config.Classify that notifies every event but the ticks that changed
// nothing (Analysed): Warning events as warn (error for RollingBack and Failed), Normal ones
// as info.
func EveryEvent(e canary.Event) (Severity, bool) {
	switch {
	case e.Reason == canary.ReasonAnalysed:
		return SeverityInfo, false // a tick that changed nothing, every interval
	case e.Reason == canary.ReasonRollingBack || e.Reason == canary.ReasonFailed:
		return SeverityError, true
	case e.Type == canary.EventWarning:
		return SeverityWarn, true
	}
	return SeverityInfo, true
}
