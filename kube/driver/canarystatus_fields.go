package driver

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/canarykit/canarykit/canary"
)

// The condition types a CanaryStore writes: Flagger's Promoted, and kstatus' Reconciling and
// Stalled.
const (
	ConditionPromoted    = "Promoted"
	ConditionReconciling = "Reconciling"
	ConditionStalled     = "Stalled"
)

// Bounds on what is read back from a Canary's status (the object may have been written by
// anyone with access to it).
const (
	maxStatusString = 1024
	maxStatusCount  = 1 << 20
	maxConditions   = 64
	maxTracked      = 1024
)

// flaggerStatus is the part of a Canary's .status a CanaryStore reads, decoded with bounds.
type flaggerStatus struct {
	Phase              canary.Phase
	CanaryWeight       int
	FailedChecks       int
	Iterations         int
	LastAppliedSpec    string
	LastPromotedSpec   string
	LastTransitionTime time.Time
	TrackedConfigs     map[string]string
	Conditions         []flaggerCondition
}

// flaggerCondition is one of .status.conditions (Flagger's CanaryCondition).
type flaggerCondition struct {
	Type               string `json:"type"`
	Status             string `json:"status"`
	Reason             string `json:"reason,omitempty"`
	Message            string `json:"message,omitempty"`
	LastUpdateTime     string `json:"lastUpdateTime,omitempty"`
	LastTransitionTime string `json:"lastTransitionTime,omitempty"`
}

func (f flaggerStatus) canaryStatus() canary.Status {
	return canary.Status{Phase: f.Phase, CanaryWeight: f.CanaryWeight, FailedChecks: f.FailedChecks, Iterations: f.Iterations,
		LastAppliedSpec: f.LastAppliedSpec, LastPromotedSpec: f.LastPromotedSpec, LastTransitionTime: f.LastTransitionTime}
}

// decodeStatus reads obj's .status; errors name the field.
func decodeStatus(obj map[string]any) (flaggerStatus, error) {
	return decodeStatusValue(obj["status"])
}

// decodeStatusValue reads a Canary's .status (nil when it has none); errors name the field.
func decodeStatusValue(raw any) (flaggerStatus, error) {
	var f flaggerStatus
	if raw == nil {
		return f, nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return f, fmt.Errorf(".status: not an object")
	}
	str := func(field string) (string, error) {
		v, ok := m[field]
		if !ok || v == nil {
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf(".status.%s: not a string", field)
		}
		if len(s) > maxStatusString {
			return "", fmt.Errorf(".status.%s: longer than %d bytes", field, maxStatusString)
		}
		return s, nil
	}
	count := func(field string, limit int) (int, error) {
		v, ok := m[field]
		if !ok || v == nil {
			return 0, nil
		}
		var n float64
		switch x := v.(type) {
		case int64:
			n = float64(x)
		case float64:
			n = x
		case json.Number:
			f, err := x.Float64()
			if err != nil {
				return 0, fmt.Errorf(".status.%s: %w", field, err)
			}
			n = f
		default:
			return 0, fmt.Errorf(".status.%s: not a number", field)
		}
		if n != math.Trunc(n) || n < 0 || n > float64(limit) {
			return 0, fmt.Errorf(".status.%s: %v is not a whole number in 0..%d", field, v, limit)
		}
		return int(n), nil
	}
	var err error
	var phase string
	if phase, err = str("phase"); err != nil {
		return f, err
	}
	f.Phase = canary.Phase(phase)
	if f.CanaryWeight, err = count("canaryWeight", 100); err != nil {
		return f, err
	}
	if f.FailedChecks, err = count("failedChecks", maxStatusCount); err != nil {
		return f, err
	}
	if f.Iterations, err = count("iterations", maxStatusCount); err != nil {
		return f, err
	}
	if f.LastAppliedSpec, err = str("lastAppliedSpec"); err != nil {
		return f, err
	}
	if f.LastPromotedSpec, err = str("lastPromotedSpec"); err != nil {
		return f, err
	}
	ltt, err := str("lastTransitionTime")
	if err != nil {
		return f, err
	}
	if ltt != "" {
		if f.LastTransitionTime, err = time.Parse(time.RFC3339, ltt); err != nil {
			return f, fmt.Errorf(".status.lastTransitionTime: %w", err)
		}
	}
	if v, ok := m["trackedConfigs"]; ok && v != nil {
		tm, ok := v.(map[string]any)
		if !ok || len(tm) > maxTracked {
			return f, fmt.Errorf(".status.trackedConfigs: not an object of at most %d strings", maxTracked)
		}
		f.TrackedConfigs = make(map[string]string, len(tm))
		for k, x := range tm {
			s, ok := x.(string)
			if !ok || len(k) > maxStatusString || len(s) > maxStatusString {
				return f, fmt.Errorf(".status.trackedConfigs[%q]: not a string of at most %d bytes", truncate(k), maxStatusString)
			}
			f.TrackedConfigs[k] = s
		}
	}
	if v, ok := m["conditions"]; ok && v != nil {
		list, ok := v.([]any)
		if !ok || len(list) > maxConditions {
			return f, fmt.Errorf(".status.conditions: not a list of at most %d conditions", maxConditions)
		}
		f.Conditions = make([]flaggerCondition, 0, len(list))
		for i, x := range list {
			c, err := decodeCondition(x)
			if err != nil {
				return f, fmt.Errorf(".status.conditions[%d]%w", i, err)
			}
			f.Conditions = append(f.Conditions, c)
		}
	}
	return f, nil
}

// decodeCondition reads one of .status.conditions; errors start with the field's path
// below the condition.
func decodeCondition(x any) (flaggerCondition, error) {
	var c flaggerCondition
	m, ok := x.(map[string]any)
	if !ok {
		return c, errors.New(": not an object")
	}
	for _, f := range []struct {
		name string
		to   *string
	}{{"type", &c.Type}, {"status", &c.Status}, {"reason", &c.Reason}, {"message", &c.Message},
		{"lastUpdateTime", &c.LastUpdateTime}, {"lastTransitionTime", &c.LastTransitionTime}} {
		v, ok := m[f.name]
		if !ok || v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return c, fmt.Errorf(".%s: not a string", f.name)
		}
		*f.to = s
	}
	return c, nil
}

// conditionValue is c as a JSON value of .status.conditions, the fields omitted when empty as
// its JSON encoding does.
func conditionValue(c flaggerCondition) map[string]any {
	m := make(map[string]any, 6)
	m["type"], m["status"] = c.Type, c.Status
	setString(m, "reason", c.Reason)
	setString(m, "message", c.Message)
	setString(m, "lastUpdateTime", c.LastUpdateTime)
	setString(m, "lastTransitionTime", c.LastTransitionTime)
	return m
}

// truncate shortens an untrusted key for an error message.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// promotedCondition is Flagger's Promoted condition for a phase: status, reason (the phase)
// and message as Flagger writes them for a Deployment target.
func promotedCondition(p canary.Phase) (status, message string) {
	switch p {
	case canary.PhaseInitializing:
		return "Unknown", "New Deployment detected, starting initialization."
	case canary.PhaseInitialized:
		return "True", "Deployment initialization completed."
	case canary.PhaseWaiting, canary.PhaseWaitingPromotion:
		return "Unknown", "Waiting for approval."
	case canary.PhaseProgressing:
		return "Unknown", "New revision detected, progressing canary analysis."
	case canary.PhasePromoting:
		return "Unknown", "Canary analysis completed, starting primary rolling update."
	case canary.PhaseFinalising:
		return "Unknown", "Canary analysis completed, routing all traffic to primary."
	case canary.PhaseSucceeded:
		return "True", "Canary analysis completed successfully, promotion finished."
	case canary.PhaseFailed:
		return "False", "Canary analysis failed, Deployment scaled to zero."
	}
	return "Unknown", "New Deployment detected, starting initialization."
}

// conditions returns old's conditions with Promoted, Reconciling and Stalled set for st, as
// Flagger does for Promoted: a condition whose status and reason are unchanged is kept as it
// is; one whose status is unchanged keeps its lastTransitionTime.
func conditions(old []flaggerCondition, st canary.Status, now time.Time) []flaggerCondition {
	ts := now.UTC().Format(time.RFC3339)
	var out []flaggerCondition
	prev := map[string]flaggerCondition{}
	for _, c := range old {
		switch c.Type {
		case ConditionPromoted, ConditionReconciling, ConditionStalled:
			prev[c.Type] = c
		default:
			out = append(out, c) // someone else's
		}
	}
	set := func(typ, status, reason, message string) {
		c := flaggerCondition{Type: typ, Status: status, Reason: reason, Message: message, LastUpdateTime: ts, LastTransitionTime: ts}
		if p, ok := prev[typ]; ok && p.Status == status {
			if p.Reason == reason {
				c = p
			} else if p.LastTransitionTime != "" {
				c.LastTransitionTime = p.LastTransitionTime
			}
		}
		out = append(out, c)
	}
	status, message := promotedCondition(st.Phase)
	set(ConditionPromoted, status, string(st.Phase), message)
	switch {
	case st.RollingBack:
		set(ConditionReconciling, "True", "RollingBack", "Rolling back: "+st.Message)
	case st.Phase == canary.PhaseInitializing || st.Phase.InRelease():
		set(ConditionReconciling, "True", string(st.Phase), message)
	}
	if st.Phase == canary.PhaseFailed && !st.RollingBack {
		msg := "Canary analysis failed, Deployment scaled to zero."
		if st.Message != "" {
			msg += " " + st.Message
		}
		set(ConditionStalled, "True", string(canary.PhaseFailed), msg)
	}
	return out
}

// setStatus writes st into obj's .status, keeping the fields the store does not manage (the
// session affinity cookies, other conditions). tracked, when not nil, replaces trackedConfigs.
func setStatus(obj map[string]any, st canary.Status, tracked map[string]string, now time.Time) error {
	old, err := decodeStatus(obj)
	if err != nil {
		old = flaggerStatus{}
	}
	m, _ := obj["status"].(map[string]any)
	if m == nil || err != nil {
		m = map[string]any{}
	}
	m["phase"] = string(st.Phase)
	m["canaryWeight"] = int64(st.CanaryWeight)
	m["failedChecks"] = int64(st.FailedChecks)
	m["iterations"] = int64(st.Iterations)
	setString(m, "lastAppliedSpec", st.LastAppliedSpec)
	setString(m, "lastPromotedSpec", st.LastPromotedSpec)
	if !st.LastTransitionTime.IsZero() {
		m["lastTransitionTime"] = st.LastTransitionTime.UTC().Format(time.RFC3339)
	}
	if tracked != nil {
		tm := make(map[string]any, len(tracked))
		for k, v := range tracked {
			tm[k] = v
		}
		m["trackedConfigs"] = tm
	}
	conds := conditions(old.Conditions, st, now)
	list := make([]any, 0, len(conds))
	for _, c := range conds {
		list = append(list, conditionValue(c))
	}
	m["conditions"] = list
	obj["status"] = m
	return nil
}

func setString(m map[string]any, k, v string) {
	if v == "" {
		delete(m, k)
		return
	}
	m[k] = v
}

// sameStatus reports whether two versions of a Canary carry the same status fields a
// CanaryStore writes.
func sameStatus(a, b any) bool {
	x, errA := decodeStatusValue(a)
	y, errB := decodeStatusValue(b)
	if errA != nil || errB != nil {
		return false
	}
	return x.Phase == y.Phase && x.CanaryWeight == y.CanaryWeight && x.FailedChecks == y.FailedChecks &&
		x.Iterations == y.Iterations && x.LastAppliedSpec == y.LastAppliedSpec && x.LastPromotedSpec == y.LastPromotedSpec &&
		x.LastTransitionTime.Equal(y.LastTransitionTime)
}
