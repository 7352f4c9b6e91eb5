package canary_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
)

// namedEnv is healthyEnv with a Canary named apart from its target: Flagger's events name the
// target workload (spec.targetRef.name) in some messages and the Canary in others.
func namedEnv() *canarytest.Env {
	env := canarytest.NewEnv(canary.Target{Namespace: "test", Name: "podinfo", Canary: "frontend"})
	env.Metrics.Set("request-success-rate", canarytest.Constant(99.9))
	env.Metrics.Set("request-duration", canarytest.Constant(120))
	return env
}

func TestEventsNameTheTargetWhereFlaggerDoes(t *testing.T) {
	env := namedEnv()
	spec := seedSpec()
	spec.MaxWeight, spec.StepWeight = 10, 5
	r := bootstrapped(t, env, spec, "3.1.1")
	res := run(t, r)
	require.Equal(t, canary.PhaseSucceeded, res.Phase, res.Reason)
	requireOrder(t, env.Events.Messages(),
		"Initialization done! frontend.test",
		"New revision detected! Scaling up podinfo.test",
		"Starting canary analysis for podinfo.test",
		"Advance frontend.test canary weight 5",
		"Advance frontend.test canary weight 10",
		"Copying podinfo.test template spec to podinfo-primary.test",
		"Promotion completed! Scaling down podinfo.test")
}

func TestSkippedAnalysisEventNamesTheTarget(t *testing.T) {
	env := namedEnv()
	spec := seedSpec()
	spec.SkipAnalysis = true
	r := bootstrapped(t, env, spec, "3.1.1")
	res := run(t, r)
	require.Equal(t, canary.PhaseSucceeded, res.Phase, res.Reason)
	requireOrder(t, env.Events.Messages(),
		"New revision detected! Scaling up podinfo.test",
		"Copying podinfo.test template spec to podinfo-primary.test",
		"Promotion completed! Canary analysis was skipped for podinfo.test")
}

func TestRestartEventNamesTheTarget(t *testing.T) {
	env := namedEnv()
	spec := seedSpec()
	r := bootstrapped(t, env, spec, "3.1.1")
	env.Events.Then = func(e canary.Event) {
		if e.Message == "Advance frontend.test canary weight 10" {
			env.Workload.SetRevision("3.1.2")
		}
	}
	res := run(t, r)
	require.Equal(t, canary.PhaseSucceeded, res.Phase, res.Reason)
	requireOrder(t, env.Events.Messages(),
		"New revision detected! Restarting analysis for podinfo.test",
		"Starting canary analysis for podinfo.test")
}

func TestNoDataEventNamesTheTarget(t *testing.T) {
	env := namedEnv()
	spec := seedSpec()
	env.Metrics.Set("request-success-rate", canarytest.NoData())
	res := run(t, bootstrapped(t, env, spec, "3.1.1"))
	require.Equal(t, canary.PhaseFailed, res.Phase, res.Reason)
	var halts []string
	for _, e := range env.Events.Events() {
		if e.Check == "request-success-rate" {
			halts = append(halts, e.Message)
		}
	}
	require.NotEmpty(t, halts)
	for _, m := range halts {
		require.Contains(t, m, "Halt advancement no values found for metric request-success-rate probably podinfo.test is not receiving traffic")
	}
}
