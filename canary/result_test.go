package canary_test

import (
	"context"
	"errors"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every way a release ends is told by Result.Cause, and a rolled-back Result says what the
// Failed event says.
func TestResultCause(t *testing.T) {
	rollbackHook := canary.Webhook{Name: "abort", Type: canary.HookRollback, URL: "http://gate.test/abort"}
	approval := canary.Webhook{Name: "approve", Type: canary.HookConfirmRollout, URL: "http://gate.test/approve"}
	cases := []struct {
		name  string
		spec  func(canary.Spec) canary.Spec
		setup func(env *canarytest.Env, r *canary.Rollout)
		phase canary.Phase
		cause canary.Cause
	}{
		{name: "promoted", phase: canary.PhaseSucceeded, cause: canary.CausePromoted},
		{
			name:  "promoted without analysis",
			spec:  func(s canary.Spec) canary.Spec { s.SkipAnalysis = true; return s },
			phase: canary.PhaseSucceeded, cause: canary.CauseAnalysisSkipped,
		},
		{
			name: "failed checks reach the threshold",
			setup: func(env *canarytest.Env, _ *canary.Rollout) {
				env.Metrics.Set("request-success-rate", canarytest.Constant(50))
			},
			phase: canary.PhaseFailed, cause: canary.CauseThreshold,
		},
		{
			name: "failing pre-rollout hook reaches the threshold",
			spec: func(s canary.Spec) canary.Spec {
				s.Webhooks[0].Name = "smoke"
				return s
			},
			setup: func(env *canarytest.Env, _ *canary.Rollout) {
				env.Gates.Set("smoke", canarytest.Fail(errors.New("exit status 1")))
			},
			phase: canary.PhaseFailed, cause: canary.CauseThreshold,
		},
		{
			name: "rollback hook",
			spec: func(s canary.Spec) canary.Spec { s.Webhooks = append(s.Webhooks, rollbackHook); return s },
			setup: func(env *canarytest.Env, _ *canary.Rollout) {
				env.Gates.Set("abort", canarytest.Answers(false, true))
			},
			phase: canary.PhaseFailed, cause: canary.CauseRollbackHook,
		},
		{
			name: "progress deadline",
			setup: func(env *canarytest.Env, _ *canary.Rollout) {
				env.Workload.SetCanaryHealth(canarytest.Health{Never: true})
			},
			phase: canary.PhaseFailed, cause: canary.CauseProgressDeadline,
		},
		{
			name: "abort",
			setup: func(env *canarytest.Env, r *canary.Rollout) {
				env.Events.Then = func(e canary.Event) {
					if e.Message == "Advance podinfo.test canary weight 10" {
						r.Abort()
					}
				}
			},
			phase: canary.PhaseFailed, cause: canary.CauseAborted,
		},
		{
			name: "target reverted during the analysis",
			setup: func(env *canarytest.Env, _ *canary.Rollout) {
				env.Events.Then = func(e canary.Event) {
					if e.Message == "Advance podinfo.test canary weight 10" {
						env.Workload.SetRevision("v0")
					}
				}
			},
			phase: canary.PhaseFailed, cause: canary.CauseReverted,
		},
		{
			name: "target reverted while waiting for approval",
			spec: func(s canary.Spec) canary.Spec { s.Webhooks = append(s.Webhooks, approval); return s },
			setup: func(env *canarytest.Env, _ *canary.Rollout) {
				env.Gates.Set("approve", canarytest.Closed())
				env.Events.Then = func(e canary.Event) {
					if e.Reason == canary.ReasonWaiting {
						env.Workload.SetRevision("v0")
					}
				}
			},
			phase: canary.PhaseInitialized, cause: canary.CauseReverted,
		},
		{
			name: "primary not ready with the promoted revision",
			setup: func(env *canarytest.Env, _ *canary.Rollout) {
				env.Events.Then = func(e canary.Event) {
					if e.Reason == canary.ReasonPromoting {
						env.Workload.SetPrimaryHealth(canarytest.Health{Fail: true})
					}
				}
			},
			phase: canary.PhaseFailed, cause: canary.CausePromotionFailed,
		},
		{
			name:  "nothing to release",
			setup: func(env *canarytest.Env, _ *canary.Rollout) { env.Workload.SetRevision("v0") },
			phase: canary.PhaseInitialized, cause: canary.CauseNothingToRelease,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := healthyEnv()
			spec := seedSpec()
			if c.spec != nil {
				spec = c.spec(spec)
			}
			r := bootstrapped(t, env, spec, "v1")
			if c.setup != nil {
				c.setup(env, r)
			}
			res := run(t, r)
			require.Equal(t, c.phase, res.Phase, "reason: %s", res.Reason)
			assert.Equal(t, c.cause, res.Cause, "reason: %s", res.Reason)
			if c.phase == canary.PhaseFailed {
				var failed []canary.Cause
				for _, e := range env.Events.Events() {
					if e.Reason == canary.ReasonFailed {
						failed = append(failed, e.Cause)
					}
				}
				assert.Equal(t, []canary.Cause{c.cause}, failed, "the Failed event has the Result's cause")
			}
		})
	}
}

// The first Run of a target has nothing to release; a Run that stops on an error has no cause.
func TestResultCauseOfBootstrapAndErrors(t *testing.T) {
	env := healthyEnv()
	r, err := env.New(seedSpec())
	require.NoError(t, err)
	res, err := r.Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, canary.CauseNothingToRelease, res.Cause)

	env.Workload.SetRevision("v1")
	env.Events.Then = func(e canary.Event) {
		if e.Message == "Advance podinfo.test canary weight 10" {
			env.Router.Calls.FailNext("SetWeights", 1, canary.Permanent(errors.New("forbidden")))
		}
	}
	res, err = r.Run(context.Background())
	require.ErrorContains(t, err, "forbidden")
	assert.Empty(t, res.Cause)
	assert.Equal(t, canary.PhaseProgressing, res.Phase)
}

// A rollback resumed by a new Rollout (the last one stopped half-way) reports the cause saved
// when it started, in its events and its Result.
func TestResumedRollbackKeepsItsCause(t *testing.T) {
	env := healthyEnv()
	r := bootstrapped(t, env, seedSpec(), "v1")
	env.Events.Then = func(e canary.Event) {
		switch {
		case e.Message == "Advance podinfo.test canary weight 15":
			r.Abort()
		case e.Reason == canary.ReasonRollingBack:
			// the process dies before the canary is scaled down
			env.Workload.Calls.FailNext("ScaleDown", 1, canary.Permanent(errors.New("node gone")))
		}
	}
	_, err := r.Run(context.Background())
	require.ErrorContains(t, err, "node gone")
	st := env.Store.Current(env.Target)
	require.True(t, st.RollingBack)
	assert.Equal(t, canary.CauseAborted, st.Cause)

	env.Events.Then = nil
	env.Events = &canarytest.Recorder{}
	r2, err := env.New(seedSpec())
	require.NoError(t, err)
	res := run(t, r2)
	requireRolledBack(t, env, res, "v0")
	assert.Equal(t, canary.CauseAborted, res.Cause)
	cause, _ := rollbackCause(t, env)
	assert.Equal(t, canary.CauseAborted, cause)
}
