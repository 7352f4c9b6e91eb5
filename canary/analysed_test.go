package canary_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
)

// While the confirm-promotion gate stays closed, each further analysis tick that passes emits
// one Analysed event carrying its checks (what self-metrics record of a tick), which event
// hooks do not receive: Flagger records nothing on those ticks.
func TestWaitingPromotionTicksEmitAnalysed(t *testing.T) {
	env := healthyEnv()
	spec := seedSpec()
	spec.Webhooks = append(spec.Webhooks,
		canary.Webhook{Name: "promote", Type: canary.HookConfirmPromotion, URL: "http://gate.test/"},
		canary.Webhook{Name: "audit", Type: canary.HookEvent, URL: "http://audit.test/"})
	env.Gates.Set("promote", canarytest.OpenAfter(3))
	res := run(t, bootstrapped(t, env, spec, "v1"))
	require.Equal(t, canary.PhaseSucceeded, res.Phase, res.Reason)

	assert.Equal(t, 1, env.Events.Count(canary.ReasonWaiting), "the wait is announced once")
	var analysed []canary.Event
	for _, e := range env.Events.Events() {
		if e.Reason == canary.ReasonAnalysed {
			analysed = append(analysed, e)
		}
	}
	require.Len(t, analysed, 2, "the closed gate's second and third ticks")
	for _, e := range analysed {
		assert.Equal(t, canary.PhaseWaitingPromotion, e.Phase)
		assert.Equal(t, canary.EventNormal, e.Type)
		assert.Equal(t, "promote", e.Hook)
		assert.Len(t, e.Checks, 2)
		assert.False(t, e.TickStarted.IsZero())
	}
	for _, req := range env.Gates.Requests() {
		if req.Hook.Name == "audit" {
			require.NotNil(t, req.Event)
			assert.NotEqual(t, canary.ReasonAnalysed, req.Event.Reason, "not sent to event hooks")
		}
	}
}
