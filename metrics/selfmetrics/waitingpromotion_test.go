package selfmetrics_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/canarykit/canarykit/metrics/selfmetrics"
)

// While the confirm-promotion gate is closed (WaitingPromotion) the analysis keeps running,
// and Flagger records each of its ticks as at any other: its duration and its checks
// (flagger_canary_metric_analysis follows the canary until the promotion).
func TestWaitingPromotionTicksAreRecorded(t *testing.T) {
	c := selfmetrics.New(selfmetrics.Options{})
	reg := registry(t, c)
	env := canarytest.NewEnv(podinfo)
	env.Metrics.Set("request-success-rate", canarytest.Constant(99.9))
	env.Metrics.Set("request-duration", canarytest.Constant(120))
	s := spec()
	s.Webhooks = []canary.Webhook{{Name: "promote", Type: canary.HookConfirmPromotion, URL: "http://gate.test/"}}
	env.Gates.Set("promote", canarytest.OpenAfter(5))
	bootstrap(t, env, s, "v1")
	slowQueries(env, time.Second)

	res, _ := release(t, env, s, reg, c.For(podinfo, s))
	require.Equal(t, canary.PhaseSucceeded, res.Phase, res.Reason)
	require.Equal(t, 6, env.Gates.CallsOf("promote"), "closed on 5 ticks at 30 %, open on the 6th")

	// ticks at 10 (no checks), 20, 30, five at 30 waiting for the gate, the promotion's
	d, ok := find(t, reg, "flagger_canary_duration_seconds", lbl("name", "podinfo", "namespace", "test"))
	require.True(t, ok)
	assert.Equal(t, 9.0, d.value, "analysis ticks timed, those waiting for promotion too")
	assert.Equal(t, 8.0, mustValue(t, reg, "canarykit_canary_checks_total", lbl("metric", "request-success-rate", "verdict", "Pass")))
}
