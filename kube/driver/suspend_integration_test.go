package driver

import (
	"context"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// spec.suspend on a Target: set mid-release, the analysis is paused where it is (its weight
// kept, the pause saved); while it is set a new revision starts no release; cleared, the
// release goes on and promotes, then the revision that came meanwhile is released. A Release
// of a suspended Canary is refused before anything is touched.
func TestSuspendedCanaryIsNotDriven(t *testing.T) {
	b, ctx, _ := newControlBed(t)
	c := b.target(ctx, t, "podinfo")
	ts := b.d.Targets(nil)
	defer ts.StopAll()
	key := b.ns + "/podinfo"
	apply := func(suspended bool) {
		t.Helper()
		e := *c
		e.Suspend = suspended
		_, _, err := ts.Apply(ctx, key, &e)
		require.NoError(t, err)
	}
	apply(false)
	poll(ctx, t, "initialized", func() bool { return b.status(ctx, t, c.Target).Phase == canary.PhaseInitialized })

	b.setImage(ctx, t, "podinfo", "podinfo:2")
	poll(ctx, t, "progressing", func() bool {
		st := b.status(ctx, t, c.Target)
		return st.Phase == canary.PhaseProgressing && st.CanaryWeight >= 20
	})
	apply(true)
	poll(ctx, t, "the pause saved", func() bool { return b.status(ctx, t, c.Target).Paused })
	held := b.status(ctx, t, c.Target)
	time.Sleep(3 * time.Second) // three intervals: a suspended release would have stepped
	now := b.status(ctx, t, c.Target)
	assert.Equal(t, held.CanaryWeight, now.CanaryWeight, "the weight is kept while suspended")
	assert.Equal(t, canary.PhaseProgressing, now.Phase)

	apply(false)
	poll(ctx, t, "promoted", func() bool { return b.status(ctx, t, c.Target).Phase == canary.PhaseSucceeded })
	promoted := b.status(ctx, t, c.Target).LastPromotedSpec

	apply(true)
	b.setImage(ctx, t, "podinfo", "podinfo:3")
	ts.Kick(key)
	time.Sleep(3 * time.Second) // rechecks every 200 ms: an unsuspended target would have started
	now = b.status(ctx, t, c.Target)
	assert.Equal(t, canary.PhaseSucceeded, now.Phase, "no release starts while suspended")
	assert.Equal(t, promoted, now.LastPromotedSpec)

	apply(false)
	poll(ctx, t, "the new revision released", func() bool {
		st := b.status(ctx, t, c.Target)
		return st.Phase == canary.PhaseSucceeded && st.LastPromotedSpec != promoted
	})

	s := *c
	s.Suspend = true
	_, err := b.d.Release(context.Background(), &s, nil)
	require.ErrorIs(t, err, canary.ErrInvalidSpec)
	assert.ErrorContains(t, err, "spec.suspend is true")
}
