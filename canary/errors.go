package canary

import (
	"errors"
	"fmt"

	"github.com/cenkalti/backoff/v4"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrInvalidSpec: New refused the configuration (see ValidationError for every problem).
	ErrInvalidSpec = errors.New("invalid spec")
	// ErrNoData: a query returned no value (empty result or NaN), e.g. no traffic.
	ErrNoData = errors.New("no values found")
	// ErrUnavailable: a metric provider could not reach its backend (connection refused, no
	// answer in time, server errors on every attempt), so nothing was measured. A check that
	// fails with it has the verdict VerdictUnavailable: it holds the step instead of counting
	// a failed check, until the provider has been unavailable for the progress deadline.
	ErrUnavailable = errors.New("metric provider unavailable")
	// ErrConflict: the StatusStore holds a newer status than the one being saved.
	ErrConflict = errors.New("status conflict")
	// ErrInvalidWeights: weights outside 0..100 or not summing to 100.
	ErrInvalidWeights = errors.New("invalid weights")
	// ErrMatchUnsupported: the route kind cannot route by request match (A/B testing).
	ErrMatchUnsupported = errors.New("route cannot match requests")
	// ErrMirrorUnsupported: the route kind cannot mirror requests to the canary (Spec.Mirror).
	ErrMirrorUnsupported = errors.New("route cannot mirror requests")
	// ErrSessionAffinityUnsupported: the route kind cannot keep sessions on the canary with a
	// cookie (Spec.SessionAffinity).
	ErrSessionAffinityUnsupported = errors.New("route cannot keep sessions on the canary")
	// ErrRevisionChanged: the target moved to another revision than the one analysed.
	ErrRevisionChanged = errors.New("target revision changed")
	// ErrAlreadyRunning: Run was called while another Run of the same Rollout is in progress.
	ErrAlreadyRunning = errors.New("rollout already running")
)

// RolloutError is the error Run returns: where the rollout was when it stopped, and why.
type RolloutError struct {
	Target Target
	Phase  Phase
	// CanaryWeight and Iteration locate the step.
	CanaryWeight int
	Iteration    int
	// Op names what failed ("load status", "set weights", ...).
	Op  string
	Err error
}

func (e *RolloutError) Error() string {
	return fmt.Sprintf("rollout %s: %s (phase %s, canary weight %d): %v", e.Target, e.Op, phaseOrNew(e.Phase), e.CanaryWeight, e.Err)
}

// Unwrap returns the cause.
func (e *RolloutError) Unwrap() error { return e.Err }

func phaseOrNew(p Phase) string {
	if p == "" {
		return "new"
	}
	return string(p)
}

// Permanent marks err as not worth retrying: the call that returned it will fail the same way
// until someone changes the cluster or the configuration. What the Rollout does with such an
// error depends on the call (see each interface); for the adapters that drive a release it stops
// Run with a *RolloutError instead of retrying at the next tick. Permanent(nil) is nil.
//
// The result unwraps to err, so errors.Is and errors.As see through it. It is also seen as a
// *backoff.PermanentError of github.com/cenkalti/backoff/v4, so an adapter may return it from
// inside a backoff retry loop to stop that loop.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or any error it wraps, was marked by Permanent or by
// backoff v4's backoff.Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	if errors.As(err, &p) {
		return true
	}
	var bp *backoff.PermanentError
	return errors.As(err, &bp)
}

// permanentError is what Permanent returns.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// As lets errors.As find a *backoff.PermanentError in a permanent error, so retry loops built
// on backoff v4 stop on it as they stop on their own.
func (e *permanentError) As(target any) bool {
	if bp, ok := target.(**backoff.PermanentError); ok {
		*bp = &backoff.PermanentError{Err: e.err}
		return true
	}
	return false
}
