package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"time"

	"k8s.io/utils/clock"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/webhook"
)

// JSONConfig configures a generic JSON notifier.
type JSONConfig struct {
	// URL receives the POSTs. Required.
	URL string
	// Header is added to every request (e.g. Authorization).
	Header http.Header
	// SigningKey, if set, signs each body as the webhook Client does (see webhook.Sign), so
	// the receiver can use webhook.Verifier.
	SigningKey []byte
	// Client sends the requests. Default http.DefaultClient.
	Client *http.Client
	// Clock stamps signatures. Default: the real clock.
	Clock clock.PassiveClock
}

// JSONPayload is what the JSON notifier POSTs: the notification and the event it comes from.
type JSONPayload struct {
	Severity  Severity `json:"severity"`
	Name      string   `json:"name"`
	Namespace string   `json:"namespace"`
	Message   string   `json:"message"`
	Fields    []Field  `json:"fields,omitempty"`
	// The event.
	Reason       canary.Reason    `json:"reason"`
	EventType    canary.EventType `json:"eventType"`
	EventMessage string           `json:"eventMessage"`
	Phase        canary.Phase     `json:"phase"`
	CanaryWeight int              `json:"canaryWeight"`
	FailedChecks int              `json:"failedChecks"`
	Iteration    int              `json:"iteration"`
	Hook         string           `json:"hook,omitempty"`
	Checks       []JSONCheck      `json:"checks,omitempty"`
	Timestamp    time.Time        `json:"timestamp,omitzero"`
}

// JSONCheck is one check result of the event's analysis tick.
type JSONCheck struct {
	Name    string         `json:"name"`
	Query   string         `json:"query,omitempty"`
	Value   float64        `json:"value"`
	Verdict canary.Verdict `json:"verdict"`
	Message string         `json:"message,omitempty"`
	// DryRun marks a dry-run metric's result: reported, never counted.
	DryRun bool `json:"dryRun,omitempty"`
}

// MarshalJSON writes a value that is not a finite number (NaN when a check had no data) as null:
// JSON has no NaN or infinities.
func (c JSONCheck) MarshalJSON() ([]byte, error) {
	type plain JSONCheck
	out := struct {
		plain
		Value *float64 `json:"value"`
	}{plain: plain(c)}
	if !math.IsNaN(c.Value) && !math.IsInf(c.Value, 0) {
		out.Value = &c.Value
	}
	return json.Marshal(out)
}

// JSON posts notifications as JSONPayload to any endpoint.
type JSON struct {
	p poster
}

var _ Notifier = (*JSON)(nil)

// NewJSON validates cfg and returns a JSON notifier.
func NewJSON(cfg JSONConfig) (*JSON, error) {
	var p problems
	j := &JSON{p: newPoster("json", cfg.URL, cfg.Client, true, &p)}
	if n := len(cfg.SigningKey); n > 0 && n < webhook.MinKeyLength {
		p.add("SigningKey: must be at least %d bytes, got %d", webhook.MinKeyLength, n)
	}
	if err := p.err("json"); err != nil {
		return nil, err
	}
	j.p.header = cfg.Header.Clone()
	if len(cfg.SigningKey) > 0 {
		key, clk := bytes.Clone(cfg.SigningKey), cfg.Clock
		if clk == nil {
			clk = clock.RealClock{}
		}
		j.p.sign = func(h http.Header, body []byte) { webhook.SignHeaders(h, key, clk.Now(), body) }
	}
	return j, nil
}

// Notify posts n.
func (j *JSON) Notify(ctx context.Context, n Notification) error {
	return j.p.post(ctx, fit(n, JSONPayloadLimit, NewJSONPayload))
}

// NewJSONPayload builds the JSON notifier's payload for n.
func NewJSONPayload(n Notification) JSONPayload {
	e := n.Event
	p := JSONPayload{
		Severity: n.Severity, Name: n.Target.CanaryName(), Namespace: n.Target.Namespace, Message: n.Message, Fields: n.Fields,
		Reason: e.Reason, EventType: e.Type, EventMessage: e.Message, Phase: e.Phase, CanaryWeight: e.Weights.Canary,
		FailedChecks: e.FailedChecks, Iteration: e.Iteration, Hook: e.Hook,
	}
	if !e.Time.IsZero() {
		p.Timestamp = e.Time.UTC()
	}
	for _, c := range e.Checks {
		p.Checks = append(p.Checks, JSONCheck{Name: c.Name, Query: c.Query, Value: c.Value, Verdict: c.Verdict, Message: c.Message, DryRun: c.DryRun})
	}
	return p
}
