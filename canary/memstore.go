package canary

import (
	"context"
	"fmt"
	"strconv"
	"sync"
)

// MemoryStore is a StatusStore in memory, safe for concurrent use. Its statuses die with the
// process; it is the default store and the reference for StatusStore semantics.
type MemoryStore struct {
	mu       sync.Mutex
	statuses map[string]Status
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

var _ StatusStore = (*MemoryStore)(nil)

func storeKey(t Target) string { return t.Namespace + "/" + t.Name }

// Load returns the saved status of t, or the zero Status.
func (m *MemoryStore) Load(_ context.Context, t Target) (Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.statuses[storeKey(t)], nil
}

// Save stores s if s.Version matches the stored version.
func (m *MemoryStore) Save(_ context.Context, t Target, s Status) (Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.statuses == nil {
		m.statuses = map[string]Status{}
	}
	k := storeKey(t)
	cur := m.statuses[k]
	if s.Version != cur.Version {
		return Status{}, fmt.Errorf("%w: %s saved at version %q, stored version is %q", ErrConflict, t, s.Version, cur.Version)
	}
	n, _ := strconv.Atoi(cur.Version)
	s.Version = strconv.Itoa(n + 1)
	m.statuses[k] = s
	return s, nil
}
