package canary_test

import (
	"context"
	"sync"
	"testing"

	"github.com/canarykit/canarykit/canary"
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
	store := canary.NewMemoryStore()
	cfg.Store = store
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
	r, err := canary.New(cfg)
	require.NoError(t, err)
	res := run(t, r)
	require.Equal(t, canary.PhaseInitialized, res.Phase)
	env.Workload.SetRevision("v1")

	_, err = r.Run(ctx)
	require.ErrorIs(t, err, context.Canceled)
	st, err := store.Load(context.Background(), env.Target)
	require.NoError(t, err)
	require.Zero(t, st.FailedChecks, "a query cut short by the end of Run is no failed check")
	for _, e := range env.Events.Events() {
		require.NotEqual(t, canary.ReasonHalted, e.Reason, "no Halted event for a cancelled query: %s", e.Message)
	}

	res = run(t, r)
	require.Equal(t, canary.PhaseSucceeded, res.Phase, res.Reason)
	require.Equal(t, "v1", env.Workload.PrimaryRevision())
}
