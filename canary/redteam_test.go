package canary_test

import (
	"context"
	"sync"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/stretchr/testify/require"
)

// TestRedteamCancelledQueryIsNoFailedCheck: a Run whose context ends while a metric query is
// in flight has measured nothing. With the default MemoryStore (which does not look at the
// context) the interrupted tick must not save a failed check: a later Run over the same
// store would roll a healthy canary back at Threshold 1.
func TestRedteamCancelledQueryIsNoFailedCheck(t *testing.T) {
	env := healthyEnv()
	spec := seedSpec()
	spec.Threshold = 1
	cfg := env.Config(spec)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	queries := 0
	cfg.Metrics = canary.MetricProviderFunc(func(qctx context.Context, q string) (float64, error) {
		mu.Lock()
		queries++
		n := queries
		mu.Unlock()
		if n == 1 { // the first analysis tick: the process is being stopped
			cancel()
			<-qctx.Done()
			return 0, qctx.Err()
		}
		return env.Metrics.Query(context.Background(), q)
	})
	r, st := stoppedMidRelease(t, env, cfg, ctx)
	require.Zero(t, st.FailedChecks, "a query cut short by the end of Run is no failed check")
	for _, e := range env.Events.Events() {
		require.NotEqual(t, canary.ReasonHalted, e.Reason, "no Halted event for a cancelled query: %s", e.Message)
	}

	res := run(t, r)
	require.Equal(t, canary.PhaseSucceeded, res.Phase, res.Reason)
	require.Equal(t, "v1", env.Workload.PrimaryRevision())
}

// stoppedMidRelease makes a Rollout of cfg over a MemoryStore (which saves whatever the
// context), initializes it, releases v1 with ctx, which ends during the release, and returns
// the Rollout and what the store holds then.
func stoppedMidRelease(t *testing.T, env *canarytest.Env, cfg canary.Config, ctx context.Context) (*canary.Rollout, canary.Status) {
	t.Helper()
	store := canary.NewMemoryStore()
	cfg.Store = store
	r, err := canary.New(cfg)
	require.NoError(t, err)
	res := run(t, r)
	require.Equal(t, canary.PhaseInitialized, res.Phase)
	env.Workload.SetRevision("v1")
	_, err = r.Run(ctx)
	require.ErrorIs(t, err, context.Canceled)
	st, err := store.Load(context.Background(), env.Target)
	require.NoError(t, err)
	return r, st
}

// TestRedteamRestartKeepsSessionCookies: a new revision during the analysis restarts it; as in
// Flagger (whose restart resets only phase, weight, iterations and failed checks), the status
// keeps the primary's cookie and holds the restarted release's canary cookie as the previous
// one, which routes at weight 0 expire. The restart used to drop both.
func TestRedteamRestartKeepsSessionCookies(t *testing.T) {
	env := healthyEnv()
	changed := false
	env.Metrics.Set("request-success-rate", func(s canarytest.Sample) float64 {
		if s.Weight == 25 && !changed {
			changed = true
			env.Workload.SetRevision("v2") // a new revision while v1 is analysed at 25%
		}
		return 99.9
	})
	r := bootstrapped(t, env, affinitySpec(), "v1")
	res := run(t, r)
	requirePromoted(t, env, res, "v2")

	aff := env.Router.Affinities(env.Target)
	require.GreaterOrEqual(t, len(aff), 2)
	first := cookieOf(t, "canary", aff[1].Cookie)
	primary := cookieOf(t, "primary", aff[1].PrimaryCookie)

	var restarted *canary.Status
	for _, st := range env.Store.Saved() {
		if st.LastAppliedSpec == "v2" && st.Phase == canary.PhaseProgressing {
			restarted = &st
			break
		}
	}
	require.NotNil(t, restarted, "the restart is saved")
	require.Empty(t, restarted.SessionAffinityCookie)
	require.Equal(t, first, restarted.PreviousSessionAffinityCookie, "the restarted release's cookie is the previous one")
	require.Equal(t, primary, restarted.PrimarySessionAffinityCookie, "the primary cookie outlives the restart")
	for _, a := range aff[1:] {
		if a.PrimaryCookie != "" {
			require.Equal(t, primary, a.PrimaryCookie, "one primary cookie across the restart")
		}
	}
}

// TestRedteamCancelledGateIsNoWait: a confirm gate asked when Run's context ends has said
// nothing. With the default MemoryStore the interrupted tick must neither save Waiting (or
// WaitingPromotion) nor say it waits for approval; the next Run asks the gate again.
func TestRedteamCancelledGateIsNoWait(t *testing.T) {
	for _, tc := range []struct {
		typ  canary.HookType
		wait canary.Phase
	}{
		{canary.HookConfirmRollout, canary.PhaseWaiting},
		{canary.HookConfirmPromotion, canary.PhaseWaitingPromotion},
	} {
		t.Run(string(tc.typ), func(t *testing.T) {
			env := healthyEnv()
			spec := seedSpec()
			spec.Webhooks = []canary.Webhook{{Name: "approve", Type: tc.typ, URL: "http://gate.test/"}}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			env.Gates.Set("approve", func(int, canary.GateRequest) (bool, error) {
				cancel() // the process is being stopped while the gate is asked
				return false, context.Canceled
			})
			r, st := stoppedMidRelease(t, env, env.Config(spec), ctx)
			require.NotEqual(t, tc.wait, st.Phase, "a gate cut short is no closed gate")
			for _, e := range env.Events.Events() {
				require.NotEqual(t, canary.ReasonWaiting, e.Reason, "no waiting event for a gate cut short: %s", e.Message)
			}

			env.Gates.Set("approve", canarytest.Open())
			res := run(t, r)
			require.Equal(t, canary.PhaseSucceeded, res.Phase, res.Reason)
			require.Equal(t, "v1", env.Workload.PrimaryRevision())
		})
	}
}
