package canary_test

import (
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/stretchr/testify/assert"
)

// As Flagger's runBlueGreen: once a closed confirm-promotion gate has made a blue/green release
// WaitingPromotion, the switch of all traffic to the canary keeps that phase (only the
// iterations change); the release goes on to Promoting, never back to Progressing.
func TestBlueGreenSwitchKeepsWaitingPromotion(t *testing.T) {
	env := healthyEnv()
	spec := seedSpec()
	spec.StepWeight, spec.MaxWeight, spec.Iterations = 0, 0, 2
	spec.Webhooks = []canary.Webhook{hook("promote", canary.HookConfirmPromotion)}
	env.Gates.Set("promote", canarytest.OpenAfter(1))
	r := bootstrapped(t, env, spec, "v1")
	res := run(t, r)
	requirePromoted(t, env, res, "v1")

	var after []canary.Phase // the phases saved from WaitingPromotion on
	var switched canary.Status
	for _, s := range env.Store.Saved() {
		if len(after) == 0 && s.Phase != canary.PhaseWaitingPromotion {
			continue
		}
		after = append(after, s.Phase)
		if s.Iterations == spec.Iterations+1 && switched.Phase == "" {
			switched = s
		}
	}
	assert.NotContains(t, after, canary.PhaseProgressing, "saved from WaitingPromotion on: %v", after)
	assert.Equal(t, canary.PhaseWaitingPromotion, switched.Phase, "the switch to the canary is saved in WaitingPromotion")
	assert.Equal(t, 100, switched.CanaryWeight)
	assert.Contains(t, after, canary.PhasePromoting)
}
