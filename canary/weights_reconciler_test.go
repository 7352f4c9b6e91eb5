package canary_test

import (
	"context"
	"errors"
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

// rememberingRouter answers the route's adoption from what it last wrote (as kube/driver does
// for a TrafficSplit while its lease is held), not from the route itself.
type rememberingRouter struct {
	canary.MeshRouter
}

func (r *rememberingRouter) ReconcileWeights(ctx context.Context, t canary.Target) (canary.Weights, error) {
	return canary.AllPrimary(), r.MeshRouter.Reconcile(ctx, t)
}

// editedRememberedRoute bootstraps spec's release of "v1" with a rememberingRouter, then edits
// the route by hand to 30 % on the canary, which the router's memory does not know.
func editedRememberedRoute(t *testing.T, env *canarytest.Env, spec canary.Spec) *canary.Rollout {
	t.Helper()
	bootstrapped(t, env, spec, "v1")
	cfg := env.Config(spec)
	cfg.Router = &rememberingRouter{MeshRouter: env.Router}
	r, err := canary.New(cfg)
	require.NoError(t, err)
	env.Router.Set(env.Target, canary.Weights{Primary: 70, Canary: 30})
	return r
}

// A release that fails before its first route write still writes all traffic to the primary,
// whatever its adoption answered: a route edited by hand between two releases (here 30 % to the
// canary) never keeps sending traffic to the failed canary. The write is not a step.
func TestRollbackBeforeTheFirstStepWritesTheRoute(t *testing.T) {
	env := healthyEnv()
	spec := seedSpec()
	spec.Webhooks = []canary.Webhook{{Name: "smoke", Type: canary.HookPreRollout, URL: "http://gate.test/smoke"}}
	env.Gates.Set("smoke", canarytest.Fail(errors.New("exit status 1")))
	r := editedRememberedRoute(t, env, spec)

	res := run(t, r)
	require.Equal(t, canary.PhaseFailed, res.Phase)
	assert.Empty(t, res.Weights, "no step was taken")
	w, err := env.Router.Current(env.Target)
	require.NoError(t, err)
	assert.Equal(t, canary.AllPrimary(), w)
}

// A permanent error before the release's first route write still routes all traffic to the
// primary, whatever the adoption answered: the route may have been edited by hand since the
// router's last write (here 30 % to the canary), and nobody watches the canary once Run stops.
func TestPermanentErrorBeforeTheFirstStepWritesTheRoute(t *testing.T) {
	env := healthyEnv()
	spec := seedSpec()
	r := editedRememberedRoute(t, env, spec)
	env.Events.Then = func(e canary.Event) {
		if e.Reason == canary.ReasonStarted {
			env.Router.Calls.FailNext("SetWeights", 1, canary.Permanent(errors.New("forbidden")))
		}
	}

	res, err := r.Run(context.Background())
	require.Error(t, err)
	assert.True(t, canary.IsPermanent(err))
	assert.Equal(t, canary.PhaseProgressing, res.Phase)
	w, err := env.Router.Current(env.Target)
	require.NoError(t, err)
	assert.Equal(t, canary.AllPrimary(), w, "the hand-edited route is not left sending traffic to the canary")
}
