package mesh

import (
	"context"
	"errors"

	"github.com/canarykit/canarykit/canary"
)

// ErrRouteChanged: a weight write conditional on the route's generation (GenerationRouter)
// found the route changed since (its spec edited, or the router's label gone): nothing was
// written. It is not permanent; adopting the route again (ReconcileGeneration) tells what to
// do.
var ErrRouteChanged = errors.New("route changed since it was last seen")

// GenerationRouter is a router whose route for a target is one object, whose
// metadata.generation the API server moves with every change to its spec. A caller that alone
// writes the route (it holds the target's lease) and remembers the weights and generation of
// its last write knows the route without reading it; its next write, made conditional on that
// generation, fails rather than write over a change made meanwhile by someone else (kubectl
// edit, a GitOps tool), and the caller then adopts the route again, as Reconcile does.
//
// A generation of 0 means "unknown": the route of such a target (e.g. a TrafficSplit with an
// HTTPRouteGroup, two objects) cannot be known from one generation and must be read.
type GenerationRouter interface {
	canary.WeightsReconciler
	// ReconcileGeneration is ReconcileWeights, also returning the route's generation as it
	// found or left it.
	ReconcileGeneration(ctx context.Context, t canary.Target) (canary.Weights, int64, error)
	// SetWeightsAt is SetWeights in one request that applies only if the route is still at
	// generation gen (gen 0: unconditional, as SetWeights); a route changed since is
	// ErrRouteChanged and nothing is written. It returns the route's generation after the
	// write.
	SetWeightsAt(ctx context.Context, t canary.Target, w canary.Weights, gen int64) (int64, error)
}

var _ GenerationRouter = (*TrafficSplit)(nil)

// ReconcileGeneration is ReconcileWeights, also returning the TrafficSplit's generation (0 for
// a target with match conditions: its HTTPRouteGroup is a second object).
func (r *TrafficSplit) ReconcileGeneration(ctx context.Context, t canary.Target) (canary.Weights, int64, error) {
	w, gen, err := r.reconcile(ctx, t, true)
	if len(t.Match) > 0 {
		gen = 0
	}
	return w, gen, err
}

// SetWeightsAt is SetWeights with, when gen > 0, a test of the TrafficSplit's generation in
// the same JSON patch: ErrRouteChanged when the spec changed or the router's label is gone
// (nothing is read; ReconcileGeneration tells which). A deleted TrafficSplit is created again.
// It returns the generation after the write (0 for a target with match conditions, whose
// writes are never conditional).
func (r *TrafficSplit) SetWeightsAt(ctx context.Context, t canary.Target, w canary.Weights, gen int64) (int64, error) {
	if len(t.Match) > 0 {
		return 0, r.SetWeights(ctx, t, w)
	}
	return r.setWeights(ctx, t, w, gen)
}
