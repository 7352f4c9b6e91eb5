package canary_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hook is a webhook of the given name and type on the test's gate server.
func hook(name string, typ canary.HookType) canary.Webhook {
	return canary.Webhook{Name: name, Type: typ, URL: "http://gate.test/" + name}
}

func TestHooks(t *testing.T) {
	cases := []struct {
		name   string
		hook   canary.Webhook
		script canarytest.Script
		phase  canary.Phase
		check  func(t *testing.T, env *canarytest.Env, res canary.Result)
	}{
		{
			name: "confirm-rollout closed waits in Waiting without failing", hook: hook("approve", canary.HookConfirmRollout),
			script: canarytest.OpenAfter(3), phase: canary.PhaseSucceeded,
			check: func(t *testing.T, env *canarytest.Env, res canary.Result) {
				assert.Zero(t, res.FailedChecks)
				assert.Equal(t, 4, env.Gates.CallsOf("approve"))
				requireOrder(t, env.Events.Messages(), "Halt podinfo.test advancement waiting for approval approve",
					"Confirm-rollout check approve passed", "New revision detected! Scaling up podinfo.test")
				assert.Contains(t, savedPhases(env), canary.PhaseWaiting)
			},
		},
		{
			name: "pre-rollout failure counts failed checks until rollback", hook: hook("smoke", canary.HookPreRollout),
			script: canarytest.Fail(errors.New("exit status 1")), phase: canary.PhaseFailed,
			check: func(t *testing.T, env *canarytest.Env, res canary.Result) {
				assert.Equal(t, 5, res.FailedChecks)
				assert.Empty(t, res.Weights, "no traffic ever reached the canary")
				assert.True(t, has(env.Events.Messages(), "Halt podinfo.test advancement pre-rollout check smoke failed exit status 1"))
			},
		},
		{
			name: "rollout hook failure counts a failed check and holds the weight", hook: hook("probe", canary.HookRollout),
			script: canarytest.Answers(true, false, true), phase: canary.PhaseSucceeded,
			check: func(t *testing.T, env *canarytest.Env, res canary.Result) {
				assert.Equal(t, 1, res.FailedChecks)
				assert.True(t, has(env.Events.Messages(), "Halt podinfo.test advancement external check probe failed hook answered no"))
			},
		},
		{
			name: "confirm-traffic-increase closed holds the weight", hook: hook("more", canary.HookConfirmTrafficIncrease),
			script: canarytest.Answers(true, false, false, true), phase: canary.PhaseSucceeded,
			check: func(t *testing.T, env *canarytest.Env, res canary.Result) {
				assert.Zero(t, res.FailedChecks)
				assert.Equal(t, 2, env.Events.Count(canary.ReasonWaiting))
				assert.Equal(t, []int{5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 0}, res.Weights)
			},
		},
		{
			name: "confirm-promotion closed waits in WaitingPromotion with analysis running", hook: hook("promote", canary.HookConfirmPromotion),
			script: canarytest.OpenAfter(2), phase: canary.PhaseSucceeded,
			check: func(t *testing.T, env *canarytest.Env, res canary.Result) {
				assert.Zero(t, res.FailedChecks)
				assert.Contains(t, savedPhases(env), canary.PhaseWaitingPromotion)
				assert.Equal(t, 1, env.Events.Count(canary.ReasonWaiting), "the wait is announced once")
				// analysis ticks at weights 10..50 (9), then at 50 while the gate is closed twice and open once (3)
				assert.Equal(t, 12, env.Metrics.Calls.Count("Query")/2, "metrics checked on every tick, waiting included")
			},
		},
		{
			name: "rollback hook answering yes rolls back", hook: hook("abort", canary.HookRollback),
			script: canarytest.Answers(false, false, false, true), phase: canary.PhaseFailed,
			check: func(t *testing.T, env *canarytest.Env, res canary.Result) {
				assert.Equal(t, "manual webhook invoked abort", res.Reason)
				cause, hook := rollbackCause(t, env)
				assert.Equal(t, canary.CauseRollbackHook, cause)
				assert.Equal(t, "abort", hook)
				requireOrder(t, env.Events.Messages(), "Rollback check abort passed",
					"Rolling back podinfo.test manual webhook invoked abort", "Canary failed! Scaling down podinfo.test")
			},
		},
		{
			name: "post-rollout failure is reported only", hook: hook("notify", canary.HookPostRollout),
			script: canarytest.Fail(errors.New("503")), phase: canary.PhaseSucceeded,
			check: func(t *testing.T, env *canarytest.Env, res canary.Result) {
				assert.True(t, has(env.Events.Messages(), "Post-rollout hook notify failed 503"))
				req := env.Gates.Requests()
				assert.Equal(t, canary.PhaseSucceeded, req[len(req)-1].Phase)
			},
		},
		{
			name: "event hooks receive every event", hook: hook("audit", canary.HookEvent),
			script: canarytest.Open(), phase: canary.PhaseSucceeded,
			check: func(t *testing.T, env *canarytest.Env, res canary.Result) {
				var got []string
				for _, req := range env.Gates.Requests() {
					if req.Hook.Name == "audit" {
						require.NotNil(t, req.Event)
						got = append(got, req.Event.Message)
					}
				}
				assert.Equal(t, env.Events.Messages(), got, "every event, bootstrap included, in order")
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := healthyEnv()
			spec := seedSpec()
			spec.Webhooks = []canary.Webhook{c.hook}
			env.Gates.Set(c.hook.Name, c.script)
			r := bootstrapped(t, env, spec, "v1")
			res := run(t, r)
			require.Equal(t, c.phase, res.Phase, "reason: %s\n%s", res.Reason, joinLines(env.Events.Messages()))
			if c.phase == canary.PhaseSucceeded {
				requirePromoted(t, env, res, "v1")
			} else {
				requireRolledBack(t, env, res, "v0")
			}
			for _, req := range env.Gates.Requests() {
				if e := req.Event; e != nil && (e.Phase == canary.PhaseInitializing || e.Phase == canary.PhaseInitialized) {
					continue // bootstrap events precede the release
				}
				assert.Equal(t, "v1", req.Checksum)
				assert.Equal(t, env.Target.Name, req.Target.Name)
				assert.Equal(t, c.hook.URL, req.Hook.URL)
			}
			c.check(t, env, res)
		})
	}
}

// A hook's Timeout bounds each attempt (as in Flagger): the engine gives the whole call room
// for every retry and the pauses between them.
func TestHookCallIsBoundedPerAttempt(t *testing.T) {
	env := healthyEnv()
	spec := seedSpec()
	spec.Webhooks = []canary.Webhook{
		{Name: "once", Type: canary.HookPreRollout, URL: "http://h/", Timeout: 2 * time.Second},
		{Name: "thrice", Type: canary.HookRollout, URL: "http://h/", Timeout: 2 * time.Second, Retries: 2},
	}
	budgets := map[string]time.Duration{}
	cfg := env.Config(spec)
	cfg.Webhooks = canary.GateFunc(func(ctx context.Context, req canary.GateRequest) (bool, error) {
		dl, ok := ctx.Deadline()
		require.True(t, ok, "every hook call has a deadline")
		budgets[req.Hook.Name] = time.Until(dl).Round(time.Second)
		return true, nil
	})
	r, err := canary.New(cfg)
	require.NoError(t, err)
	run(t, r)
	env.Workload.SetRevision("v1")
	requirePromoted(t, env, run(t, r), "v1")
	assert.Equal(t, 2*time.Second, budgets["once"])
	assert.Equal(t, 3*2*time.Second+2*10*time.Second, budgets["thrice"], "three attempts and two pauses")
}

// A blocked event hook does not hold the release: event hooks are delivered off its path.
func TestEventHooksDoNotHoldTheRelease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := healthyEnv()
		spec := seedSpec()
		spec.Webhooks = append(spec.Webhooks, canary.Webhook{Name: "audit", Type: canary.HookEvent, URL: "http://audit.test/"})
		unblock := make(chan struct{})
		r := bootstrapped(t, env, spec, "v1")
		env.Gates.Set("audit", func(int, canary.GateRequest) (bool, error) { <-unblock; return true, nil })
		asked := env.Gates.CallsOf("audit") // by the bootstrap's events
		done := start(context.Background(), r)
		synctest.Wait() // everything that can happen while the hook is blocked has happened
		assert.Equal(t, canary.PhaseSucceeded, env.Store.Current(env.Target).Phase,
			"the release ends while its event hook is blocked")
		assert.Equal(t, asked+1, env.Gates.CallsOf("audit"), "the hook is still on its first event")
		close(unblock)
		o := <-done
		require.NoError(t, o.err)
		requirePromoted(t, env, o.res, "v1")
		assert.Greater(t, env.Gates.CallsOf("audit"), asked+1, "the queued events reach the hook once it answers")
	})
}

// Post-rollout hooks run in order until one fails, as Flagger's: the ones after it are not
// called, and the release's phase stands.
func TestPostRolloutHooksStopAtTheFirstFailure(t *testing.T) {
	env := healthyEnv()
	spec := seedSpec()
	spec.Webhooks = []canary.Webhook{hook("first", canary.HookPostRollout), hook("second", canary.HookPostRollout), hook("third", canary.HookPostRollout)}
	env.Gates.Set("first", canarytest.Open())
	env.Gates.Set("second", canarytest.Fail(errors.New("503")))
	env.Gates.Set("third", canarytest.Open())
	r := bootstrapped(t, env, spec, "v1")
	res := run(t, r)
	require.Equal(t, canary.PhaseSucceeded, res.Phase, res.Reason)
	var called []string
	for _, req := range env.Gates.Requests() {
		called = append(called, req.Hook.Name)
	}
	assert.Equal(t, []string{"first", "second"}, called)
	requireOrder(t, env.Events.Messages(), "Post-rollout check first passed", "Post-rollout hook second failed 503")
	assert.False(t, has(env.Events.Messages(), "Post-rollout check third passed"))
}
