package canary_test

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestControl(t *testing.T) {
	t.Run("Promote skips the remaining steps and the promotion gate", func(t *testing.T) {
		env := healthyEnv()
		spec := seedSpec()
		spec.Webhooks = append(spec.Webhooks, canary.Webhook{Name: "gate", Type: canary.HookConfirmPromotion, URL: "http://gate.test/"})
		env.Gates.Set("gate", canarytest.Closed())
		r := bootstrapped(t, env, spec, "v1")
		env.Events.Then = func(e canary.Event) {
			if e.Message == "Advance podinfo.test canary weight 15" {
				r.Promote()
			}
		}
		res := run(t, r)
		requirePromoted(t, env, res, "v1")
		assert.Equal(t, []int{5, 10, 15, 0}, res.Weights)
	})
	t.Run("Abort rolls back at once", func(t *testing.T) {
		env := healthyEnv()
		r := bootstrapped(t, env, seedSpec(), "v1")
		env.Events.Then = func(e canary.Event) {
			if e.Message == "Advance podinfo.test canary weight 15" {
				r.Abort()
			}
		}
		res := run(t, r)
		requireRolledBack(t, env, res, "v0")
		assert.Equal(t, "aborted", res.Reason)
		cause, _ := rollbackCause(t, env)
		assert.Equal(t, canary.CauseAborted, cause)
		assert.Equal(t, []int{5, 10, 15, 0}, res.Weights)
	})
	t.Run("Pause holds the analysis until Resume", func(t *testing.T) {
		env := healthyEnv()
		r := bootstrapped(t, env, seedSpec(), "v1")
		resumed := make(chan struct{})
		env.Events.Then = func(e canary.Event) {
			switch e.Message {
			case "Advance podinfo.test canary weight 10":
				r.Pause()
			case "Analysis of podinfo.test paused":
				go func() {
					assert.True(t, r.Paused())
					r.Resume()
					close(resumed)
				}()
			}
		}
		res := run(t, r)
		<-resumed
		requirePromoted(t, env, res, "v1")
		assert.Equal(t, 1, env.Events.Count(canary.ReasonPaused))
		assert.Equal(t, 1, env.Events.Count(canary.ReasonUnpaused))
		assert.Zero(t, res.FailedChecks)
	})
}

// A revision rolled back while it waited for approval is not released again when the gate opens.
func TestAbortWhileWaitingIsFinal(t *testing.T) {
	env := healthyEnv()
	spec := seedSpec()
	spec.Webhooks = []canary.Webhook{{Name: "approve", Type: canary.HookConfirmRollout, URL: "http://gate.test/"}}
	env.Gates.Set("approve", canarytest.Closed())
	r := bootstrapped(t, env, spec, "v1")
	env.Events.Then = func(e canary.Event) {
		if e.Reason == canary.ReasonWaiting {
			r.Abort()
		}
	}
	res := run(t, r)
	requireRolledBack(t, env, res, "v0")
	assert.Equal(t, "v1", env.Store.Current(env.Target).LastAppliedSpec)
	env.Events.Then = nil
	env.Gates.Set("approve", canarytest.Open())
	res = run(t, r)
	assert.False(t, res.Released, "the aborted revision stays aborted")
	assert.Equal(t, canary.PhaseFailed, res.Phase)
}

// Promote during Waiting approves the rollout; the analysis still runs.
func TestPromoteWhileWaitingApprovesOnly(t *testing.T) {
	env := healthyEnv()
	spec := seedSpec()
	spec.Webhooks = []canary.Webhook{{Name: "approve", Type: canary.HookConfirmRollout, URL: "http://gate.test/"}}
	env.Gates.Set("approve", canarytest.Closed())
	r := bootstrapped(t, env, spec, "v1")
	env.Events.Then = func(e canary.Event) {
		if e.Reason == canary.ReasonWaiting {
			r.Promote()
		}
	}
	res := run(t, r)
	requirePromoted(t, env, res, "v1")
	assert.Equal(t, []int{5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 0}, res.Weights, "analysed step by step")
	assert.NotZero(t, env.Metrics.Calls.Count("Query"))
}

// pauseAtWeight10 runs r until it is paused at weight 10, and stops it there: the pause is
// saved.
func pauseAtWeight10(t *testing.T, env *canarytest.Env, r *canary.Rollout) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env.Events.Then = func(e canary.Event) {
		switch e.Message {
		case "Advance podinfo.test canary weight 10":
			r.Pause()
		case "Analysis of podinfo.test paused":
			cancel()
		}
	}
	defer func() { env.Events.Then = nil }()
	_, err := r.Run(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.True(t, env.Store.Current(env.Target).Paused)
}

// A pause survives a restart of the driver: the new Rollout waits for Resume.
func TestPauseSurvivesARestart(t *testing.T) {
	// In a bubble, synctest.Wait returns once every goroutine of the test is blocked for good:
	// a paused Rollout that would take a step is caught, without a wall-clock window.
	synctest.Test(t, func(t *testing.T) {
		env := healthyEnv()
		r := bootstrapped(t, env, seedSpec(), "v1")
		pauseAtWeight10(t, env, r)
		r2, err := env.New(seedSpec())
		require.NoError(t, err)
		before, advanced := env.Router.History(env.Target), env.Events.Count(canary.ReasonAdvanced)
		done := start(context.Background(), r2)
		synctest.Wait() // r2 has done all it does before Resume
		assert.True(t, r2.Paused(), "the new driver starts paused")
		select {
		case o := <-done:
			require.Failf(t, "a paused release ended", "phase %s, error %v", o.res.Phase, o.err)
		default:
		}
		assert.Equal(t, before, env.Router.History(env.Target), "no step while paused")
		assert.Equal(t, 1, env.Events.Count(canary.ReasonResumed))
		assert.Equal(t, advanced, env.Events.Count(canary.ReasonAdvanced), "no analysis while paused")

		r2.Resume()
		o := <-done
		require.NoError(t, o.err)
		requirePromoted(t, env, o.res, "v1")
		assert.False(t, env.Store.Current(env.Target).Paused)
	})
}

// A Resume that reaches the Rollout before Run has loaded the status (a control request the new
// driver received as it took the lease) is newer than the saved pause: the release continues.
func TestResumeBeforeRunOverridesASavedPause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := healthyEnv()
		r := bootstrapped(t, env, seedSpec(), "v1")
		pauseAtWeight10(t, env, r)
		r2, err := env.New(seedSpec())
		require.NoError(t, err)
		r2.Resume()
		ctx2, cancel2 := context.WithCancel(context.Background())
		defer cancel2()
		done := start(ctx2, r2)
		synctest.Wait()
		paused := r2.Paused()
		cancel2() // ends a release left paused, so the bubble does not hang
		o := <-done
		require.False(t, paused, "the Resume was undone by the saved pause")
		require.NoError(t, o.err)
		requirePromoted(t, env, o.res, "v1")
		assert.Equal(t, 1, env.Events.Count(canary.ReasonUnpaused))
		assert.False(t, env.Store.Current(env.Target).Paused)
	})
}
