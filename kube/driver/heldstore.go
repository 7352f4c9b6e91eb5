package driver

import (
	"context"

	"github.com/canarykit/canarykit/canary"
)

// heldStore is a Target's CanaryStore for the releases after the first of one hold of the
// lease. Only the holder writes the Canary's status, so the status the store last read or wrote
// is the stored one: Load returns it without a request. A Canary whose spec or metadata was
// edited meanwhile has a newer resourceVersion; the next save finds out (a conflict over the
// spec alone) and is made again on the fresh object, and a status another writer changed is
// canary.ErrConflict, as for any save.
type heldStore struct{ *CanaryStore }

// Load returns the status as the store last read or wrote it (no request while the lease is
// held), or reads it if the store has not seen the Canary yet.
func (s heldStore) Load(ctx context.Context, t canary.Target) (canary.Status, error) {
	if err := s.check(t); err != nil {
		return canary.Status{}, err
	}
	return s.peek(ctx)
}

// releaseStore is the store a Target's release uses: after a release of the same hold ended
// without error, a CanaryStore loads from what it last read or wrote.
func releaseStore(store canary.StatusStore, held bool) canary.StatusStore {
	if cs, ok := store.(*CanaryStore); ok && held {
		return heldStore{cs}
	}
	return store
}
