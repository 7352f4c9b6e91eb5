package canary_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func eventTime(t *testing.T, env *canarytest.Env, msg string) time.Time {
	t.Helper()
	var at time.Time
	for _, e := range env.Events.Events() {
		if e.Message == msg {
			at = e.Time
		}
	}
	require.False(t, at.IsZero(), "no event %q", msg)
	return at
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

// A resumed analysis waits out the rest of the interval it was in: every weight gets a whole
// interval of traffic however often the driver restarts.
func TestResumedAnalysisWaitsOutItsInterval(t *testing.T) {
	env := healthyEnv()
	r := bootstrapped(t, env, seedSpec(), "v1")
	ctx, cancel := context.WithCancel(context.Background())
	env.Events.Then = func(e canary.Event) {
		if e.Message == "Advance podinfo.test canary weight 15" {
			cancel()
		}
	}
	_, err := r.Run(ctx)
	require.ErrorIs(t, err, context.Canceled)
	env.Clock.Advance(10 * time.Second) // the new process starts 10 s later
	env.Events.Then = nil
	r2, err := env.New(seedSpec())
	require.NoError(t, err)
	requirePromoted(t, env, run(t, r2), "v1")
	assert.Equal(t, 30*time.Second, eventTime(t, env, "Advance podinfo.test canary weight 20").
		Sub(eventTime(t, env, "Advance podinfo.test canary weight 15")), "one interval at weight 15, restart included")
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

// A pause survives a restart of the driver: the new Rollout waits for Resume.
func TestPauseSurvivesARestart(t *testing.T) {
	env := healthyEnv()
	r := bootstrapped(t, env, seedSpec(), "v1")
	ctx, cancel := context.WithCancel(context.Background())
	env.Events.Then = func(e canary.Event) {
		switch e.Message {
		case "Advance podinfo.test canary weight 10":
			r.Pause()
		case "Analysis of podinfo.test paused":
			cancel()
		}
	}
	_, err := r.Run(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.True(t, env.Store.Current(env.Target).Paused)

	env.Events.Then = nil
	r2, err := env.New(seedSpec())
	require.NoError(t, err)
	done := make(chan canary.Result)
	go func() { done <- run(t, r2) }()
	require.Eventually(t, r2.Paused, 10*time.Second, time.Millisecond, "the new driver starts paused")
	before := len(env.Router.History(env.Target))
	select {
	case res := <-done:
		t.Fatalf("a paused release ended: %s", res.Phase)
	case <-time.After(50 * time.Millisecond):
	}
	assert.Len(t, env.Router.History(env.Target), before, "no step while paused")
	r2.Resume()
	res := <-done
	requirePromoted(t, env, res, "v1")
	assert.False(t, env.Store.Current(env.Target).Paused)
}

// The primary only ever gets the revision that was analysed: a target changed just before the
// copy restarts the analysis instead.
func TestPromoteCopiesOnlyTheAnalysedRevision(t *testing.T) {
	env := healthyEnv()
	r := bootstrapped(t, env, seedSpec(), "v1")
	var copies []string
	env.Events.Then = func(e canary.Event) {
		if e.Reason == canary.ReasonPromoting {
			copies = append(copies, e.Revision)
			if len(copies) == 1 {
				env.Workload.SetRevision("v2") // kubectl set image, at the worst moment
			}
		}
	}
	res := run(t, r)
	requirePromoted(t, env, res, "v2")
	assert.Equal(t, []string{"v1", "v2"}, copies)
	assert.True(t, has(env.Events.Messages(), "New revision detected! Restarting analysis for podinfo.test"))
	var changed bool
	for _, e := range env.Events.Events() {
		changed = changed || (e.Reason == canary.ReasonError && strings.Contains(e.Message, canary.ErrRevisionChanged.Error()))
	}
	assert.True(t, changed, "the refused copy is reported")
}

// switchingRouter can only send all traffic to one side.
type switchingRouter struct{ *canarytest.Router }

func (switchingRouter) SwitchesOnly() bool { return true }

func TestSwitchingRouterNeedsBlueGreen(t *testing.T) {
	env := healthyEnv()
	cfg := env.Config(seedSpec())
	cfg.Router = switchingRouter{env.Router}
	_, err := canary.New(cfg)
	require.ErrorIs(t, err, canary.ErrInvalidSpec)
	assert.ErrorContains(t, err, "config.Router: switches all traffic at once (no weighted split)")
	spec := seedSpec()
	spec.StepWeight, spec.MaxWeight, spec.Iterations = 0, 0, 3
	cfg = env.Config(spec)
	cfg.Router = switchingRouter{env.Router}
	_, err = canary.New(cfg)
	require.NoError(t, err)
}

// A blocked event hook does not hold the release: event hooks are delivered off its path.
func TestEventHooksDoNotHoldTheRelease(t *testing.T) {
	env := healthyEnv()
	spec := seedSpec()
	spec.Webhooks = append(spec.Webhooks, canary.Webhook{Name: "audit", Type: canary.HookEvent, URL: "http://audit.test/"})
	unblock := make(chan struct{})
	r := bootstrapped(t, env, spec, "v1")
	env.Gates.Set("audit", func(int, canary.GateRequest) (bool, error) { <-unblock; return true, nil })
	done := make(chan canary.Result)
	go func() { done <- run(t, r) }()
	require.Eventually(t, func() bool { return env.Store.Current(env.Target).Phase == canary.PhaseSucceeded },
		10*time.Second, time.Millisecond, "the release ends while its event hook is blocked")
	close(unblock)
	requirePromoted(t, env, <-done, "v1")
}

// A permanent adapter error stops the analysis and routes all traffic back to the primary.
func TestPermanentErrorRoutesTrafficToThePrimary(t *testing.T) {
	env := healthyEnv()
	r := bootstrapped(t, env, seedSpec(), "v1")
	env.Events.Then = func(e canary.Event) {
		if e.Message == "Advance podinfo.test canary weight 20" {
			env.Router.Calls.FailNext("SetWeights", 1, backoff.Permanent(fmt.Errorf("route owned by someone else")))
		}
	}
	_, err := r.Run(context.Background())
	require.ErrorContains(t, err, "route owned by someone else")
	w, _ := env.Router.Current(env.Target)
	assert.Equal(t, canary.AllPrimary(), w)
	assert.True(t, errors.Is(err, err))
}
