package e2e

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/meshsim"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/internal/testenv/linkerdexp"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/webhook/loadgen"
	"github.com/canarykit/canarykit/webhook/webhooktest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newWorldOwnProm is newWorld with a Prometheus (and exporter) of the test's own, for tests
// that stop it: the shared one serves the other tests of the binary.
func newWorldOwnProm(t *testing.T, router flagger.RouterKind) *world {
	env := testenv.Shared(t)
	testenv.InstallCRDs(t, env.Config(), testenv.TrafficSplitCRD())
	ns := env.Namespace(t)
	env.Kubelet(t, ns, "", testenv.ReadyNow())
	exp := linkerdexp.New(linkerdexp.Options{})
	srv := httptest.NewServer(exp)
	t.Cleanup(srv.Close)
	prom := testenv.StartPrometheus(t, srv.URL+"/metrics")
	m := meshsim.Start(t, meshsim.Options{Config: env.Config(), Namespace: ns, Aliases: []string{"test"}, Exporter: exp})
	lt := &webhooktest.LoadTester{}
	require.NoError(t, m.ServeLoadTester("flagger-loadtester", lt))
	return &world{t: t, env: env, ns: ns, mesh: m, prom: prom, lt: lt, router: router}
}

// waitFor waits until ch is closed, failing the test if the release ended first or nothing
// came within a generous bound.
func waitFor(t *testing.T, ch <-chan struct{}, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-done:
		t.Fatalf("the release ended before %s", what)
	case <-time.After(3 * time.Minute):
		t.Fatalf("no %s within 3 minutes", what)
	}
}

// TestPrometheusStoppedMidRelease stops the release's Prometheus at the 15 % step and starts
// it again later (same port, same data): while it is down the release holds the step (an
// Unavailable event per check and tick, no failed check counted, the weight stays at 15 %,
// nothing promoted on data it does not have); once it answers again the release continues
// and promotes, and the traffic ends 100 % on the primary running the new revision.
func TestPrometheusStoppedMidRelease(t *testing.T) {
	w := newWorldOwnProm(t, flagger.RouterSMI)
	w.createApp("podinfo", "stefanprodan/podinfo:3.1.0")
	w.load(loadgen.Config{URL: "http://podinfo.test:9898/", Rate: 40, Concurrency: 80})
	ctx := context.Background()
	m := w.manifest("canary-002-linkerd-canary.yaml")
	// A freshly (re)started Prometheus has no samples in a compressed 4 s window for a few
	// ticks: the no-data policy holds those ticks rather than counting them.
	for i := range m.Spec.Metrics {
		m.Spec.Metrics[i].OnNoData = canary.NoDataHold
	}
	res, err := w.drive(ctx, m, "driver-a", &timeline{t: t})
	require.NoError(t, err)
	require.False(t, res.Released, "bootstrap only")

	win := w.window("podinfo")
	w.setImage("podinfo", "stefanprodan/podinfo:3.1.1")

	const heldTicks = 3
	killed, held := make(chan struct{}), make(chan struct{})
	var (
		mu           sync.Mutex
		down         bool
		duringOut    []canary.Event // events while Prometheus was down
		unavailable  int
		failedAtKill int // failed checks counted before the outage (a cold first tick may fail one)
		killedAt     int // how many events came before the outage
	)
	var killOnce, heldOnce sync.Once
	var tl *timeline
	tl = &timeline{t: t, then: func(e canary.Event) {
		mu.Lock()
		defer mu.Unlock()
		if down {
			duringOut = append(duringOut, e)
			if e.Reason == canary.ReasonUnavailable {
				unavailable++
				if unavailable >= heldTicks*len(m.Spec.Metrics) {
					heldOnce.Do(func() { close(held) })
				}
			}
		}
		if strings.HasPrefix(e.Message, "Advance podinfo."+w.ns+" canary weight 15") {
			killOnce.Do(func() {
				// stopped before the next tick: every later query meets a dead server
				w.prom.Kill()
				down, failedAtKill, killedAt = true, e.FailedChecks, len(tl.messages())
				close(killed)
			})
		}
	}}
	d := w.driver("driver-a")
	defer d.Close()
	rel, err := d.Release(ctx, m, tl.handle)
	require.NoError(t, err)
	type outcome struct {
		res canary.Result
		err error
	}
	out := make(chan outcome, 1)
	done := make(chan struct{})
	go func() {
		res, err := rel.Run(ctx)
		out <- outcome{res, err}
		close(done)
	}()

	waitFor(t, killed, done, "the 15 % step")
	waitFor(t, held, done, "held ticks while Prometheus was down")
	_, weights := w.mesh.Weights("podinfo")
	assert.InDelta(t, 15, weights["podinfo-canary"], 0.001, "the route stayed at the step it had: %v", weights)

	mu.Lock()
	down = false
	outage := append([]canary.Event(nil), duringOut...)
	before, atKill := killedAt, failedAtKill
	mu.Unlock()
	w.prom.Restart(t)

	for _, e := range outage {
		assert.Contains(t, []canary.Reason{canary.ReasonUnavailable}, e.Reason, "while Prometheus was down: %s", e.Message)
		assert.Equal(t, atKill, e.FailedChecks, "no failed check counted: %s", e.Message)
		assert.Equal(t, 15, e.Weights.Canary, "the weight did not advance: %s", e.Message)
		for _, c := range e.Checks {
			assert.Equal(t, canary.VerdictUnavailable, c.Verdict, "check %s: %s", c.Name, c.Message)
			assert.ErrorIs(t, c.Err, canary.ErrUnavailable)
		}
	}

	o := <-out
	require.NoError(t, o.err)
	require.Equal(t, canary.PhaseSucceeded, o.res.Phase, o.res.Reason)
	t.Logf("step timings:\n%s", tl.steps())
	assert.Equal(t, atKill, o.res.FailedChecks, "an outage, and the no-data ticks after it, are not failed checks")
	assert.Equal(t, []int{5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 0}, o.res.Weights, "every step once, none skipped after the outage")
	assert.Equal(t, "stefanprodan/podinfo:3.1.1", w.image("podinfo-primary"))
	// every advance, before and after the outage, was on checks Prometheus measured
	advanced := 0
	for i, s := range tl.events {
		switch s.e.Reason {
		case canary.ReasonHalted, canary.ReasonRollingBack, canary.ReasonFailed:
			if i >= before {
				t.Errorf("unexpected %s after the outage began: %s", s.e.Reason, s.e.Message)
			}
		case canary.ReasonAdvanced:
			if len(s.e.Checks) == 0 {
				continue // the first step is taken before any analysis
			}
			advanced++
			for _, c := range s.e.Checks {
				assert.Equal(t, canary.VerdictPass, c.Verdict, "%s advanced on check %s: %s", s.e.Message, c.Name, c.Message)
			}
		}
	}
	assert.Positive(t, advanced)
	steps := canarySteps(t, win.shares(t), "podinfo-canary")
	assert.Equal(t, []float64{0, .05, .10, .15, .20, .25, .30, .35, .40, .45, .50, 0}, roundAll(steps),
		"the traffic went through every step in order")
	requireAllToPrimary(t, w, "podinfo")
}
