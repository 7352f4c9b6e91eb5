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

// preflightRouter is a router whose cluster answers a route's preflight with refuse (nil: it
// would accept it), counting the preflights.
type preflightRouter struct {
	canary.MeshRouter
	refuse     error
	preflights atomic.Int32
	last       atomic.Pointer[canary.Target]
}

func (r *preflightRouter) PreflightRoute(_ context.Context, t canary.Target) error {
	r.preflights.Add(1)
	r.last.Store(&t)
	return r.refuse
}

func preflightEnv(t *testing.T, refuse error) (*canarytest.Env, *preflightRouter, *canary.Rollout) {
	t.Helper()
	tg := canary.Target{Namespace: "test", Name: "podinfo"}
	env := canarytest.NewEnv(tg)
	cfg := env.Config(canary.Spec{Interval: time.Minute, Threshold: 1, Iterations: 2,
		Match: []canary.Match{{Headers: map[string]canary.StringMatch{"x-canary": {Exact: "insider"}}}}})
	router := &preflightRouter{MeshRouter: cfg.Router, refuse: refuse}
	cfg.Router = router
	r, err := canary.New(cfg)
	require.NoError(t, err)
	return env, router, r
}

// A route the cluster refuses stops a target that was never initialized before its workload
// or its route is touched: the refusal is the Run's error, permanent as the router said, and
// its last Event, a Warning.
func TestRouteRefusedInPreflightTouchesNothing(t *testing.T) {
	refused := canary.Permanent(errors.New("the HTTPRoute CRD refuses the CORS filter (a Canary's spec.service.corsPolicy)"))
	env, router, r := preflightEnv(t, refused)
	res, err := r.Run(context.Background())
	require.Error(t, err)
	assert.ErrorIs(t, err, refused)
	assert.Contains(t, res.Reason+err.Error(), "spec.service.corsPolicy")
	assert.Equal(t, int32(1), router.preflights.Load())
	assert.Zero(t, env.Calls()["Workload.Bootstrap"], "the workload is not touched")
	assert.Zero(t, env.Calls()["Router.Reconcile"]+env.Calls()["Router.SetWeights"], "nor the route")
	events := env.Events.Events()
	if assert.NotEmpty(t, events) {
		last := events[len(events)-1]
		assert.Equal(t, canary.EventWarning, last.Type)
		assert.Equal(t, canary.ReasonError, last.Reason)
		assert.Contains(t, last.Message, "spec.service.corsPolicy", "the refusal recorded where kubectl describe shows it")
	}
	if got := router.last.Load(); assert.NotNil(t, got) {
		assert.Equal(t, "podinfo", got.Name)
		assert.NotEmpty(t, got.Match, "the preflight sees the route Reconcile would make: the A/B match included")
	}
}

// A route the cluster accepts is preflighted once, at the target's first initialization only:
// a Run of an initialized target (its next release) does not ask again.
func TestRoutePreflightedOnceAtTheFirstInitialization(t *testing.T) {
	env, router, r := preflightEnv(t, nil)
	res, err := r.Run(context.Background())
	require.NoError(t, err)
	require.Equal(t, canary.PhaseInitialized, res.Phase)
	assert.Equal(t, int32(1), router.preflights.Load())
	assert.Equal(t, 1, env.Calls()["Workload.Bootstrap"])

	env.Workload.SetRevision("2")
	res, err = r.Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, canary.PhaseSucceeded, res.Phase)
	assert.Equal(t, int32(1), router.preflights.Load(), "an initialized target is not preflighted again")
}
