package canarytest

import (
	"context"
	"sync"

	"github.com/canarykit/canarykit/canary"
)

// Store is a canary.StatusStore in memory that counts calls and can fail on demand; a new
// Rollout over the same Store resumes where the last one stopped, as across a process restart.
// The zero value is ready to use; safe for concurrent use.
type Store struct {
	// Calls counts Load and Save calls.
	Calls Calls

	mem   canary.MemoryStore
	mu    sync.Mutex
	saved []canary.Status
}

var _ canary.StatusStore = (*Store)(nil)

// Load returns the saved status.
func (s *Store) Load(ctx context.Context, t canary.Target) (canary.Status, error) {
	if err := s.Calls.record(ctx, "Load"); err != nil {
		return canary.Status{}, err
	}
	return s.mem.Load(ctx, t)
}

// Save stores st with optimistic concurrency (canary.ErrConflict on a stale Version).
func (s *Store) Save(ctx context.Context, t canary.Target, st canary.Status) (canary.Status, error) {
	if err := s.Calls.record(ctx, "Save"); err != nil {
		return canary.Status{}, err
	}
	out, err := s.mem.Save(ctx, t, st)
	if err == nil {
		s.mu.Lock()
		s.saved = append(s.saved, out)
		s.mu.Unlock()
	}
	return out, err
}

// Saved returns every status saved, in order.
func (s *Store) Saved() []canary.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]canary.Status(nil), s.saved...)
}

// Current returns t's saved status.
func (s *Store) Current(t canary.Target) canary.Status {
	st, _ := s.mem.Load(context.Background(), t)
	return st
}
