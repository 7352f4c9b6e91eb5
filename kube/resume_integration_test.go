package kube_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKillAndResumeAtEachPhase stops the driving process (cancel, drop everything) when the
// release reaches each phase, starts a new process on the same cluster, and checks the release
// ends as it would have without the interruption.
func TestKillAndResumeAtEachPhase(t *testing.T) {
	gated := func(s *canary.Spec) {
		s.Webhooks = []canary.Webhook{{Name: "promote", Type: canary.HookConfirmPromotion, URL: "http://gate.test/"}}
	}
	cases := []struct {
		name   string
		spec   func(*canary.Spec)
		bad    bool   // the canary fails its checks
		killAt string // event message prefix (without the target) at which the first process dies
		phase  canary.Phase
	}{
		{"progressing", nil, false, "Advance podinfo", canary.PhaseSucceeded},
		{"waiting for promotion", gated, false, "Halt podinfo", canary.PhaseSucceeded},
		{"promoting", nil, false, "Copying podinfo", canary.PhaseSucceeded},
		{"shifting back", nil, false, "Routing all traffic to primary", canary.PhaseSucceeded},
		{"rolling back", nil, true, "Rolling back podinfo", canary.PhaseFailed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newBed(t)
			b.createTarget(t, "podinfo:1")
			router := &canarytest.Router{}
			metrics := &canarytest.Metrics{}
			metrics.Set("request-success-rate", canarytest.Constant(99.9))
			if c.bad {
				metrics.Set("request-success-rate", canarytest.Constant(50))
			}
			gates := &canarytest.Gates{}
			gates.Set("promote", canarytest.Closed())
			b.driver(t, driverOptions{router: router, metrics: metrics, spec: c.spec}).mustRun(t)
			b.setImage(t, "podinfo:2")

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var once sync.Once
			first := b.driver(t, driverOptions{identity: "first", router: router, metrics: metrics, gates: gates, spec: c.spec,
				then: func(e canary.Event) {
					if len(e.Message) >= len(c.killAt) && e.Message[:len(c.killAt)] == c.killAt {
						once.Do(cancel)
					}
				}})
			_, err := first.run(ctx)
			require.ErrorIs(t, err, context.Canceled)
			first.cluster.Close()
			stopped, err := first.lease.Load(context.Background(), b.target)
			require.NoError(t, err)
			require.True(t, stopped.Phase.InRelease(), "stopped mid-release, at %s", stopped.Phase)

			gates.Set("promote", canarytest.Open())
			second := b.driver(t, driverOptions{identity: "second", router: router, metrics: metrics, gates: gates, spec: c.spec})
			res := second.mustRun(t)
			require.Equal(t, c.phase, res.Phase, res.Reason)
			assert.True(t, res.Released)
			w, err := router.Current(b.target)
			require.NoError(t, err)
			assert.Equal(t, canary.AllPrimary(), w)
			assert.Equal(t, int32(0), *b.deployment(t, "podinfo").Spec.Replicas, "canary scaled down")
			want := "podinfo:2"
			if c.bad {
				want = "podinfo:1"
			}
			assert.Equal(t, want, image(b.deployment(t, "podinfo-primary")))
			assert.Contains(t, second.rec.Messages()[0], "Resuming podinfo."+b.ns+" release")
			// the route never went backwards during the analysis: no step was redone from zero
			hist := router.CanaryHistory(b.target)
			for i := 1; i < len(hist); i++ {
				if hist[i] < hist[i-1] && hist[i] != 0 {
					t.Fatalf("route went back from %d to %d: %v", hist[i-1], hist[i], hist)
				}
			}
		})
	}
}

// TestAPIRequestsPerStep counts, in the apiserver's audit log, the requests the SDK's identity
// makes: per analysis step (one status write on the Lease, one Event; the route write belongs
// to the mesh router) and per idle tick (none).
func TestAPIRequestsPerStep(t *testing.T) {
	b := newBed(t)
	b.createTarget(t, "podinfo:1")
	gates := &canarytest.Gates{}
	gates.Set("approve", canarytest.OpenAfter(10))
	var mu sync.Mutex
	stamps := map[string]time.Time{}
	var asked []time.Time // when the closed gate was asked, once per idle tick
	gates.Calls.OnCall = func(method string) {
		if method == "Allow" {
			mu.Lock()
			asked = append(asked, time.Now())
			mu.Unlock()
		}
	}
	spec := func(s *canary.Spec) {
		s.MaxWeight, s.StepWeight = 90, 10
		s.Webhooks = []canary.Webhook{{Name: "approve", Type: canary.HookConfirmRollout, URL: "http://gate.test/"}}
	}
	d := b.driver(t, driverOptions{gates: gates, spec: spec, then: func(e canary.Event) {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := stamps[e.Message]; !ok {
			stamps[e.Message] = time.Now()
		}
	}})
	d.mustRun(t)
	b.setImage(t, "podinfo:2")
	res := d.mustRun(t)
	require.Equal(t, canary.PhaseSucceeded, res.Phase)
	log := b.env.AuditLog(t).ForUser(b.user)
	at := func(msg string) time.Time {
		mu.Lock()
		defer mu.Unlock()
		ts, ok := stamps[msg]
		require.True(t, ok, "no event %q", msg)
		return ts
	}
	target := "podinfo." + b.ns

	// Watches are streams opened once per informer (the control watch may connect late, inside
	// a window); they are bounded here over the whole test and left out of the budgets below.
	// The two runs share the Cluster's watch of control requests.
	for k, n := range log.Watches().Counts() {
		assert.LessOrEqual(t, n, 4, "watch re-opened again and again: %s", k)
	}
	log = log.Calls()

	// idle: ticks waiting for approval. The Waiting transition's Events are recorded
	// asynchronously just after the first ask, so the window runs from the 4th ask to the 10th:
	// six ticks that must cost nothing.
	mu.Lock()
	require.GreaterOrEqual(t, len(asked), 11, "the gate was asked at every idle tick")
	from, to := asked[3], asked[9]
	mu.Unlock()
	idle := log.Window(from, to).Counts()
	assert.Zero(t, idle.Total(), "requests during six idle ticks:\n%s", idle)
	// and the whole wait, transition included, cost at most its Events
	wait := log.Window(at("Halt "+target+" advancement waiting for approval approve"), at("Confirm-rollout check approve passed")).Counts()
	for k := range wait {
		assert.Equal(t, "create events", k.Verb+" "+k.Resource, "only the Waiting transition's events: %s", k)
	}

	// steps: from weight 20 to weight 90, seven steps. A step's status write is received before
	// its event is emitted (and stamped, in the tick), the next step's after: the window holds
	// the writes of the steps 30 to 90 whatever the ticks' timing
	steps := log.Window(at("Advance "+target+" canary weight 20"), at("Advance "+target+" canary weight 90"))
	counts := steps.Counts()
	t.Logf("API requests for 7 analysis steps (route writes excluded: simulated router):\n%s", counts)
	// one status write per step, made before the step's event is emitted; one Event per step,
	// recorded asynchronously, so the previous step's may land inside the window
	writes, events := 0, 0
	for k, n := range counts {
		switch k.Verb + " " + k.Resource {
		case "update leases":
			writes += n
		case "create events", "patch events":
			events += n
		}
	}
	assert.Equal(t, 7, writes, "one status write per step")
	assert.LessOrEqual(t, events, 7+1, "one event per step")
	for k := range counts {
		assert.Contains(t, []string{"update leases", "create events", "patch events"}, k.Verb+" "+k.Resource, "unexpected request %s", k)
	}
}
