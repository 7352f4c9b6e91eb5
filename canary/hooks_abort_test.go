package canary_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Abort acts during a hook call, whatever its retries: the call's context is cancelled at once
// instead of running to the hook's budget (21 attempts and 20 pauses here).
func TestAbortCutsShortAHookCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := healthyEnv()
		spec := seedSpec()
		spec.Webhooks = []canary.Webhook{{Name: "slow", Type: canary.HookPreRollout, URL: "http://h/", Retries: canary.MaxHookRetries}}
		started := make(chan struct{}, 1)
		ended := make(chan error, 1)
		cfg := env.Config(spec)
		cfg.Webhooks = canary.GateFunc(func(ctx context.Context, req canary.GateRequest) (bool, error) {
			select {
			case started <- struct{}{}:
			default:
			}
			<-ctx.Done()
			select {
			case ended <- ctx.Err():
			default:
			}
			return false, ctx.Err()
		})
		r, err := canary.New(cfg)
		require.NoError(t, err)
		run(t, r) // initialized at v0
		env.Workload.SetRevision("v1")
		done := make(chan canary.Result, 1)
		go func() {
			res, err := r.Run(context.Background())
			assert.NoError(t, err)
			done <- res
		}()
		<-started
		at := time.Now()
		r.Abort()
		cause := <-ended
		assert.ErrorIs(t, cause, context.Canceled, "the hook's context is cancelled by Abort, not by its deadline")
		assert.Zero(t, time.Since(at), "no (virtual) time passes between Abort and the hook's end")
		res := <-done
		assert.Equal(t, canary.PhaseFailed, res.Phase)
	})
}

// A hook or gate that Abort cuts short said nothing: the release is rolled back for the abort,
// without a failed check counted for the hook, a "Halt ... failed context canceled" event, or
// a closed gate's Waiting event (and its "waiting for approval" alert) first.
func TestAbortCutHookIsNeitherAFailedCheckNorAClosedGate(t *testing.T) {
	for _, typ := range []canary.HookType{canary.HookConfirmRollout, canary.HookPreRollout, canary.HookRollout,
		canary.HookConfirmTrafficIncrease, canary.HookConfirmPromotion} {
		t.Run(string(typ), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				env := healthyEnv()
				spec := seedSpec()
				spec.Webhooks = []canary.Webhook{{Name: "slow", Type: typ, URL: "http://h/"}}
				started := make(chan struct{}, 1)
				cfg := env.Config(spec)
				cfg.Webhooks = canary.GateFunc(func(ctx context.Context, req canary.GateRequest) (bool, error) {
					if req.Hook.Type != typ {
						return true, nil
					}
					select {
					case started <- struct{}{}:
					default:
					}
					<-ctx.Done()
					return false, ctx.Err()
				})
				r, err := canary.New(cfg)
				require.NoError(t, err)
				run(t, r) // initialized at v0
				env.Workload.SetRevision("v1")
				done := make(chan canary.Result, 1)
				go func() {
					res, err := r.Run(context.Background())
					assert.NoError(t, err)
					done <- res
				}()
				<-started
				r.Abort()
				res := <-done
				assert.Equal(t, canary.PhaseFailed, res.Phase)
				assert.Equal(t, canary.CauseAborted, res.Cause)
				for _, e := range env.Events.Events() {
					assert.NotEqual(t, canary.ReasonHalted, e.Reason, e.Message)
					assert.NotEqual(t, canary.ReasonWaiting, e.Reason, e.Message)
				}
				for _, s := range env.Store.Saved() {
					assert.Zero(t, s.FailedChecks, "saved %s: %s", s.Phase, s.Message)
					assert.NotContains(t, []canary.Phase{canary.PhaseWaiting, canary.PhaseWaitingPromotion}, s.Phase, s.Message)
				}
				requireOrder(t, env.Events.Messages(), "Rolling back podinfo.test aborted", "Canary failed! Scaling down podinfo.test")
			})
		})
	}
}

// An Abort that cuts short a rollback hook rolls the release back before anything else moves:
// no step is taken at the weight the analysis would have reached without it.
func TestAbortDuringARollbackHookTakesNoStep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := healthyEnv()
		spec := seedSpec()
		spec.Webhooks = []canary.Webhook{{Name: "rollback-gate", Type: canary.HookRollback, URL: "http://h/"}}
		started := make(chan struct{}, 1)
		cfg := env.Config(spec)
		cfg.Webhooks = canary.GateFunc(func(ctx context.Context, req canary.GateRequest) (bool, error) {
			select {
			case started <- struct{}{}:
			default:
			}
			<-ctx.Done()
			return false, ctx.Err()
		})
		r, err := canary.New(cfg)
		require.NoError(t, err)
		run(t, r) // initialized at v0
		env.Workload.SetRevision("v1")
		done := make(chan canary.Result, 1)
		go func() {
			res, err := r.Run(context.Background())
			assert.NoError(t, err)
			done <- res
		}()
		<-started
		r.Abort()
		res := <-done
		assert.Equal(t, canary.CauseAborted, res.Cause)
		for _, w := range env.Router.History(env.Target) {
			assert.Zero(t, w.Canary, "no step after the abort: %+v", w)
		}
		assert.False(t, has(env.Events.Messages(), "Advance podinfo.test canary weight 5"))
	})
}

// A hook's budget (every attempt's timeout plus the pauses between them) saturates instead of
// overflowing: a timeout of 150,000h with 20 retries (valid in Flagger's CRD as "9000000m")
// gives the call all the time there is, not a deadline already past that fails every call.
func TestAHugeHookBudgetDoesNotOverflow(t *testing.T) {
	env := healthyEnv()
	spec := seedSpec()
	spec.Webhooks = []canary.Webhook{{Name: "patient", Type: canary.HookPreRollout, URL: "http://h/",
		Timeout: 150000 * time.Hour, Retries: canary.MaxHookRetries}}
	cfg := env.Config(spec)
	var expired []bool
	cfg.Webhooks = canary.GateFunc(func(ctx context.Context, req canary.GateRequest) (bool, error) {
		expired = append(expired, ctx.Err() != nil)
		return ctx.Err() == nil, ctx.Err()
	})
	r, err := canary.New(cfg)
	require.NoError(t, err)
	run(t, r) // initialized at v0
	env.Workload.SetRevision("v1")
	res := run(t, r)
	assert.Equal(t, canary.PhaseSucceeded, res.Phase)
	require.NotEmpty(t, expired)
	assert.NotContains(t, expired, true, "the hook was asked with its deadline already past")
}
