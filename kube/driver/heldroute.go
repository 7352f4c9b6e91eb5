package driver

import (
	"context"
	"errors"
	"sync"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh"
	"github.com/go-logr/logr"
)

// heldRoute is a Target's view of a router that can write conditionally on the route's
// generation (mesh.GenerationRouter). While the Target holds its lease it alone writes the
// route, so the weights and generation of its last read or write are the route's: a release
// after the first of one hold adopts the route from them, without reading it. Every write
// after an adoption is conditional on the generation; a route edited meanwhile by someone else
// (kubectl edit, a GitOps tool) fails the write without changing anything, and the route is
// then adopted again as at a hold's first release (read, checked to be the router's, put back
// in shape with its weights kept) before the write is made. A release that rolls back before
// its first step still writes all traffic to the primary (the engine does not trust an
// adoption for that), so a hand edit never survives a failed release. What is remembered holds
// for one shape of the target only (its namespace and apex service, without match
// conditions, and its mirror): a Canary edited to another shape has its route adopted again.
type heldRoute struct {
	mesh.GenerationRouter
	log logr.Logger

	mu      sync.Mutex
	trusted bool           // the current release may adopt from memory (a release of this hold ended)
	gen     int64          // the route's generation as last read or written; 0: unknown
	weights canary.Weights // its weights then
	shape   routeShape     // the target the route was read or written for
}

// routeShape is what of a target the route's object is shaped by: a generation remembered for
// one shape says nothing of the route another shape needs (another object and other backends
// when the apex service changed; an HTTPRouteGroup to make and refer to when match conditions
// were added), so such a route is adopted again.
type routeShape struct {
	namespace, apex string
	matched         bool
	mirror          int // Target.Mirror: the share a mirrored route copies
}

func shapeOf(t canary.Target) routeShape {
	return routeShape{namespace: t.Namespace, apex: t.ApexService(), matched: len(t.Match) > 0, mirror: t.Mirror}
}

var _ canary.WeightsReconciler = (*heldRoute)(nil)

// newHeldRoute wraps r for one Target, or returns r when it cannot write conditionally.
func newHeldRoute(r canary.MeshRouter, log logr.Logger) canary.MeshRouter {
	if gr, ok := r.(mesh.GenerationRouter); ok {
		return &heldRoute{GenerationRouter: gr, log: log}
	}
	return r
}

// PreflightRoute is the wrapped router's (canary.RoutePreflighter), nil when it has none: the
// Rollout sees the wrapper, and a route the cluster refuses must still stop a new target
// before its workload is touched.
func (h *heldRoute) PreflightRoute(ctx context.Context, t canary.Target) error {
	if p, ok := h.GenerationRouter.(canary.RoutePreflighter); ok {
		return p.PreflightRoute(ctx, t)
	}
	return nil
}

// forRelease sets whether the next release may adopt the route from memory: held says a
// release of the same hold of the lease ended without error before it. A new hold forgets.
func forRelease(r canary.MeshRouter, held bool) canary.MeshRouter {
	if h, ok := r.(*heldRoute); ok {
		h.mu.Lock()
		h.trusted = held
		if !held {
			h.gen = 0
		}
		h.mu.Unlock()
	}
	return r
}

// known returns the weights and generation remembered for t's route (gen 0: none, the
// route was last seen for another shape of target or not at all), and whether the current
// release may adopt them without a read.
func (h *heldRoute) known(t canary.Target) (canary.Weights, int64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gen == 0 || h.shape != shapeOf(t) || len(t.Match) > 0 {
		return canary.Weights{}, 0, false
	}
	return h.weights, h.gen, h.trusted
}

// seen records t's route's state after a read or write (gen 0: unknown, forgotten).
func (h *heldRoute) seen(t canary.Target, w canary.Weights, gen int64) {
	h.mu.Lock()
	h.weights, h.gen, h.shape = w, gen, shapeOf(t)
	h.mu.Unlock()
}

// Reconcile adopts the route (one read) and remembers its generation.
func (h *heldRoute) Reconcile(ctx context.Context, t canary.Target) error {
	_, err := h.ReconcileWeights(ctx, t)
	return err
}

// ReconcileWeights returns the weights last written, without a request, when the Target has
// held its lease since it wrote them; else it adopts the route (one read).
func (h *heldRoute) ReconcileWeights(ctx context.Context, t canary.Target) (canary.Weights, error) {
	if w, _, ok := h.known(t); ok {
		return w, nil
	}
	w, gen, err := h.ReconcileGeneration(ctx, t)
	if err != nil {
		h.seen(t, canary.Weights{}, 0)
		return canary.Weights{}, err
	}
	h.seen(t, w, gen)
	return w, nil
}

// SetWeights writes w if the route is still at the generation last seen; if it changed, the
// route is adopted again and w written on what was read.
func (h *heldRoute) SetWeights(ctx context.Context, t canary.Target, w canary.Weights) error {
	_, gen, _ := h.known(t)
	next, err := h.SetWeightsAt(ctx, t, w, gen)
	if errors.Is(err, mesh.ErrRouteChanged) {
		h.log.Info("route changed since the last write; adopting it again", "generation", gen, "reason", err.Error())
		var cur canary.Weights
		if cur, gen, err = h.ReconcileGeneration(ctx, t); err == nil {
			h.log.V(1).Info("route adopted again", "weights", cur.String(), "generation", gen)
			next, err = h.SetWeightsAt(ctx, t, w, gen)
		}
	}
	if err != nil {
		h.seen(t, canary.Weights{}, 0)
		return err
	}
	h.seen(t, w, next)
	return nil
}
