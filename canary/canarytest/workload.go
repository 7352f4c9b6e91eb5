package canarytest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/canarykit/canarykit/canary"
	"k8s.io/utils/clock"
)

// Health is how a simulated workload behaves after it changes (scale-up, new revision,
// promotion).
type Health struct {
	// ReadyAfter is how long it takes to become ready (in the Workload's clock).
	ReadyAfter time.Duration
	// Never keeps it not ready (retriable: the Rollout waits out its progress deadline).
	Never bool
	// Fail marks it failed for good, like a Deployment past its ProgressDeadlineExceeded.
	Fail bool
}

// Workload is an in-memory canary.Workload for one target: a target with a revision, a
// primary that runs a revision, and readiness that follows Health in the Workload's clock.
// The zero value is a target at revision "v0" whose workloads are ready at once. Safe for
// concurrent use.
type Workload struct {
	// Clock measures ReadyAfter; nil means readiness is immediate.
	Clock clock.PassiveClock
	// Calls counts Bootstrap, Observe, ScaleUp, ScaleDown and Promote calls.
	Calls Calls

	mu              sync.Mutex
	revision        string
	primaryRevision string
	bootstrapped    bool
	canaryUp        bool
	canaryChanged   time.Time
	primaryChanged  time.Time
	canaryHealth    Health
	primaryHealth   Health
}

var _ canary.Workload = (*Workload)(nil)

// SetRevision changes the target's revision, as a new image or config would.
func (w *Workload) SetRevision(rev string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.revision = rev
	w.canaryChanged = w.now()
}

// Revision returns the target's revision.
func (w *Workload) Revision() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rev()
}

// PrimaryRevision returns the revision the primary runs ("" before bootstrap).
func (w *Workload) PrimaryRevision() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.primaryRevision
}

// CanaryScaledUp reports whether the canary runs (is scaled above zero).
func (w *Workload) CanaryScaledUp() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.canaryUp
}

// SetCanaryHealth sets how the canary behaves from its next change on (and now, if it is up).
func (w *Workload) SetCanaryHealth(h Health) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.canaryHealth = h
}

// SetPrimaryHealth sets how the primary behaves from its next change on (and now).
func (w *Workload) SetPrimaryHealth(h Health) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.primaryHealth = h
}

func (w *Workload) rev() string {
	if w.revision == "" {
		return "v0"
	}
	return w.revision
}

func (w *Workload) now() time.Time {
	if w.Clock == nil {
		return time.Time{}
	}
	return w.Clock.Now()
}

// Bootstrap creates the primary from the target's revision the first time.
func (w *Workload) Bootstrap(ctx context.Context, _ canary.Target) error {
	if err := w.Calls.record(ctx, "Bootstrap"); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.bootstrapped {
		w.bootstrapped = true
		w.primaryRevision = w.rev()
		w.primaryChanged = w.now()
		w.canaryUp = true // the target runs until the Rollout scales it down
	}
	return nil
}

// Observe reports the target's revision and both workloads' readiness.
func (w *Workload) Observe(ctx context.Context, _ canary.Target) (canary.WorkloadState, error) {
	if err := w.Calls.record(ctx, "Observe"); err != nil {
		return canary.WorkloadState{}, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	st := canary.WorkloadState{Revision: w.rev()}
	if w.canaryUp {
		st.Canary = w.readiness(w.canaryHealth, w.canaryChanged)
	} else {
		st.Canary = canary.Readiness{Message: "scaled to zero"}
	}
	if w.bootstrapped {
		st.PrimaryRevision = w.primaryRevision
		st.Primary = w.readiness(w.primaryHealth, w.primaryChanged)
	} else {
		st.Primary = canary.Readiness{Message: "primary does not exist"}
	}
	return st, nil
}

func (w *Workload) readiness(h Health, since time.Time) canary.Readiness {
	switch {
	case h.Fail:
		return canary.Readiness{Failed: true, Message: "progress deadline exceeded"}
	case h.Never:
		return canary.Readiness{Message: "0 of 1 updated replicas are available"}
	case w.Clock != nil && w.Clock.Since(since) < h.ReadyAfter:
		return canary.Readiness{Message: fmt.Sprintf("waiting for rollout to finish (ready in %s)", h.ReadyAfter-w.Clock.Since(since))}
	}
	return canary.Readiness{Ready: true}
}

// ScaleUp starts the canary.
func (w *Workload) ScaleUp(ctx context.Context, _ canary.Target) error {
	if err := w.Calls.record(ctx, "ScaleUp"); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.canaryUp {
		w.canaryUp = true
		w.canaryChanged = w.now()
	}
	return nil
}

// ScaleDown stops the canary.
func (w *Workload) ScaleDown(ctx context.Context, _ canary.Target) error {
	if err := w.Calls.record(ctx, "ScaleDown"); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.canaryUp = false
	return nil
}

// Promote gives the primary the target's revision, if it is still rev; the primary becomes
// ready per its Health.
func (w *Workload) Promote(ctx context.Context, _ canary.Target, rev string) error {
	if err := w.Calls.record(ctx, "Promote"); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.rev() != rev {
		return fmt.Errorf("canarytest workload: %w: analysed %s, target at %s", canary.ErrRevisionChanged, rev, w.rev())
	}
	if w.primaryRevision != w.rev() {
		w.primaryRevision = w.rev()
		w.primaryChanged = w.now()
	}
	return nil
}
