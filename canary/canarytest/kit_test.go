package canarytest_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClockAdvancesOnEveryWait(t *testing.T) {
	var c canarytest.Clock
	assert.Equal(t, canarytest.Epoch(), c.Now())
	<-c.After(time.Minute)
	assert.Equal(t, time.Minute, c.Since(canarytest.Epoch()))
	tm := c.NewTimer(30 * time.Second)
	assert.Equal(t, canarytest.Epoch().Add(90*time.Second), <-tm.C())
	tm.Reset(10 * time.Second)
	<-tm.C()
	c.Sleep(time.Second)
	assert.Equal(t, 101*time.Second, c.Since(canarytest.Epoch()))
	assert.Panics(t, func() { c.Tick(time.Second) })
}

func TestSignals(t *testing.T) {
	ctx := context.Background()
	clk := canarytest.NewClock(canarytest.Epoch())
	weight := 0
	m := &canarytest.Metrics{Clock: clk, Weight: func() int { return weight }, Seed: 7}
	m.Set("seq", canarytest.Sequence(1, 2))
	m.Set("by-weight", canarytest.ByWeight(func(w int) float64 { return 100 - float64(w)/10 }))
	m.Set("after", canarytest.After(time.Minute, canarytest.Constant(1), canarytest.Constant(2)))
	m.Set("nodata", canarytest.NoData())
	m.Set("noise", canarytest.Normal(99, 0.5, 0, 100))

	for _, want := range []float64{1, 2, 2} {
		v, err := m.Query(ctx, "seq")
		require.NoError(t, err)
		assert.Equal(t, want, v)
	}
	weight = 50
	v, _ := m.Query(ctx, "by-weight")
	assert.Equal(t, 95.0, v)
	v, _ = m.Query(ctx, "after")
	assert.Equal(t, 1.0, v)
	clk.Advance(time.Minute)
	v, _ = m.Query(ctx, "after")
	assert.Equal(t, 2.0, v)
	_, err := m.Query(ctx, "nodata")
	require.ErrorIs(t, err, canary.ErrNoData)
	_, err = m.Query(ctx, "unknown")
	require.ErrorContains(t, err, `no signal for query "unknown"`)

	// the same seed replays the same noise
	m2 := &canarytest.Metrics{Seed: 7}
	m2.Set("seq", canarytest.Sequence(1, 2))
	m2.Set("noise", canarytest.Normal(99, 0.5, 0, 100))
	for range 3 {
		_, _ = m2.Query(ctx, "seq")
	}
	_, _ = m2.Query(ctx, "seq") // keep call counts aside: noise depends only on the seed and order
	a, _ := m.Query(ctx, "noise")
	b, _ := m2.Query(ctx, "noise")
	assert.Equal(t, a, b)
	assert.False(t, math.IsNaN(a))
	assert.Equal(t, 9, m.Calls.Count("Query"))
}

func TestDoublesFailOnDemandAndHonourCancellation(t *testing.T) {
	ctx := context.Background()
	tg := canary.Target{Namespace: "ns", Name: "app"}
	r := &canarytest.Router{}
	require.Error(t, r.SetWeights(ctx, tg, canary.AllCanary()), "no route before Reconcile")
	require.NoError(t, r.Reconcile(ctx, tg))
	boom := errors.New("boom")
	r.Calls.FailNext("SetWeights", 1, boom)
	require.ErrorIs(t, r.SetWeights(ctx, tg, canary.CanaryWeight(10)), boom)
	require.NoError(t, r.SetWeights(ctx, tg, canary.CanaryWeight(10)))
	require.ErrorIs(t, r.SetWeights(ctx, tg, canary.Weights{Primary: 10, Canary: 10}), canary.ErrInvalidWeights)
	w, err := r.Weights(ctx, tg)
	require.NoError(t, err)
	assert.Equal(t, canary.CanaryWeight(10), w)
	assert.Equal(t, []int{10}, r.CanaryHistory(tg))
	assert.Equal(t, 4, r.Calls.Count("SetWeights"))

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, r.Reconcile(cctx, tg), context.Canceled)
	var s canarytest.Store
	_, err = s.Save(cctx, tg, canary.Status{})
	require.ErrorIs(t, err, context.Canceled)

	st, err := s.Save(ctx, tg, canary.Status{Phase: canary.PhaseInitialized})
	require.NoError(t, err)
	_, err = s.Save(ctx, tg, canary.Status{Phase: canary.PhaseProgressing})
	require.ErrorIs(t, err, canary.ErrConflict, "a stale version is refused")
	_, err = s.Save(ctx, tg, st)
	require.NoError(t, err)
	assert.Len(t, s.Saved(), 2)
}

func TestWorkloadHealth(t *testing.T) {
	ctx := context.Background()
	clk := canarytest.NewClock(canarytest.Epoch())
	w := &canarytest.Workload{Clock: clk}
	tg := canary.Target{Namespace: "ns", Name: "app"}
	st, _ := w.Observe(ctx, tg)
	assert.False(t, st.Primary.Ready, "no primary before bootstrap")
	require.NoError(t, w.Bootstrap(ctx, tg))
	st, _ = w.Observe(ctx, tg)
	assert.True(t, st.Primary.Ready)
	assert.Equal(t, "v0", st.Revision)

	w.SetCanaryHealth(canarytest.Health{ReadyAfter: time.Minute})
	require.NoError(t, w.ScaleDown(ctx, tg))
	w.SetRevision("v1")
	require.NoError(t, w.ScaleUp(ctx, tg))
	st, _ = w.Observe(ctx, tg)
	assert.False(t, st.Canary.Ready)
	assert.Contains(t, st.Canary.Message, "ready in 1m0s")
	clk.Advance(time.Minute)
	st, _ = w.Observe(ctx, tg)
	assert.True(t, st.Canary.Ready)

	w.SetPrimaryHealth(canarytest.Health{Fail: true})
	require.NoError(t, w.Promote(ctx, tg, "v1"))
	st, _ = w.Observe(ctx, tg)
	assert.True(t, st.Primary.Failed)
	assert.Equal(t, "v1", w.PrimaryRevision())
}
