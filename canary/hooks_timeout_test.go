package canary_test

import (
	"context"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
