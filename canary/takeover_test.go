package canary_test

import (
	"context"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A status another controller wrote (Flagger's, whose lastAppliedSpec and lastPromotedSpec are
// its own hashes, never a Workload's revision) over a primary that runs the target's revision:
// nothing is released, and the status records the revision as promoted from then on. A new
// revision is released as usual.
func TestPrimaryRunningTheTargetIsNotReleasedAgain(t *testing.T) {
	for _, phase := range []canary.Phase{canary.PhaseInitialized, canary.PhaseSucceeded, canary.PhaseFailed} {
		t.Run(string(phase), func(t *testing.T) {
			ctx := context.Background()
			env := healthyEnv()
			spec := seedSpec()
			bootstrapped(t, env, spec, "v0")
			st := env.Store.Current(env.Target)
			st.Phase, st.LastAppliedSpec, st.LastPromotedSpec = phase, "5d8f7c9b4d", "5d8f7c9b4d"
			_, err := env.Store.Save(ctx, env.Target, st)
			require.NoError(t, err)

			r, err := env.New(spec)
			require.NoError(t, err)
			res := run(t, r)
			assert.False(t, res.Released)
			assert.Equal(t, canary.CauseNothingToRelease, res.Cause)
			assert.Equal(t, phase, res.Phase)
			assert.False(t, env.Workload.CanaryScaledUp())
			got := env.Store.Current(env.Target)
			assert.Equal(t, "v0", got.LastPromotedSpec)
			if phase == canary.PhaseFailed {
				assert.Equal(t, "5d8f7c9b4d", got.LastAppliedSpec, "the failed revision is kept")
			} else {
				assert.Equal(t, "v0", got.LastAppliedSpec)
			}
			w, err := env.Router.Current(env.Target)
			require.NoError(t, err)
			assert.Equal(t, canary.AllPrimary(), w)

			env.Workload.SetRevision("v1")
			r, err = env.New(spec)
			require.NoError(t, err)
			requirePromoted(t, env, run(t, r), "v1")
		})
	}
}

// Under a status of another controller, a target changed before the switch is released; set
// back to the primary's revision during the analysis, it is rolled back as a revert, as it
// would be to the promoted revision of canarykit's own status.
func TestRevertToThePrimaryUnderAForeignStatus(t *testing.T) {
	ctx := context.Background()
	env := healthyEnv()
	spec := seedSpec()
	bootstrapped(t, env, spec, "v1")
	st := env.Store.Current(env.Target)
	st.Phase, st.LastAppliedSpec, st.LastPromotedSpec = canary.PhaseSucceeded, "5d8f7c9b4d", "5d8f7c9b4d"
	_, err := env.Store.Save(ctx, env.Target, st)
	require.NoError(t, err)
	env.Events.Then = func(e canary.Event) {
		if e.Reason == canary.ReasonAdvanced && e.Weights.Canary == 10 {
			env.Workload.SetRevision("v0")
		}
	}
	r, err := env.New(spec)
	require.NoError(t, err)
	res := run(t, r)
	assert.True(t, res.Released)
	assert.Equal(t, canary.PhaseFailed, res.Phase)
	assert.Equal(t, canary.CauseReverted, res.Cause)
	assert.Equal(t, "v0", env.Workload.PrimaryRevision())
}
