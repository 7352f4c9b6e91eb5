package kube

import (
	"context"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// HasPrimary and OtherCanary read the same primary from the caches: none before the bootstrap;
// after it, the bootstrapping Canary's own; for a second Canary of the same target, none of its
// own and the first Canary named as the primary's.
func TestHasPrimaryAndOtherCanaryReadThePrimarysOwner(t *testing.T) {
	client, w, tg := apexBed(t, nil, false)
	ctx := context.Background()

	has, err := w.HasPrimary(ctx, tg)
	require.NoError(t, err)
	assert.False(t, has, "no primary before the bootstrap")
	other, err := w.OtherCanary(ctx, tg)
	require.NoError(t, err)
	assert.Empty(t, other)

	require.NoError(t, w.Bootstrap(ctx, tg))
	// the caches see the created primary once its watch event arrives; the bound is a guard
	// against a hang, not a timing claim
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		has, err = w.HasPrimary(ctx, tg)
		require.NoError(t, err)
		if has || time.Now().After(end) {
			break
		}
	}
	assert.True(t, has, "the bootstrapped primary is the Workload's")
	other, err = w.OtherCanary(ctx, tg)
	require.NoError(t, err)
	assert.Empty(t, other, "the primary is this Canary's own")

	c, err := New(Options{Client: client})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	second := canary.Target{Namespace: tg.Namespace, Name: tg.Name, Canary: "podinfo-b"}
	w2, err := c.Workload(WorkloadOptions{Target: second, Port: 9898})
	require.NoError(t, err)
	has, err = w2.HasPrimary(ctx, second)
	require.NoError(t, err)
	assert.False(t, has, "a primary made for another Canary of the target counts as none")
	other, err = w2.OtherCanary(ctx, second)
	require.NoError(t, err)
	assert.Equal(t, "podinfo", other)
}
