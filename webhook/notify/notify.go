package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/canarykit/canarykit/canary"
)

// Severity ranks a notification, as Flagger's alerts do: info, warn, error.
type Severity int

// Severities, lowest first.
const (
	SeverityInfo Severity = iota
	SeverityWarn
	SeverityError
)

func (s Severity) String() string {
	switch s {
	case SeverityInfo:
		return "info"
	case SeverityWarn:
		return "warn"
	case SeverityError:
		return "error"
	}
	return fmt.Sprintf("Severity(%d)", int(s))
}

// ParseSeverity parses "info", "warn" (or "warning") and "error".
func ParseSeverity(s string) (Severity, error) {
	switch s {
	case "info":
		return SeverityInfo, nil
	case "warn", "warning":
		return SeverityWarn, nil
	case "error":
		return SeverityError, nil
	}
	return 0, fmt.Errorf("unknown severity %q (want info, warn or error)", s)
}

// MarshalText writes the severity's name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a severity's name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err == nil {
		*s = v
	}
	return err
}

// Field is a name/value pair shown with a notification (Flagger's alert fields).
type Field struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Notification is one message for people: an alert derived from a Rollout event.
type Notification struct {
	Severity Severity
	Target   canary.Target
	// Message is the alert's text, in Flagger's wording where Flagger alerts.
	Message string
	// Fields add context: cluster, target, thresholds, weights.
	Fields []Field
	// Event is the event the notification comes from.
	Event canary.Event
}

// Title is what a notification is about: "name.namespace".
func (n Notification) Title() string { return n.Target.String() }

// Time is when the event happened (zero when the notification has no event time).
func (n Notification) Time() time.Time { return n.Event.Time }

// Notifier delivers notifications to one destination. Notify blocks until the destination
// accepted the message or ctx ends. Safe for concurrent use.
type Notifier interface {
	Notify(ctx context.Context, n Notification) error
}

// NotifierFunc adapts a function to Notifier.
type NotifierFunc func(ctx context.Context, n Notification) error

// Notify calls f.
func (f NotifierFunc) Notify(ctx context.Context, n Notification) error { return f(ctx, n) }

var _ Notifier = NotifierFunc(nil)

// Sentinel errors; test with errors.Is.
var (
	// ErrStatus: the destination answered with a status outside 2xx.
	ErrStatus = errors.New("unexpected status")
	// ErrRefused: the destination answered 2xx but said it did not post the message (Slack's
	// Web API: {"ok": false, "error": ...}; a Teams connector: the text "Webhook message
	// delivery failed with error: ...").
	ErrRefused = errors.New("message refused")
	// ErrInvalidConfig: a constructor refused its configuration.
	ErrInvalidConfig = errors.New("invalid notifier config")
	// ErrRunning: Run was called while the Dispatcher already runs.
	ErrRunning = errors.New("dispatcher already running")
)
