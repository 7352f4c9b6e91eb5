package driver

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh"
	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// genRouter is a route in memory with a generation, as the API server keeps it: every change
// moves the generation, and a conditional write at another generation is refused.
type genRouter struct {
	canary.MeshRouter // unused methods panic
	gen               int64
	weights           canary.Weights
	calls             []string
	fail              error // returned by the next call
	failRead          error // returned by the next read
}

func (g *genRouter) take() error {
	err := g.fail
	g.fail = nil
	return err
}

func (g *genRouter) ReconcileWeights(ctx context.Context, t canary.Target) (canary.Weights, error) {
	w, _, err := g.ReconcileGeneration(ctx, t)
	return w, err
}

func (g *genRouter) ReconcileGeneration(context.Context, canary.Target) (canary.Weights, int64, error) {
	g.calls = append(g.calls, "read")
	if err := errors.Join(g.take(), g.failRead); err != nil {
		g.failRead = nil
		return canary.Weights{}, 0, err
	}
	return g.weights, g.gen, nil
}

func (g *genRouter) SetWeightsAt(_ context.Context, _ canary.Target, w canary.Weights, gen int64) (int64, error) {
	g.calls = append(g.calls, fmt.Sprintf("write %d at %d", w.Canary, gen))
	if err := g.take(); err != nil {
		return 0, err
	}
	if gen != 0 && gen != g.gen {
		return 0, fmt.Errorf("%w: at %d", mesh.ErrRouteChanged, g.gen)
	}
	g.gen++
	g.weights = w
	return g.gen, nil
}

// edit is someone else's change of the route.
func (g *genRouter) edit(w canary.Weights) { g.gen++; g.weights = w }

func (g *genRouter) reset() []string {
	c := g.calls
	g.calls = nil
	return c
}

func TestHeldRoute(t *testing.T) {
	ctx := context.Background()
	tg := canary.Target{Namespace: "ns", Name: "app"}
	g := &genRouter{gen: 7, weights: canary.AllPrimary()}
	r := newHeldRoute(g, logr.Discard())
	require.IsType(t, &heldRoute{}, r)
	wr := r.(canary.WeightsReconciler)

	// a hold's first release reads the route, then writes conditionally on what it read
	forRelease(r, false)
	w, err := wr.ReconcileWeights(ctx, tg)
	require.NoError(t, err)
	assert.Equal(t, canary.AllPrimary(), w)
	require.NoError(t, r.SetWeights(ctx, tg, canary.CanaryWeight(20)))
	require.NoError(t, r.SetWeights(ctx, tg, canary.AllPrimary()))
	assert.Equal(t, []string{"read", "write 20 at 7", "write 0 at 8"}, g.reset())

	// the next release of the hold knows the route
	forRelease(r, true)
	w, err = wr.ReconcileWeights(ctx, tg)
	require.NoError(t, err)
	assert.Equal(t, canary.AllPrimary(), w)
	require.NoError(t, r.SetWeights(ctx, tg, canary.CanaryWeight(20)))
	assert.Equal(t, []string{"write 20 at 9"}, g.reset(), "no read")

	// an edit meanwhile: the write is refused, the route adopted again and the write made on it
	g.edit(canary.CanaryWeight(50))
	require.NoError(t, r.SetWeights(ctx, tg, canary.CanaryWeight(40)))
	assert.Equal(t, []string{"write 40 at 10", "read", "write 40 at 11"}, g.reset())
	assert.Equal(t, canary.CanaryWeight(40), g.weights)

	// a failed write forgets: the next release reads the route again
	g.fail = errors.New("timeout")
	require.Error(t, r.SetWeights(ctx, tg, canary.AllPrimary()))
	require.NoError(t, r.SetWeights(ctx, tg, canary.AllPrimary()))
	assert.Equal(t, []string{"write 0 at 12", "write 0 at 0"}, g.reset(), "unconditional once unknown")
	forRelease(r, true)
	_, err = wr.ReconcileWeights(ctx, tg)
	require.NoError(t, err)
	assert.Empty(t, g.reset(), "the write after the failure is known again")
	g.fail = errors.New("timeout")
	require.Error(t, r.SetWeights(ctx, tg, canary.CanaryWeight(10)))
	g.reset()
	_, err = wr.ReconcileWeights(ctx, tg)
	require.NoError(t, err)
	assert.Equal(t, []string{"read"}, g.reset(), "forgotten after the failed write")

	// a new hold of the lease forgets too
	forRelease(r, true)
	_, err = wr.ReconcileWeights(ctx, tg)
	require.NoError(t, err)
	assert.Empty(t, g.reset())
	forRelease(r, false)
	_, err = wr.ReconcileWeights(ctx, tg)
	require.NoError(t, err)
	assert.Equal(t, []string{"read"}, g.reset())

	// a route that is no longer the router's: the refused write, then the adoption says whose
	g.edit(canary.AllPrimary())
	g.failRead = canary.Permanent(mesh.ErrNotOwned)
	err = r.SetWeights(ctx, tg, canary.CanaryWeight(20))
	require.ErrorIs(t, err, mesh.ErrNotOwned)
	assert.Equal(t, []string{"write 20 at 13", "read"}, g.reset())
	assert.Equal(t, canary.AllPrimary(), g.weights, "nothing written")
}

// Routers that cannot write conditionally are used as they are.
func TestHeldRouteOnlyGenerationRouters(t *testing.T) {
	var plain canary.MeshRouter = struct{ canary.MeshRouter }{}
	assert.Equal(t, plain, newHeldRoute(plain, logr.Discard()))
	assert.Equal(t, plain, forRelease(plain, true))
}

// A Canary edited between two releases of one hold so that its route has another shape (match
// conditions added, another apex service) is adopted again, not known from the last write:
// the router must make the HTTPRouteGroup, or find the other object, before it is written.
func TestHeldRouteShapeChanged(t *testing.T) {
	ctx := context.Background()
	tg := canary.Target{Namespace: "ns", Name: "app"}
	for name, next := range map[string]canary.Target{
		"match added":     {Namespace: "ns", Name: "app", Match: []canary.Match{{Headers: map[string]canary.StringMatch{"x-canary": {Exact: "1"}}}}},
		"service renamed": {Namespace: "ns", Name: "app", Service: "web"},
		"namespace":       {Namespace: "other", Name: "app"},
	} {
		t.Run(name, func(t *testing.T) {
			g := &genRouter{gen: 3, weights: canary.AllPrimary()}
			r := newHeldRoute(g, logr.Discard())
			wr := r.(canary.WeightsReconciler)
			forRelease(r, false)
			_, err := wr.ReconcileWeights(ctx, tg)
			require.NoError(t, err)
			require.NoError(t, r.SetWeights(ctx, tg, canary.AllPrimary()))
			g.reset()

			forRelease(r, true)
			_, err = wr.ReconcileWeights(ctx, tg)
			require.NoError(t, err)
			assert.Empty(t, g.reset(), "same shape: known")
			_, err = wr.ReconcileWeights(ctx, next)
			require.NoError(t, err)
			assert.Equal(t, []string{"read"}, g.reset(), "another shape: adopted again")
		})
	}
}
