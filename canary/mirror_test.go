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

// mirroredSpec is seedSpec with traffic mirroring, by steps of 25 to 50, and a
// confirm-traffic-increase gate.
func mirroredSpec() canary.Spec {
	s := seedSpec()
	s.Mirror, s.StepWeight = true, 25
	s.Webhooks = append(s.Webhooks, canary.Webhook{Name: "more", Type: canary.HookConfirmTrafficIncrease, URL: "http://gate.test/"})
	return s
}

// released returns the route's history after the bootstrap's write of all traffic to the
// primary.
func released(t *testing.T, env *canarytest.Env) []canary.Weights {
	t.Helper()
	h := env.Router.History(env.Target)
	require.NotEmpty(t, h)
	require.Equal(t, canary.AllPrimary(), h[0], "the bootstrap's write")
	return h[1:]
}

// routeAt records the route's weights whenever an event with one of the given reasons is
// emitted.
func routeAt(t *testing.T, env *canarytest.Env, reasons ...canary.Reason) *[]canary.Weights {
	t.Helper()
	var seen []canary.Weights
	env.Events.Then = func(e canary.Event) {
		for _, r := range reasons {
			if e.Reason == r {
				w, err := env.Router.Current(env.Target)
				if err == nil {
					seen = append(seen, w)
				}
			}
		}
	}
	return &seen
}

// A weighted canary with mirroring takes one mirrored step at weight 0 (all traffic on the
// primary, copied to the canary), analysed like any other, then turns the mirror off as it
// takes its first weight, as Flagger's runCanary does; the step that ends the mirroring asks
// no confirm-traffic-increase gate.
func TestMirrorWeightedTakesOneMirroredStepFirst(t *testing.T) {
	env := healthyEnv()
	var weightsQueried []int
	env.Metrics.Set("request-success-rate", func(s canarytest.Sample) float64 {
		weightsQueried = append(weightsQueried, s.Weight)
		return 99.9
	})
	var gateAt []canary.Weights
	env.Gates.Set("more", func(_ int, _ canary.GateRequest) (bool, error) {
		w, _ := env.Router.Current(env.Target)
		gateAt = append(gateAt, w)
		return true, nil
	})
	r := bootstrapped(t, env, mirroredSpec(), "v1")
	assert.Equal(t, 100, r.Target().Mirror, "mirrorWeight 0 mirrors every request")
	res := run(t, r)

	requirePromoted(t, env, res, "v1")
	assert.Equal(t, []canary.Weights{
		canary.MirrorToCanary(), canary.CanaryWeight(25), canary.CanaryWeight(50), canary.AllPrimary(),
	}, released(t, env))
	assert.Equal(t, []int{0, 25, 50, 0}, res.Weights)
	assert.Equal(t, []int{0, 25, 50}, weightsQueried, "the mirrored step is analysed, once")
	assert.Equal(t, []canary.Weights{canary.AllPrimary(), canary.CanaryWeight(25)}, gateAt,
		"the gate is asked before the mirrored step and before 25 → 50, not when the mirror ends")
	assert.Equal(t, 1, env.Gates.CallsOf("acceptance-test"), "pre-rollout hooks run once, before the mirrored step")
	requireOrder(t, env.Events.Messages(),
		"Starting canary analysis for podinfo.test",
		"Pre-rollout check acceptance-test passed",
		"Advance podinfo.test canary weight 0",
		"Advance podinfo.test canary weight 25",
		"Advance podinfo.test canary weight 50",
		"Routing all traffic to primary")
	n := 0
	for _, m := range env.Events.Messages() {
		if m == "Starting canary analysis for podinfo.test" {
			n++
		}
	}
	assert.Equal(t, 1, n, "the mirrored step is not a new start")
}

// mirrorWeight reaches the router as the target's Mirror.
func TestMirrorWeightIsTheTargetsMirror(t *testing.T) {
	env := healthyEnv()
	spec := mirroredSpec()
	spec.MirrorWeight = 30
	r, err := env.New(spec)
	require.NoError(t, err)
	assert.Equal(t, 30, r.Target().Mirror)
	r, err = env.New(seedSpec())
	require.NoError(t, err)
	assert.Zero(t, r.Target().Mirror, "no mirroring")
}

// Blue/green with mirroring mirrors during every iteration and stops at the switch of all
// traffic to the canary, with Flagger's messages.
func TestMirrorBlueGreenMirrorsEveryIteration(t *testing.T) {
	env := healthyEnv()
	spec := seedSpec()
	spec.StepWeight, spec.MaxWeight, spec.Iterations, spec.Mirror = 0, 0, 3, true
	r := bootstrapped(t, env, spec, "v1")
	seen := routeAt(t, env, canary.ReasonAdvanced)
	res := run(t, r)

	requirePromoted(t, env, res, "v1")
	assert.Equal(t, []canary.Weights{canary.MirrorToCanary(), canary.AllCanary(), canary.AllPrimary()}, released(t, env))
	assert.Equal(t, []canary.Weights{
		canary.MirrorToCanary(),                                                   // Start traffic mirroring
		canary.MirrorToCanary(), canary.MirrorToCanary(), canary.MirrorToCanary(), // iterations 1..3
		canary.MirrorToCanary(), // announced before the switch
	}, *seen)
	requireOrder(t, env.Events.Messages(),
		"Starting canary analysis for podinfo.test",
		"Start traffic mirroring",
		"Advance podinfo.test canary iteration 1/3",
		"Advance podinfo.test canary iteration 3/3",
		"Stop traffic mirroring and route all traffic to canary",
		"Copying podinfo.test template spec to podinfo-primary.test",
		"Routing all traffic to primary")
	assert.NotContains(t, env.Events.Messages(), "Routing all traffic to canary")
}

// A rollback never leaves a mirror to the failed canary: all traffic to the primary, no mirror.
func TestMirrorRollbackClearsTheMirror(t *testing.T) {
	blueGreen := seedSpec()
	blueGreen.StepWeight, blueGreen.MaxWeight, blueGreen.Iterations, blueGreen.Mirror = 0, 0, 3, true
	for name, spec := range map[string]canary.Spec{"weighted": mirroredSpec(), "blue/green": blueGreen} {
		t.Run(name, func(t *testing.T) {
			env := healthyEnv()
			env.Metrics.Set("request-success-rate", canarytest.Constant(90))
			res := run(t, bootstrapped(t, env, spec, "v1"))

			requireRolledBack(t, env, res, "v0")
			h := released(t, env)
			require.GreaterOrEqual(t, len(h), 2)
			assert.Equal(t, canary.MirrorToCanary(), h[0], "the failing checks ran on the mirrored step")
			assert.Equal(t, canary.AllPrimary(), h[len(h)-1])
			assert.Equal(t, "failed checks threshold reached 5", res.Reason)
		})
	}
}

// An abort during the mirrored step, and a new revision, both take the mirror off.
func TestMirrorAbortAndRestartClearTheMirror(t *testing.T) {
	env := healthyEnv()
	r := bootstrapped(t, env, mirroredSpec(), "v1")
	env.Events.Then = func(e canary.Event) {
		if e.Message == "Advance podinfo.test canary weight 0" {
			env.Workload.SetRevision("v2")
		}
	}
	res := run(t, r)
	requirePromoted(t, env, res, "v2")
	h := released(t, env)
	require.GreaterOrEqual(t, len(h), 3)
	assert.Equal(t, []canary.Weights{canary.MirrorToCanary(), canary.AllPrimary(), canary.MirrorToCanary()}, h[:3],
		"the new revision restarts at all-primary, unmirrored, then mirrors again")

	env = healthyEnv()
	r = bootstrapped(t, env, mirroredSpec(), "v1")
	env.Events.Then = func(e canary.Event) {
		if e.Message == "Advance podinfo.test canary weight 0" {
			r.Abort()
		}
	}
	res = run(t, r)
	requireRolledBack(t, env, res, "v0")
	assert.Equal(t, []canary.Weights{canary.MirrorToCanary(), canary.AllPrimary()}, released(t, env))
	assert.Equal(t, canary.MirrorToCanary(), rollingBackWeights(t, env), "the event says where the canary failed")
}

func rollingBackWeights(t *testing.T, env *canarytest.Env) canary.Weights {
	t.Helper()
	for _, e := range env.Events.Events() {
		if e.Reason == canary.ReasonRollingBack {
			return e.Weights
		}
	}
	require.Fail(t, "no RollingBack event")
	return canary.Weights{}
}

// A process that stops during the mirrored step is followed by one that reads the mirror back
// from the route and continues: the mirrored step is analysed and left for the first weight,
// with no second start (pre-rollout hooks) and no second mirrored step.
func TestMirrorResumesInTheMirroredStep(t *testing.T) {
	env := healthyEnv()
	r := bootstrapped(t, env, mirroredSpec(), "v1")
	ctx, cancel := context.WithCancel(context.Background())
	env.Events.Then = func(e canary.Event) {
		if e.Message == "Advance podinfo.test canary weight 0" {
			cancel()
		}
	}
	_, err := r.Run(ctx)
	require.ErrorIs(t, err, context.Canceled)
	w, err := env.Router.Current(env.Target)
	require.NoError(t, err)
	require.Equal(t, canary.MirrorToCanary(), w)
	env.Events.Then = nil
	before := len(env.Events.Messages())
	preRollout := env.Gates.CallsOf("acceptance-test")

	r2, err := env.New(mirroredSpec())
	require.NoError(t, err)
	res := run(t, r2)
	requirePromoted(t, env, res, "v1")
	assert.Equal(t, []int{25, 50, 0}, res.Weights, "the resumed release steps off the mirror to the first weight")
	assert.Equal(t, preRollout, env.Gates.CallsOf("acceptance-test"), "no second start")
	after := env.Events.Messages()[before:]
	assert.NotContains(t, after, "Starting canary analysis for podinfo.test")
	assert.NotContains(t, after, "Advance podinfo.test canary weight 0")
}

// Where the driving process dies does not change a mirrored release's outcome or steps.
func TestMirrorResumeAfterCrashAtEveryCall(t *testing.T) {
	blueGreen := func() canary.Spec {
		s := seedSpec()
		s.StepWeight, s.MaxWeight, s.Iterations, s.Mirror, s.MirrorWeight = 0, 0, 3, true, 50
		return s
	}
	for _, sc := range []resumeScenario{
		{"weighted with a mirrored step", mirroredSpec, func(*canarytest.Env) {}, canary.PhaseSucceeded, 0},
		{"weighted rolled back in the mirrored step", mirroredSpec, func(*canarytest.Env) {}, canary.PhaseFailed, 90},
		{"blue/green mirrored", blueGreen, func(*canarytest.Env) {}, canary.PhaseSucceeded, 0},
	} {
		t.Run(sc.name, func(t *testing.T) { resumeAfterCrashAtEveryCall(t, sc) })
	}
}

// A router that cannot mirror ends the release before anything is routed.
func TestMirrorWithARouterThatCannotMirror(t *testing.T) {
	env := healthyEnv()
	env.Router.NoMirror = true
	r, err := env.New(mirroredSpec())
	require.NoError(t, err)
	_, err = r.Run(context.Background())
	require.ErrorIs(t, err, canary.ErrMirrorUnsupported)
	var re *canary.RolloutError
	require.True(t, errors.As(err, &re))
	assert.Equal(t, "reconcile route", re.Op)
	assert.Empty(t, env.Router.History(env.Target))
}

func TestMirrorSpecValidation(t *testing.T) {
	match := []canary.Match{{Headers: map[string]canary.StringMatch{"x-canary": {Exact: "insider"}}}}
	cases := map[string]struct {
		edit func(*canary.Spec)
		want []string
	}{
		"mirrorWeight above 100": {func(s *canary.Spec) { s.Mirror, s.MirrorWeight = true, 101 },
			[]string{"analysis.mirrorWeight: must be 0..100 (percent of the requests mirrored; 0: all), got 101"}},
		"mirrorWeight below 0": {func(s *canary.Spec) { s.Mirror, s.MirrorWeight = true, -1 },
			[]string{"analysis.mirrorWeight: must be 0..100 (percent of the requests mirrored; 0: all), got -1"}},
		"mirrorWeight without mirror": {func(s *canary.Spec) { s.MirrorWeight = 10 },
			[]string{"analysis.mirrorWeight: only with analysis.mirror: true"}},
		"mirror with A/B testing": {func(s *canary.Spec) {
			s.StepWeight, s.MaxWeight, s.Iterations, s.Match, s.Mirror = 0, 0, 2, match, true
		},
			[]string{"analysis.mirror: not with A/B testing (analysis.match): matching requests go to the canary itself, and Flagger mirrors none"}},
		"bounds": {func(s *canary.Spec) { s.Mirror, s.MirrorWeight = true, 100 }, nil},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s := seedSpec()
			c.edit(&s)
			err := s.Validate()
			if c.want == nil {
				require.NoError(t, err)
				return
			}
			var ve *canary.ValidationError
			require.True(t, errors.As(err, &ve), "%v", err)
			var got []string
			for _, p := range ve.Problems {
				got = append(got, p.Error())
			}
			assert.Equal(t, c.want, got)
		})
	}
	env := healthyEnv()
	cfg := env.Config(seedSpec())
	cfg.Target.Mirror = 100
	_, err := canary.New(cfg)
	require.ErrorIs(t, err, canary.ErrInvalidSpec)
	assert.Contains(t, err.Error(), "target.mirror: set analysis.mirror instead")
}

func TestMirroredWeightsValidation(t *testing.T) {
	assert.NoError(t, canary.MirrorToCanary().Validate())
	assert.ErrorIs(t, canary.Weights{Primary: 90, Canary: 10, Mirrored: true}.Validate(), canary.ErrInvalidWeights)
	tg := canary.Target{Namespace: "test", Name: "podinfo"}
	assert.ErrorIs(t, canary.MirrorToCanary().ValidateFor(tg), canary.ErrInvalidWeights, "the target does not mirror")
	tg.Mirror = 50
	assert.NoError(t, canary.MirrorToCanary().ValidateFor(tg))
	assert.NoError(t, canary.AllPrimary().ValidateFor(tg))
	assert.Equal(t, "primary=100 canary=0 mirrored", canary.MirrorToCanary().String())
}

// A router that only switches all traffic (the Kubernetes Services) cannot mirror: New refuses
// the spec before anything is touched.
func TestMirrorWithASwitchingRouter(t *testing.T) {
	env := healthyEnv()
	spec := seedSpec()
	spec.StepWeight, spec.MaxWeight, spec.Iterations, spec.Mirror = 0, 0, 3, true
	cfg := env.Config(spec)
	cfg.Router = switchingRouter{env.Router}
	_, err := canary.New(cfg)
	require.ErrorIs(t, err, canary.ErrInvalidSpec)
	assert.ErrorContains(t, err, "analysis.mirror: config.Router switches all traffic at once and cannot copy requests to the canary (route cannot mirror requests)")
}
