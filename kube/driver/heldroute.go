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
// adoption for that), so a hand edit never survives a failed release.
type heldRoute struct {
	mesh.GenerationRouter
	log logr.Logger

	mu      sync.Mutex
	trusted bool           // the current release may adopt from memory (a release of this hold ended)
	gen     int64          // the route's generation as last read or written; 0: unknown
	weights canary.Weights // its weights then
}

var _ canary.WeightsReconciler = (*heldRoute)(nil)

// newHeldRoute wraps r for one Target, or returns r when it cannot write conditionally.
func newHeldRoute(r canary.MeshRouter, log logr.Logger) canary.MeshRouter {
	if gr, ok := r.(mesh.GenerationRouter); ok {
		return &heldRoute{GenerationRouter: gr, log: log}
	}
	return r
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

func (h *heldRoute) known() (canary.Weights, int64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.weights, h.gen, h.trusted && h.gen > 0
}

// seen records the route's state after a read or write (gen 0: unknown, forgotten).
func (h *heldRoute) seen(w canary.Weights, gen int64) {
	h.mu.Lock()
	h.weights, h.gen = w, gen
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
	if w, _, ok := h.known(); ok {
		return w, nil
	}
	w, gen, err := h.ReconcileGeneration(ctx, t)
	if err != nil {
		h.seen(canary.Weights{}, 0)
		return canary.Weights{}, err
	}
	h.seen(w, gen)
	return w, nil
}

// SetWeights writes w if the route is still at the generation last seen; if it changed, the
// route is adopted again and w written on what was read.
func (h *heldRoute) SetWeights(ctx context.Context, t canary.Target, w canary.Weights) error {
	_, gen, _ := h.known()
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
		h.seen(canary.Weights{}, 0)
		return err
	}
	h.seen(w, next)
	return nil
}
