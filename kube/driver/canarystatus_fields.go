package driver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	sigsjson "sigs.k8s.io/json"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/textcut"
)

// The condition types a CanaryStore writes: Flagger's Promoted, kstatus' Reconciling and
// Stalled, and canarykit's own Analysis.
const (
	ConditionPromoted    = "Promoted"
	ConditionReconciling = "Reconciling"
	ConditionStalled     = "Stalled"
	// ConditionAnalysis keeps what Flagger's schema has no field for: when the release's
	// analysis started, a pause, a rollback under way and its cause, as JSON in its message
	// ({"startedAt":…,"paused":true,"rollingBack":true,"cause":"threshold","message":…}, the
	// fields omitted when unset). Its status is True while an analysis is under way (started
	// in a release not yet ended, or paused, or rolling back), its reason Started, Paused or
	// RollingBack then, Idle otherwise. A CanaryStore writes it with every status, so it is
	// saved in the same request as the step it belongs to.
	ConditionAnalysis = "canarykit.dev/Analysis"
)

// maxAnalysisMessage bounds the message of ConditionAnalysis read back: the rollback's reason
// (valid UTF-8, at most maxStatusString bytes when written) with every byte escaped, and the
// rest.
const maxAnalysisMessage = 8 * maxStatusString

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
	// the session affinity cookies, "<name>=<value>" (the engine drops any it would not make)
	SessionAffinityCookie, PreviousSessionAffinityCookie, PrimarySessionAffinityCookie string
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

// analysisState is the JSON in ConditionAnalysis's message.
type analysisState struct {
	StartedAt   *time.Time   `json:"startedAt,omitempty"`
	Paused      bool         `json:"paused,omitempty"`
	RollingBack bool         `json:"rollingBack,omitempty"`
	Cause       canary.Cause `json:"cause,omitempty"`
	Message     string       `json:"message,omitempty"` // the rollback's reason, while it is under way
}

// analysisOf is the part of st that ConditionAnalysis keeps.
func analysisOf(st canary.Status) analysisState {
	a := analysisState{Paused: st.Paused, RollingBack: st.RollingBack, Cause: st.Cause}
	if t := st.StartedAt.UTC(); !st.StartedAt.IsZero() && validYear(t) {
		a.StartedAt = &t
	}
	if st.RollingBack {
		a.Message = textcut.Prefix(strings.ToValidUTF8(st.Message, "\uFFFD"), maxStatusString)
	}
	return a
}

// validYear reports whether t's year can be written in RFC 3339 (JSON fails otherwise).
func validYear(t time.Time) bool { return t.Year() >= 1 && t.Year() <= 9999 }

// analysisCondition is ConditionAnalysis for st: status, reason and message.
func analysisCondition(st canary.Status) (status, reason, message string) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(analysisOf(st)) // cannot fail: a time of years 1..9999, bools and valid strings
	status, reason = "False", "Idle"
	switch {
	case st.RollingBack:
		status, reason = "True", "RollingBack"
	case st.Paused:
		status, reason = "True", "Paused"
	case !st.StartedAt.IsZero() && st.Phase.InRelease():
		status, reason = "True", "Started"
	}
	return status, reason, strings.TrimSuffix(buf.String(), "\n")
}

// analysis reads ConditionAnalysis into st; found is false when f has none (a status written
// before canarykit kept it there). Its message is decoded strictly (keys as written, none
// twice); a second Analysis condition is refused. Errors name the field.
func (f flaggerStatus) analysis(st *canary.Status) (found bool, err error) {
	i := -1
	for j, c := range f.Conditions {
		if c.Type != ConditionAnalysis {
			continue
		}
		if i >= 0 {
			return true, fmt.Errorf(".status.conditions[%d]: a second %s condition (the first is [%d])", j, ConditionAnalysis, i)
		}
		i = j
	}
	if i < 0 {
		return false, nil
	}
	msg := f.Conditions[i].Message
	field := fmt.Sprintf(".status.conditions[%d].message", i)
	if len(msg) > maxAnalysisMessage {
		return true, fmt.Errorf("%s: longer than %d bytes", field, maxAnalysisMessage)
	}
	var a analysisState
	strict, err := sigsjson.UnmarshalStrict([]byte(msg), &a, sigsjson.DisallowDuplicateFields)
	if err == nil && len(strict) > 0 {
		err = strict[0]
	}
	if err != nil {
		return true, fmt.Errorf("%s: %w", field, err)
	}
	if a.Cause != "" && !a.Cause.Valid() {
		return true, fmt.Errorf("%s: cause %q is not one of canarykit's", field, textcut.Bytes(string(a.Cause), 64))
	}
	if len(a.Message) > maxStatusString {
		return true, fmt.Errorf("%s: the rollback's message is longer than %d bytes", field, maxStatusString)
	}
	if a.StartedAt != nil && !validYear(a.StartedAt.UTC()) {
		return true, fmt.Errorf("%s: startedAt %s is not in the years 1 to 9999", field, a.StartedAt.UTC())
	}
	st.StartedAt, st.Paused, st.RollingBack, st.Cause = time.Time{}, a.Paused, a.RollingBack, a.Cause
	if a.StartedAt != nil {
		st.StartedAt = *a.StartedAt
	}
	if a.RollingBack {
		st.Message = a.Message
	}
	return true, nil
}

func (f flaggerStatus) canaryStatus() canary.Status {
	return canary.Status{Phase: f.Phase, CanaryWeight: f.CanaryWeight, FailedChecks: f.FailedChecks, Iterations: f.Iterations,
		LastAppliedSpec: f.LastAppliedSpec, LastPromotedSpec: f.LastPromotedSpec, LastTransitionTime: f.LastTransitionTime,
		SessionAffinityCookie: f.SessionAffinityCookie, PreviousSessionAffinityCookie: f.PreviousSessionAffinityCookie,
		PrimarySessionAffinityCookie: f.PrimarySessionAffinityCookie}
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
	// count reads a whole number in floor..limit; one below 0 is read as 0
	count := func(field string, floor, limit int) (int, error) {
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
		if n != math.Trunc(n) || n < float64(floor) || n > float64(limit) {
			return 0, fmt.Errorf(".status.%s: %v is not a whole number in %d..%d", field, v, floor, limit)
		}
		return max(int(n), 0), nil
	}
	var err error
	var phase string
	if phase, err = str("phase"); err != nil {
		return f, err
	}
	f.Phase = canary.Phase(phase)
	if f.CanaryWeight, err = count("canaryWeight", 0, 100); err != nil {
		return f, err
	}
	if f.FailedChecks, err = count("failedChecks", 0, maxStatusCount); err != nil {
		return f, err
	}
	// Flagger writes analysis.iterations-1 when a release turns WaitingPromotion: -1 for a
	// weighted canary, whose iterations are 0
	if f.Iterations, err = count("iterations", -1, maxStatusCount); err != nil {
		return f, err
	}
	if f.LastAppliedSpec, err = str("lastAppliedSpec"); err != nil {
		return f, err
	}
	if f.LastPromotedSpec, err = str("lastPromotedSpec"); err != nil {
		return f, err
	}
	for field, to := range map[string]*string{"sessionAffinityCookie": &f.SessionAffinityCookie,
		"previousSessionAffinityCookie": &f.PreviousSessionAffinityCookie, "primarySessionAffinityCookie": &f.PrimarySessionAffinityCookie} {
		if *to, err = str(field); err != nil {
			return f, err
		}
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
				return f, fmt.Errorf(".status.trackedConfigs[%q]: not a string of at most %d bytes", textcut.Bytes(k, 64), maxStatusString)
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

// promotedCondition is Flagger's Promoted condition for a phase: status, reason (the phase)
// and message as Flagger writes them, naming the target's kind (spec.targetRef.kind:
// Deployment or DaemonSet) where Flagger's messages do.
func promotedCondition(p canary.Phase, kind string) (status, message string) {
	switch p {
	case canary.PhaseInitializing:
		return "Unknown", "New " + kind + " detected, starting initialization."
	case canary.PhaseInitialized:
		return "True", kind + " initialization completed."
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
		return "False", failedMessage(kind)
	}
	return "Unknown", "New " + kind + " detected, starting initialization."
}

// failedMessage is Flagger's message for a failed analysis, naming the target's kind.
func failedMessage(kind string) string { return "Canary analysis failed, " + kind + " scaled to zero." }

// conditions returns old's conditions with Promoted, Reconciling, Stalled and Analysis set
// for st, as Flagger does for Promoted: a condition whose status and reason (and, for
// Analysis, message) are unchanged is kept as it is; one whose status is unchanged keeps its
// lastTransitionTime. kind is the target's kind, which some messages name.
func conditions(old []flaggerCondition, st canary.Status, kind string, now time.Time) []flaggerCondition {
	ts := now.UTC().Format(time.RFC3339)
	var out []flaggerCondition
	prev := map[string]flaggerCondition{}
	for _, c := range old {
		switch c.Type {
		case ConditionPromoted, ConditionReconciling, ConditionStalled, ConditionAnalysis:
			prev[c.Type] = c
		default:
			out = append(out, c) // someone else's
		}
	}
	set := func(typ, status, reason, message string) {
		c := flaggerCondition{Type: typ, Status: status, Reason: reason, Message: message, LastUpdateTime: ts, LastTransitionTime: ts}
		if p, ok := prev[typ]; ok && p.Status == status {
			if p.Reason == reason && (typ != ConditionAnalysis || p.Message == message) {
				c = p
			} else if p.LastTransitionTime != "" {
				c.LastTransitionTime = p.LastTransitionTime
			}
		}
		out = append(out, c)
	}
	status, message := promotedCondition(st.Phase, kind)
	set(ConditionPromoted, status, string(st.Phase), message)
	switch {
	case st.RollingBack:
		set(ConditionReconciling, "True", "RollingBack", "Rolling back: "+st.Message)
	case st.Phase == canary.PhaseInitializing || st.Phase.InRelease():
		set(ConditionReconciling, "True", string(st.Phase), message)
	}
	if st.Phase == canary.PhaseFailed && !st.RollingBack {
		msg := failedMessage(kind)
		if st.Message != "" {
			msg += " " + st.Message
		}
		set(ConditionStalled, "True", string(canary.PhaseFailed), msg)
	}
	as, ar, am := analysisCondition(st)
	set(ConditionAnalysis, as, ar, am)
	return out
}

// setStatus writes st into obj's .status, keeping the fields the store does not manage (other
// conditions, fields of later Flagger versions). tracked, when not nil, replaces trackedConfigs.
// kind is the target's kind (spec.targetRef.kind), which the conditions' messages name as
// Flagger's do; "" is Deployment.
func setStatus(obj map[string]any, st canary.Status, tracked map[string]string, kind string, now time.Time) error {
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
	m["iterations"] = int64(iterationsOf(st))
	setString(m, "lastAppliedSpec", st.LastAppliedSpec)
	setString(m, "lastPromotedSpec", st.LastPromotedSpec)
	setString(m, "sessionAffinityCookie", st.SessionAffinityCookie)
	setString(m, "previousSessionAffinityCookie", st.PreviousSessionAffinityCookie)
	setString(m, "primarySessionAffinityCookie", st.PrimarySessionAffinityCookie)
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
	if kind == "" {
		kind = "Deployment"
	}
	conds := conditions(old.Conditions, st, kind, now)
	list := make([]any, 0, len(conds))
	for _, c := range conds {
		list = append(list, conditionValue(c))
	}
	m["conditions"] = list
	obj["status"] = m
	return nil
}

// iterationsOf is .status.iterations for st: the iterations of the analysis under way, 0 once
// it is over (Finalising, Succeeded, Failed), as Flagger writes them.
func iterationsOf(st canary.Status) int {
	switch st.Phase {
	case canary.PhaseFinalising, canary.PhaseSucceeded, canary.PhaseFailed:
		return 0
	}
	return st.Iterations
}

func setString(m map[string]any, k, v string) {
	if v == "" {
		delete(m, k)
		return
	}
	m[k] = v
}

// sameState reports whether two versions of a Canary, as a CanaryStore keeps them, carry the
// same status fields the store writes.
func sameState(a, b *canaryState) bool {
	x, errA := a.decoded()
	y, errB := b.decoded()
	return errA == nil && errB == nil && sameFields(x, y)
}

// sameFields reports whether two decoded statuses carry the same fields a CanaryStore writes.
func sameFields(x, y flaggerStatus) bool {
	var ax, ay canary.Status
	fx, errA := x.analysis(&ax)
	fy, errB := y.analysis(&ay)
	if errA != nil || errB != nil || fx != fy || !sameAnalysis(analysisOf(ax), analysisOf(ay)) {
		return false // canarykit's own part changed: a pause, a rollback, by another writer
	}
	return x.Phase == y.Phase && x.CanaryWeight == y.CanaryWeight && x.FailedChecks == y.FailedChecks &&
		x.Iterations == y.Iterations && x.LastAppliedSpec == y.LastAppliedSpec && x.LastPromotedSpec == y.LastPromotedSpec &&
		x.LastTransitionTime.Equal(y.LastTransitionTime) && x.SessionAffinityCookie == y.SessionAffinityCookie &&
		x.PreviousSessionAffinityCookie == y.PreviousSessionAffinityCookie && x.PrimarySessionAffinityCookie == y.PrimarySessionAffinityCookie
}

func sameAnalysis(a, b analysisState) bool {
	return a.Paused == b.Paused && a.RollingBack == b.RollingBack && a.Cause == b.Cause && a.Message == b.Message &&
		(a.StartedAt == nil) == (b.StartedAt == nil) && (a.StartedAt == nil || a.StartedAt.Equal(*b.StartedAt))
}
