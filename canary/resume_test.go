package canary_test

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// resumeScenario is a release whose outcome must not depend on where the driving process died.
type resumeScenario struct {
	name        string
	spec        func() canary.Spec
	setup       func(env *canarytest.Env)
	phase       canary.Phase
	successRate float64 // the canary's request-success-rate (99.9 when zero)
}

// tickCounter drives request-success-rate and counts the analysis ticks at each route weight
// (every tick queries it once). Its lock: the query runs beside the tick's other checks.
type tickCounter struct {
	mu         sync.Mutex
	perWeight  map[int]int
	lastWeight int
}

// last returns the weight of the latest tick counted.
func (tc *tickCounter) last() int {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.lastWeight
}

func countTicks(env *canarytest.Env, successRate float64) *tickCounter {
	if successRate == 0 {
		successRate = 99.9
	}
	tc := &tickCounter{perWeight: map[int]int{}, lastWeight: -1}
	env.Metrics.Set("request-success-rate", func(s canarytest.Sample) float64 {
		tc.mu.Lock()
		defer tc.mu.Unlock()
		tc.perWeight[s.Weight]++
		tc.lastWeight = s.Weight
		return successRate
	})
	return tc
}

func resumeScenarios() []resumeScenario {
	withGate := func() canary.Spec {
		s := seedSpec()
		s.StepWeight, s.StepWeightPromotion = 25, 25
		s.Webhooks = append(s.Webhooks, canary.Webhook{Name: "promote", Type: canary.HookConfirmPromotion, URL: "http://gate.test/"})
		return s
	}
	blueGreen := func() canary.Spec {
		s := seedSpec()
		s.StepWeight, s.MaxWeight, s.Iterations = 0, 0, 3
		return s
	}
	abTest := func() canary.Spec {
		s := blueGreen()
		s.Match = []canary.Match{{Headers: map[string]canary.StringMatch{"x-user": {Exact: "insider"}}}}
		return s
	}
	affinity := func() canary.Spec {
		s := withGate()
		s.SessionAffinity = &canary.SessionAffinity{CookieName: "canary", PrimaryCookieName: "primary"}
		return s
	}
	return []resumeScenario{
		{"session affinity promotion", affinity, func(env *canarytest.Env) { env.Gates.Set("promote", canarytest.OpenAfter(2)) }, canary.PhaseSucceeded, 0},
		{"session affinity rollback", affinity, func(*canarytest.Env) {}, canary.PhaseFailed, 90},
		{"weighted promotion", seedSpec, func(*canarytest.Env) {}, canary.PhaseSucceeded, 0},
		{"weighted rollback", seedSpec, func(*canarytest.Env) {}, canary.PhaseFailed, 90},
		{"gated promotion with gradual shift back", withGate, func(env *canarytest.Env) {
			// the gate opens from its third call on, however many processes asked
			env.Gates.Set("promote", canarytest.OpenAfter(2))
		}, canary.PhaseSucceeded, 0},
		{"blue/green", blueGreen, func(*canarytest.Env) {}, canary.PhaseSucceeded, 0},
		{"A/B testing", abTest, func(*canarytest.Env) {}, canary.PhaseSucceeded, 0},
		{"rollback by the progress deadline", seedSpec, func(env *canarytest.Env) {
			env.Workload.SetCanaryHealth(canarytest.Health{Never: true})
		}, canary.PhaseFailed, 0},
	}
}

// TestResumeAfterCrashAtEveryCall kills the driving process just before each adapter call of
// a release in turn (the call never happens), starts a new Rollout over the same cluster state
// (store, route, workload) and checks that the release ends exactly as an uninterrupted one:
// same phase, same primary, same route history, canary scaled down, no step repeated.
func TestResumeAfterCrashAtEveryCall(t *testing.T) {
	for _, sc := range resumeScenarios() {
		t.Run(sc.name, func(t *testing.T) { resumeAfterCrashAtEveryCall(t, sc) })
	}
}

// resumeAfterCrashAtEveryCall runs one scenario of TestResumeAfterCrashAtEveryCall.
func resumeAfterCrashAtEveryCall(t *testing.T, sc resumeScenario) {
	{
		{
			ref := healthyEnv()
			sc.setup(ref)
			refTicks := countTicks(ref, sc.successRate).perWeight
			r := bootstrapped(t, ref, sc.spec(), "v1")
			ref.ResetCalls()
			refRes := run(t, r)
			require.Equal(t, sc.phase, refRes.Phase, refRes.Reason)
			calls := 0
			for _, n := range ref.Calls() {
				calls += n
			}
			refRoute := dedupe(ref.Router.History(ref.Target))

			for k := 1; k <= calls; k++ {
				t.Run(fmt.Sprintf("crash before call %d", k), func(t *testing.T) {
					env := healthyEnv()
					sc.setup(env)
					ticks := countTicks(env, sc.successRate)
					r := bootstrapped(t, env, sc.spec(), "v1")
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					n, crashedAt := 0, ""
					env.OnCall(func(call string) {
						if n++; n == k {
							crashedAt = call
							cancel()
						}
					})
					_, err := r.Run(ctx)
					require.ErrorIs(t, err, context.Canceled, "crash at %s", crashedAt)
					// the weight of the tick the crash interrupted, if it counted one: a query
					// of the tick that ran beside the one that crashed may have
					interrupted := ticks.last()
					env.OnCall(func(string) {})

					// a new process: a new Rollout over the same state
					r2, err := env.New(sc.spec())
					require.NoError(t, err)
					res := run(t, r2)
					require.Equal(t, sc.phase, res.Phase, "crashed before %s: %s", crashedAt, res.Reason)
					assert.Equal(t, refRes.Reason, res.Reason)
					if sc.phase == canary.PhaseSucceeded {
						requirePromoted(t, env, res, "v1")
					} else {
						requireRolledBack(t, env, res, "v0")
					}
					assert.Equal(t, refRoute, dedupe(env.Router.History(env.Target)),
						"crashed before %s: the route went through the same steps, none repeated", crashedAt)
					assert.Equal(t, refRes.FailedChecks, env.Store.Current(env.Target).FailedChecks)
					// no weight is analysed more often than without the crash, except the weight
					// the interrupted tick was analysing, which is analysed once more
					for w, n := range ticks.perWeight {
						allowed := refTicks[w]
						if w == interrupted {
							allowed++
						}
						assert.LessOrEqual(t, n, allowed, "crashed before %s: weight %d analysed %d times", crashedAt, w, n)
					}
					assert.False(t, env.Store.Current(env.Target).RollingBack)
					if sc.spec().SessionAffinity != nil {
						// one cookie for the release, whatever the crash: the one the route
						// carried is the one the status keeps as the previous cookie
						cookies := map[string]bool{}
						for _, a := range env.Router.Affinities(env.Target) {
							if a.Cookie != "" {
								cookies[a.Cookie] = true
							}
						}
						st := env.Store.Current(env.Target)
						assert.Len(t, cookies, 1, "crashed before %s: cookies routed %v", crashedAt, cookies)
						assert.True(t, cookies[st.PreviousSessionAffinityCookie], "crashed before %s", crashedAt)
						assert.Empty(t, st.SessionAffinityCookie, "crashed before %s", crashedAt)
					}
				})
			}
		}
	}
}

// dedupe drops consecutive repeats: a step written twice (before and after a crash) is one step.
func dedupe(ws []canary.Weights) []canary.Weights {
	var out []canary.Weights
	for _, w := range ws {
		if len(out) == 0 || out[len(out)-1] != w {
			out = append(out, w)
		}
	}
	return out
}

// TestCallsPerStep pins what one analysis step costs: one route write, one status save, the
// metric queries and the rollout hooks, plus one cached workload observation; nothing is read
// back. (Flagger re-reads every object on every tick: 19 API requests per step.)
func TestCallsPerStep(t *testing.T) {
	env := healthyEnv()
	r := bootstrapped(t, env, seedSpec(), "v1")
	var steps []map[string]int
	prev := map[string]int{}
	env.Events.Then = func(e canary.Event) {
		if e.Reason != canary.ReasonAdvanced {
			return
		}
		now := env.Calls()
		d := map[string]int{}
		for k, v := range now {
			if v != prev[k] {
				d[k] = v - prev[k]
			}
		}
		steps = append(steps, d)
		prev = maps.Clone(now)
	}
	env.ResetCalls()
	res := run(t, r)
	requirePromoted(t, env, res, "v1")
	require.Len(t, steps, 10)
	want := map[string]int{
		"Workload.Observe":  1,
		"Gates.Allow":       1, // the load-test rollout hook
		"Metrics.Query":     2, // request-success-rate, request-duration
		"Router.SetWeights": 1,
		"Store.Save":        1,
	}
	for i, d := range steps[1:] { // steps 10..50; the first step also includes the release's start
		assert.Equal(t, want, d, "step %d", i+2)
	}
	all := env.Calls()
	assert.Equal(t, 1, all["Store.Load"], "status read once, at start")
	assert.Equal(t, 1, all["Router.Weights"], "weights read once, at start")
	assert.Equal(t, 1, all["Router.Reconcile"])
	assert.Equal(t, 1, all["Workload.Bootstrap"])
}

func eventTime(t *testing.T, env *canarytest.Env, msg string) time.Time {
	t.Helper()
	var at time.Time
	for _, e := range env.Events.Events() {
		if e.Message == msg {
			at = e.Time
		}
	}
	require.False(t, at.IsZero(), "no event %q", msg)
	return at
}

// A resumed analysis waits out the rest of the interval it was in: every weight gets a whole
// interval of traffic however often the driver restarts.
func TestResumedAnalysisWaitsOutItsInterval(t *testing.T) {
	env := healthyEnv()
	r := bootstrapped(t, env, seedSpec(), "v1")
	ctx, cancel := context.WithCancel(context.Background())
	env.Events.Then = func(e canary.Event) {
		if e.Message == "Advance podinfo.test canary weight 15" {
			cancel()
		}
	}
	_, err := r.Run(ctx)
	require.ErrorIs(t, err, context.Canceled)
	env.Clock.Advance(10 * time.Second) // the new process starts 10 s later
	env.Events.Then = nil
	r2, err := env.New(seedSpec())
	require.NoError(t, err)
	requirePromoted(t, env, run(t, r2), "v1")
	assert.Equal(t, 30*time.Second, eventTime(t, env, "Advance podinfo.test canary weight 20").
		Sub(eventTime(t, env, "Advance podinfo.test canary weight 15")), "one interval at weight 15, restart included")
}
