package canary_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/stretchr/testify/require"
)

// seedSpec is the analysis of the podinfo demo Canary (kube/flagger/testdata/canary-002-…): 30s interval, threshold 5,
// max weight 50 by steps of 5, Linkerd's two built-in checks, an acceptance test and a load test.
func seedSpec() canary.Spec {
	return canary.Spec{
		Interval:   30 * time.Second,
		Threshold:  5,
		MaxWeight:  50,
		StepWeight: 5,
		Metrics: []canary.Metric{
			{Name: "request-success-rate", ThresholdRange: canary.AtLeast(99), Interval: time.Minute},
			{Name: "request-duration", ThresholdRange: canary.AtMost(500), Interval: 30 * time.Second},
		},
		Webhooks: []canary.Webhook{
			{Name: "acceptance-test", Type: canary.HookPreRollout, URL: "http://flagger-loadtester.test/", Timeout: 30 * time.Second,
				Metadata: map[string]string{"type": "bash", "cmd": "curl -sd 'test' http://podinfo-canary.test:9898/token | grep token"}},
			{Name: "load-test", Type: canary.HookRollout, URL: "http://flagger-loadtester.test/",
				Metadata: map[string]string{"cmd": "hey -z 2m -q 10 -c 2 http://podinfo-canary.test:9898/"}},
		},
		ProgressDeadline: 60 * time.Second,
	}
}

// healthyEnv returns an Env whose built-in checks pass.
func healthyEnv() *canarytest.Env {
	env := canarytest.NewEnv(canary.Target{})
	env.Metrics.Set("request-success-rate", canarytest.Constant(99.9))
	env.Metrics.Set("request-duration", canarytest.Constant(120))
	return env
}

// bootstrapped returns a Rollout over env whose target is initialized at v0, with a release of
// rev pending.
func bootstrapped(t *testing.T, env *canarytest.Env, spec canary.Spec, rev string) *canary.Rollout {
	t.Helper()
	r, err := env.New(spec)
	require.NoError(t, err)
	res, err := r.Run(context.Background())
	require.NoError(t, err)
	require.False(t, res.Released)
	require.Equal(t, canary.PhaseInitialized, res.Phase)
	env.Workload.SetRevision(rev)
	return r
}

// run runs r to its end with a background context.
func run(t *testing.T, r *canary.Rollout) canary.Result {
	t.Helper()
	res, err := r.Run(context.Background())
	require.NoError(t, err)
	return res
}

// outcome is what Run returned, handed over by the goroutine that ran it.
type outcome struct {
	res canary.Result
	err error
}

// start runs r in a new goroutine and returns the channel its outcome arrives on; the test
// goroutine checks it (no assertion runs on the Run goroutine).
func start(ctx context.Context, r *canary.Rollout) <-chan outcome {
	done := make(chan outcome, 1)
	go func() {
		res, err := r.Run(ctx)
		done <- outcome{res: res, err: err}
	}()
	return done
}

// has reports whether msgs contains want.
func has(msgs []string, want string) bool { return slices.Contains(msgs, want) }

// requireOrder asserts that want appear in msgs in that order (not necessarily adjacent).
func requireOrder(t *testing.T, msgs []string, want ...string) {
	t.Helper()
	i := 0
	for _, m := range msgs {
		if i < len(want) && m == want[i] {
			i++
		}
	}
	if i < len(want) {
		require.Failf(t, "event missing", "missing %q (in order); events:\n%s", want[i], joinLines(msgs))
	}
}

func joinLines(ss []string) string {
	out := ""
	for _, s := range ss {
		out += "  " + s + "\n"
	}
	return out
}

// requireReleased asserts a promotion: primary runs rev, canary down, route all primary.
func requirePromoted(t *testing.T, env *canarytest.Env, res canary.Result, rev string) {
	t.Helper()
	require.Equal(t, canary.PhaseSucceeded, res.Phase, "reason: %s", res.Reason)
	require.True(t, res.Released)
	require.Equal(t, rev, env.Workload.PrimaryRevision())
	require.False(t, env.Workload.CanaryScaledUp())
	w, err := env.Router.Current(env.Target)
	require.NoError(t, err)
	require.Equal(t, canary.AllPrimary(), w)
	st := env.Store.Current(env.Target)
	require.Equal(t, canary.PhaseSucceeded, st.Phase)
	require.Equal(t, rev, st.LastPromotedSpec)
}

// requireRolledBack asserts a rollback: primary untouched at old, canary down, route all primary.
func requireRolledBack(t *testing.T, env *canarytest.Env, res canary.Result, old string) {
	t.Helper()
	require.Equal(t, canary.PhaseFailed, res.Phase, "reason: %s", res.Reason)
	require.True(t, res.Released)
	require.Equal(t, old, env.Workload.PrimaryRevision())
	require.False(t, env.Workload.CanaryScaledUp())
	w, err := env.Router.Current(env.Target)
	require.NoError(t, err)
	require.Equal(t, canary.AllPrimary(), w)
	require.Equal(t, canary.PhaseFailed, env.Store.Current(env.Target).Phase)
}

// savedPhases lists the phase of every status saved.
func savedPhases(env *canarytest.Env) []canary.Phase {
	var out []canary.Phase
	for _, s := range env.Store.Saved() {
		out = append(out, s.Phase)
	}
	return out
}

// rollbackCause returns the cause and hook of the RollingBack event (and checks the Failed
// event that follows says the same).
func rollbackCause(t *testing.T, env *canarytest.Env) (canary.Cause, string) {
	t.Helper()
	var cause canary.Cause
	var hook string
	for _, e := range env.Events.Events() {
		switch e.Reason {
		case canary.ReasonRollingBack:
			cause, hook = e.Cause, e.Hook
		case canary.ReasonFailed:
			require.Equal(t, cause, e.Cause, "Failed carries the RollingBack cause")
		}
	}
	return cause, hook
}
