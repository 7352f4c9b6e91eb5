package canary_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// reconcilingRouter is a router that returns the weights from Reconcile, counting calls.
type reconcilingRouter struct {
	canary.MeshRouter
	reconcileWeights, weights atomic.Int32
}

func (r *reconcilingRouter) ReconcileWeights(ctx context.Context, t canary.Target) (canary.Weights, error) {
	r.reconcileWeights.Add(1)
	if err := r.MeshRouter.Reconcile(ctx, t); err != nil {
		return canary.Weights{}, err
	}
	return r.MeshRouter.Weights(ctx, t)
}

func (r *reconcilingRouter) Weights(ctx context.Context, t canary.Target) (canary.Weights, error) {
	r.weights.Add(1)
	return r.MeshRouter.Weights(ctx, t)
}

// A Run that adopts the route of a router that returns its weights from Reconcile does not read
// them again (one read of the route instead of two).
func TestRunAdoptsTheRouteWithReconcileWeights(t *testing.T) {
	tg := canary.Target{Namespace: "test", Name: "podinfo"}
	env := canarytest.NewEnv(tg)
	cfg := env.Config(canary.Spec{Interval: time.Minute, Threshold: 1, MaxWeight: 20, StepWeight: 10})
	router := &reconcilingRouter{MeshRouter: cfg.Router}
	cfg.Router = router
	r, err := canary.New(cfg)
	require.NoError(t, err)
	ctx := context.Background()
	_, err = r.Run(ctx) // bootstrap
	require.NoError(t, err)
	env.Workload.SetRevision("2")
	res, err := r.Run(ctx)
	require.NoError(t, err)
	assert.Equal(t, canary.PhaseSucceeded, res.Phase)
	assert.Equal(t, int32(1), router.reconcileWeights.Load(), "the second Run adopted the route with ReconcileWeights")
	assert.Zero(t, router.weights.Load(), "and did not read the weights again")
}
