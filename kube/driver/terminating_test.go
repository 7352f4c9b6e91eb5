package driver

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
)

// A Canary deleted with spec.revertOnDeletion shows phase Terminating while its target is
// handed back, as Flagger's finalizer writes it: canaryWeight and iterations 0, the Promoted
// condition Unknown with reason Terminating, the revisions kept.
func TestTerminatingPhase(t *testing.T) {
	ctx := context.Background()
	b := newStoreBed()
	s, _ := b.store(t, "a")
	st, err := s.Load(ctx, b.target)
	require.NoError(t, err)
	st = canary.Status{Phase: canary.PhaseSucceeded, Iterations: 3, FailedChecks: 1, LastAppliedSpec: "rev-2",
		LastPromotedSpec: "rev-2", LastTransitionTime: b.clock.Now(), Version: st.Version}
	_, err = s.Save(ctx, b.target, st)
	require.NoError(t, err)

	b.clock.Step(time.Minute)
	require.NoError(t, s.terminating(ctx))
	fs, err := decodeStatus(b.canaries.obj.Object)
	require.NoError(t, err)
	assert.Equal(t, PhaseTerminating, fs.Phase)
	assert.Zero(t, fs.CanaryWeight)
	assert.Zero(t, fs.Iterations)
	assert.Equal(t, 1, fs.FailedChecks)
	assert.Equal(t, "rev-2", fs.LastAppliedSpec)
	assert.Equal(t, "rev-2", fs.LastPromotedSpec)
	assert.True(t, fs.LastTransitionTime.Equal(b.clock.Now()))
	p := conditionOf(b.canaries.obj, ConditionPromoted)
	assert.Equal(t, "Unknown", p.Status)
	assert.Equal(t, "Terminating", p.Reason)
	assert.Equal(t, "New Deployment detected, starting initialization.", p.Message)
	assert.Empty(t, conditionOf(b.canaries.obj, ConditionReconciling).Type)

	updates := b.canaries.updates
	require.NoError(t, s.terminating(ctx))
	assert.Equal(t, updates, b.canaries.updates, "a Canary Terminating already is not written again")

	b.canaries.obj = nil // gone meanwhile
	require.NoError(t, s.terminating(ctx))
}

// Without Options.CanaryStatus the status is in the Lease: nothing is written on the Canary.
func TestTerminatingOnlyWithCanaryStatus(t *testing.T) {
	d := &Driver{}
	require.NoError(t, d.markTerminating(context.Background(), nil, nil, nil))
}
