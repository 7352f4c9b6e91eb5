package canarytest

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/canarykit/canarykit/canary"
)

// Router is an in-memory canary.MeshRouter that records every weight it is given. The zero
// value is ready to use; safe for concurrent use.
type Router struct {
	// NoMatch makes Reconcile refuse targets with match conditions, like a route kind that
	// cannot match requests (SMI TrafficSplit v1alpha1/v1alpha2).
	NoMatch bool
	// NoMirror makes Reconcile refuse targets that mirror (Target.Mirror), and SetWeights
	// mirrored weights, like a route kind that cannot mirror requests (an SMI TrafficSplit).
	NoMirror bool
	// NoSessionAffinity makes Reconcile and SetWeights refuse targets with session affinity
	// (Target.Affinity), like a route kind that cannot keep sessions on the canary.
	NoSessionAffinity bool
	// Calls counts Reconcile, SetWeights and Weights calls.
	Calls Calls

	mu       sync.Mutex
	routes   map[string]canary.Weights
	history  map[string][]canary.Weights
	affinity map[string][]*canary.Affinity
}

var _ canary.MeshRouter = (*Router)(nil)

func key(t canary.Target) string { return t.Namespace + "/" + t.Name }

// Reconcile creates the route at 100 % primary, or keeps the existing one.
func (r *Router) Reconcile(ctx context.Context, t canary.Target) error {
	if err := r.Calls.record(ctx, "Reconcile"); err != nil {
		return err
	}
	if r.NoMatch && len(t.Match) > 0 {
		return fmt.Errorf("canarytest router: %w", canary.ErrMatchUnsupported)
	}
	if r.NoMirror && t.Mirror > 0 {
		return fmt.Errorf("canarytest router: %w", canary.ErrMirrorUnsupported)
	}
	if r.NoSessionAffinity && t.Affinity != nil {
		return fmt.Errorf("canarytest router: %w", canary.ErrSessionAffinityUnsupported)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.routes == nil {
		r.routes = map[string]canary.Weights{}
		r.history = map[string][]canary.Weights{}
	}
	if _, ok := r.routes[key(t)]; !ok {
		r.routes[key(t)] = canary.AllPrimary()
	}
	return nil
}

// SetWeights records w as the route's weights.
func (r *Router) SetWeights(ctx context.Context, t canary.Target, w canary.Weights) error {
	if err := r.Calls.record(ctx, "SetWeights"); err != nil {
		return err
	}
	if r.NoMirror && w.Mirrored {
		return fmt.Errorf("canarytest router: %w", canary.ErrMirrorUnsupported)
	}
	if r.NoSessionAffinity && t.Affinity != nil {
		return fmt.Errorf("canarytest router: %w", canary.ErrSessionAffinityUnsupported)
	}
	if err := w.ValidateFor(t); err != nil {
		return err
	}
	var a *canary.Affinity
	if t.Affinity != nil {
		if err := t.Affinity.Validate(); err != nil {
			return err
		}
		c := *t.Affinity
		a = &c
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.routes[key(t)]; !ok {
		return fmt.Errorf("canarytest router: route for %s not reconciled", t)
	}
	r.routes[key(t)] = w
	r.history[key(t)] = append(r.history[key(t)], w)
	if r.affinity == nil {
		r.affinity = map[string][]*canary.Affinity{}
	}
	r.affinity[key(t)] = append(r.affinity[key(t)], a)
	return nil
}

// Affinities returns the session affinity (Target.Affinity, nil: none) of every SetWeights
// that History records, in the same order.
func (r *Router) Affinities(t canary.Target) []*canary.Affinity {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.affinity[key(t)])
}

// Weights returns the route's weights.
func (r *Router) Weights(ctx context.Context, t canary.Target) (canary.Weights, error) {
	if err := r.Calls.record(ctx, "Weights"); err != nil {
		return canary.Weights{}, err
	}
	return r.Current(t)
}

// Current returns the route's weights without counting a call.
func (r *Router) Current(t canary.Target) (canary.Weights, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w, ok := r.routes[key(t)]
	if !ok {
		return canary.Weights{}, fmt.Errorf("canarytest router: no route for %s", t)
	}
	return w, nil
}

// History returns every weight set on t's route, in order.
func (r *Router) History(t canary.Target) []canary.Weights {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.history[key(t)])
}

// CanaryHistory returns the canary weight of every change on t's route, in order.
func (r *Router) CanaryHistory(t canary.Target) []int {
	var out []int
	for _, w := range r.History(t) {
		out = append(out, w.Canary)
	}
	return out
}

// Set puts t's route at w, as if changed outside the Rollout (or left by a crashed one).
func (r *Router) Set(t canary.Target, w canary.Weights) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.routes == nil {
		r.routes = map[string]canary.Weights{}
		r.history = map[string][]canary.Weights{}
	}
	r.routes[key(t)] = w
}
