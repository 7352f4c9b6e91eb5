package canary_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The grid's next time comes between half an interval and one and a half after a tick,
// exactly one interval after a tick on the grid, also before the Unix epoch; far from it the
// next tick is one interval later.
func TestNextOnGrid(t *testing.T) {
	const iv = 10 * time.Second
	const offset = 3 * time.Second
	onGrid := time.Unix(0, 0).Add(offset + 177_000_000*iv) // a grid time in 2026
	for _, tc := range []struct {
		name string
		t    time.Time
		want time.Time
	}{
		{"on the grid", onGrid, onGrid.Add(iv)},
		{"0.4 interval after a grid time", onGrid.Add(4 * time.Second), onGrid.Add(iv)},
		{"half an interval after", onGrid.Add(5 * time.Second), onGrid.Add(2 * iv)},
		{"0.6 interval after", onGrid.Add(6 * time.Second), onGrid.Add(2 * iv)},
		{"just before a grid time", onGrid.Add(-time.Nanosecond), onGrid.Add(iv)},
		{"before the epoch, on the grid", time.Unix(0, 0).Add(offset - 5*iv), time.Unix(0, 0).Add(offset - 4*iv)},
		{"before the epoch, off the grid", time.Unix(0, 0).Add(offset - 5*iv + 7*time.Second), time.Unix(0, 0).Add(offset - 3*iv)},
		{"the zero time", time.Time{}, time.Time{}.Add(iv)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := canary.NextOnGrid(tc.t, offset, iv)
			assert.True(t, tc.want.Equal(got), "got %s, want %s", got, tc.want)
		})
	}
}

// staggeredStarts runs a release of target with Config.Stagger and returns when its
// detection's tick and its weight steps' ticks began.
func staggeredStarts(t *testing.T, target canary.Target, spec canary.Spec) (time.Time, []time.Time) {
	t.Helper()
	env := canarytest.NewEnv(target)
	env.Metrics.Set("request-success-rate", canarytest.Constant(99.9))
	env.Metrics.Set("request-duration", canarytest.Constant(120))
	env.Clock.Advance(1234567 * time.Microsecond) // off every grid
	cfg := env.Config(spec)
	cfg.Stagger = true
	r, err := canary.New(cfg)
	require.NoError(t, err)
	_, err = r.Run(context.Background())
	require.NoError(t, err)
	env.Workload.SetRevision("v1")
	env.OnCall(func(call string) {
		if call == "Metrics.Query" {
			env.Clock.Advance(3 * time.Second)
		}
	})
	res, err := r.Run(context.Background())
	require.NoError(t, err)
	require.Equal(t, canary.PhaseSucceeded, res.Phase)
	var detected time.Time
	var starts []time.Time
	for _, e := range env.Events.Events() {
		switch e.Reason {
		case canary.ReasonNewRevision:
			detected = e.TickStarted
		case canary.ReasonAdvanced:
			starts = append(starts, e.TickStarted)
		}
	}
	require.False(t, detected.IsZero())
	require.Len(t, starts, 10)
	return detected, starts
}

// With Config.Stagger a release's ticks fall on its target's grid: the first step between
// half an interval and one and a half after the detection, then one interval apart whatever
// a tick spends (6 s of queries here); the grid is the same for the same target in another
// Rollout, and another target's is elsewhere in the interval.
func TestStaggeredTicksFollowTheTargetsGrid(t *testing.T) {
	spec := seedSpec() // interval 30 s
	spec.Webhooks = nil
	iv := spec.Interval
	phase := func(at time.Time) time.Duration { return time.Duration(at.UnixNano() % int64(iv)) }

	podinfo := canary.Target{Namespace: "test", Name: "podinfo"}
	detected, starts := staggeredStarts(t, podinfo, spec)
	first := starts[0].Sub(detected)
	assert.True(t, first >= iv/2 && first <= 3*iv/2, "first step %s after the detection", first)
	assert.NotEqual(t, iv, first, "the detection was off the grid")
	for i := 1; i < len(starts); i++ {
		assert.Equal(t, iv, starts[i].Sub(starts[i-1]), "step %d", i+1)
		assert.Equal(t, phase(starts[0]), phase(starts[i]), "step %d on the grid", i+1)
	}

	_, again := staggeredStarts(t, podinfo, spec)
	assert.Equal(t, phase(starts[0]), phase(again[0]), "the same target, the same grid")
	_, other := staggeredStarts(t, canary.Target{Namespace: "test", Name: "backend"}, spec)
	assert.NotEqual(t, phase(starts[0]), phase(other[0]), "another target, another grid")
}

// A staggered grid's offset is a whole number of GridSlots when the interval holds two or
// more: at 1,000 targets and 10 s every slot of the interval is used, by several targets each
// (the process wakes once for all of a slot's ticks), and none by more than four times its
// share. An interval shorter than two slots keeps the hash's offset as it is.
func TestGridOffsetsShareSlots(t *testing.T) {
	const iv = 10 * time.Second
	slots := map[time.Duration]int{}
	for i := range 1000 {
		off := canary.GridOffset(canary.Target{Namespace: "bench", Name: fmt.Sprintf("podinfo-%d", i)}, iv)
		require.True(t, off >= 0 && off < iv, "offset %s outside the interval", off)
		require.Zero(t, off%canary.GridSlot, "offset %s is not on a slot", off)
		slots[off]++
	}
	assert.Len(t, slots, int(iv/canary.GridSlot), "every slot used")
	for off, n := range slots {
		assert.LessOrEqual(t, n, 4*1000/len(slots), "slot at %s", off)
	}

	short := canary.GridSlot + canary.GridSlot/2
	var unrounded int
	for i := range 100 {
		off := canary.GridOffset(canary.Target{Namespace: "bench", Name: fmt.Sprintf("podinfo-%d", i)}, short)
		require.True(t, off >= 0 && off < short, "offset %s outside the interval %s", off, short)
		if off%canary.GridSlot != 0 {
			unrounded++
		}
	}
	assert.Equal(t, 100, unrounded, "offsets within an interval shorter than two slots")
}
