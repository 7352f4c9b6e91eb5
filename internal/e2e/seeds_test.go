package e2e

import (
	"context"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/meshsim"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/webhook/loadgen"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mixTolerance is how far, in requests, the measured split of one weight step may be from
// the TrafficSplit's weights: the simulated proxy picks backends by smooth weighted
// round-robin, exact to within one request, and a request in flight at a mark may count on
// either side.
const mixTolerance = 2

// window is the traffic of a release: requests routed by the route versions the release
// wrote (a slow request routed earlier by an older version is counted when it completes,
// under that version, and is left out).
type window struct {
	w       *world
	service string
	start   meshsim.Traffic
	first   int64 // the route version current when the window opened
}

func (w *world) window(service string) *window {
	r, _ := w.mesh.Weights(service)
	return &window{w: w, service: service, start: w.mesh.Traffic(), first: r.Generation}
}

// shares returns the window's mix per route version, waiting until the current version has
// routed enough requests to be judged.
func (win *window) shares(t *testing.T) []meshsim.Share {
	t.Helper()
	var out []meshsim.Share
	require.Eventually(t, func() bool {
		cur, _ := win.w.mesh.Weights(win.service)
		out = out[:0]
		var last uint64
		for _, s := range win.w.mesh.Traffic().Since(win.start).Mix(win.service) {
			if s.Route.Generation >= win.first {
				out = append(out, s)
				if s.Route.Generation == cur.Generation {
					last = s.RouteRequests
				}
			}
		}
		return last >= 20
	}, time.Minute, 50*time.Millisecond, "traffic under the last route version")
	slices.SortFunc(out, func(a, b meshsim.Share) int { return int(a.Route.Generation - b.Route.Generation) })
	return out
}

// canarySteps checks that the requests each route version routed followed its weights, and
// lists the canary share of each version in order.
func canarySteps(t *testing.T, shares []meshsim.Share, canarySvc string) []float64 {
	t.Helper()
	var steps []float64
	for _, s := range shares {
		want := s.Want * float64(s.RouteRequests)
		assert.InDelta(t, want, float64(s.Requests), mixTolerance,
			"route version %d: %s should get %.0f%% of %d requests, got %d", s.Route.Generation, s.Backend, 100*s.Want, s.RouteRequests, s.Requests)
		if s.Backend == canarySvc && s.RouteRequests > 0 {
			steps = append(steps, s.Want)
		}
	}
	return steps
}

// TestSeedReleases runs the seeds' Linkerd demo end to end: podinfo with its HPA, the seeds'
// Canary manifests unchanged (000 bootstraps and promotes, 002 meets a version returning 500s,
// the legacy 004 meets a version answering in one second, 002 again survives its driving
// process being killed), apex traffic through the simulated mesh, Flagger's built-in checks
// answered by the real Prometheus, and the seeds' acceptance and load tests run by the
// loadtester's stand-in.
func TestSeedReleases(t *testing.T) {
	w := newWorld(t, flagger.RouterSMI, map[string]meshsim.Behavior{
		"3.1.2": {ErrorRate: 0.5},       // returns 500s
		"3.1.3": {Latency: time.Second}, // answers in one second
	})
	w.createApp("podinfo", "stefanprodan/podinfo:3.1.0")
	w.load(loadgen.Config{URL: "http://podinfo.test:9898/", Rate: 40, Concurrency: 80})
	ctx := context.Background()

	tl := &timeline{t: t}
	res, err := w.drive(ctx, w.manifest("canary-000-flagger-linkerd.yaml"), "driver-a", tl)
	require.NoError(t, err)
	require.False(t, res.Released, "bootstrap only")
	require.Equal(t, "stefanprodan/podinfo:3.1.0", w.image("podinfo-primary"))

	t.Run("3.1.1 is promoted and the traffic follows every weight step", func(t *testing.T) {
		win := w.window("podinfo")
		w.setImage("podinfo", "stefanprodan/podinfo:3.1.1")
		tl := &timeline{t: t}
		res, err := w.drive(ctx, w.manifest("canary-000-flagger-linkerd.yaml"), "driver-a", tl)
		require.NoError(t, err)
		require.Equal(t, canary.PhaseSucceeded, res.Phase, res.Reason)
		t.Logf("step timings:\n%s", tl.steps())
		assert.Equal(t, []int{5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 0}, res.Weights)
		assert.Equal(t, "stefanprodan/podinfo:3.1.1", w.image("podinfo-primary"))

		steps := canarySteps(t, win.shares(t), "podinfo-canary")
		assert.Equal(t, []float64{0, .05, .10, .15, .20, .25, .30, .35, .40, .45, .50, 0}, roundAll(steps),
			"every weight the TrafficSplit went through was seen by the traffic")

		msgs := tl.messages()
		assert.Contains(t, msgs, "Pre-rollout check acceptance-test passed")
		cmds := strings.Join(commands(w), "\n")
		assert.Contains(t, cmds, "curl -sd 'test' http://podinfo-canary.test:9898/token | grep token")
		assert.Contains(t, cmds, "hey -z 2m -q 10 -c 2 http://podinfo-canary.test:9898/")
		for _, s := range tl.events {
			if s.e.Reason == canary.ReasonAdvanced && len(s.e.Checks) == 2 {
				assert.GreaterOrEqual(t, s.e.Checks[0].Value, 99.0, "request-success-rate from Prometheus")
				d := s.e.Checks[1].Value // the loopback's p99 is under a millisecond
				assert.True(t, d >= 0 && d == math.Trunc(d), "request-duration p99 %v from Prometheus, in whole milliseconds as Flagger reads it", d)
				assert.Contains(t, s.e.Checks[0].Query, `response_total{namespace="`+w.ns+`",deployment=~"podinfo",classification!="failure",direction="inbound"}`)
			}
		}
	})

	t.Run("a version returning 500s is rolled back after the threshold", func(t *testing.T) {
		w.setImage("podinfo", "stefanprodan/podinfo:3.1.2")
		tl := &timeline{t: t}
		res, err := w.drive(ctx, w.manifest("canary-002-linkerd-canary.yaml"), "driver-a", tl)
		require.NoError(t, err)
		require.Equal(t, canary.PhaseFailed, res.Phase)
		t.Logf("step timings:\n%s", tl.steps())
		assert.Equal(t, "failed checks threshold reached 5", res.Reason)
		// the seed's acceptance test posts to /token once, the first request to that path of
		// 3.1.2, which passes (the mesh spreads a version's failures over each path's
		// requests); the apex and load traffic to / fails half the time: the five failed
		// checks are the success rate's
		assert.Contains(t, tl.messages(), "Pre-rollout check acceptance-test passed")
		// one Halt event per failing check; the checks that fail in one tick count once
		failedTicks := map[int]bool{}
		for _, s := range tl.events {
			if strings.HasPrefix(s.e.Message, "Halt podinfo."+w.ns+" advancement") {
				failedTicks[s.e.FailedChecks] = true
			}
		}
		assert.Len(t, failedTicks, 5, "five failed checks")
		assert.Len(t, filter(tl.messages(), "advancement request-success-rate"), 5, "Prometheus saw the 500s")
		assert.Equal(t, "stefanprodan/podinfo:3.1.1", w.image("podinfo-primary"), "the primary keeps 3.1.1")
		requireAllToPrimary(t, w, "podinfo")
	})

	t.Run("a version answering in one second is rolled back on request-duration", func(t *testing.T) {
		w.setImage("podinfo", "stefanprodan/podinfo:3.1.3")
		tl := &timeline{t: t}
		res, err := w.drive(ctx, w.manifest("canary-004-v1alpha3-canaryAnalysis.yaml"), "driver-a", tl)
		require.NoError(t, err)
		require.Equal(t, canary.PhaseFailed, res.Phase)
		t.Logf("step timings:\n%s", tl.steps())
		halts := filter(tl.messages(), "advancement request-duration")
		assert.NotEmpty(t, halts)
		assert.Empty(t, filter(tl.messages(), "advancement request-success-rate"), "slow, not failing")
		assert.Equal(t, "stefanprodan/podinfo:3.1.1", w.image("podinfo-primary"))
		requireAllToPrimary(t, w, "podinfo")
	})

	t.Run("the driving process is killed mid-analysis and a new one completes the release", func(t *testing.T) {
		win := w.window("podinfo")
		w.setImage("podinfo", "stefanprodan/podinfo:3.1.4")
		kill, stop := context.WithCancel(ctx)
		defer stop()
		var once sync.Once
		tl := &timeline{t: t, then: func(e canary.Event) {
			if strings.HasPrefix(e.Message, "Advance podinfo."+w.ns+" canary weight 20") {
				once.Do(stop)
			}
		}}
		_, err := w.drive(kill, w.manifest("canary-002-linkerd-canary.yaml"), "driver-a", tl)
		require.ErrorIs(t, err, context.Canceled)

		tl2 := &timeline{t: t}
		res, err := w.drive(ctx, w.manifest("canary-002-linkerd-canary.yaml"), "driver-b", tl2)
		require.NoError(t, err)
		require.Equal(t, canary.PhaseSucceeded, res.Phase, res.Reason)
		assert.True(t, strings.HasPrefix(tl2.messages()[0], "Resuming podinfo."+w.ns+" release"), tl2.messages()[0])
		assert.Equal(t, []int{25, 30, 35, 40, 45, 50, 0}, res.Weights, "the new process continued from weight 20")
		assert.Equal(t, "stefanprodan/podinfo:3.1.4", w.image("podinfo-primary"))
		// across both processes the traffic went through the steps in order, each once; the
		// step at 20 % may have been too short to route a request (the new process resumed and
		// advanced at once)
		steps := roundAll(canarySteps(t, win.shares(t), "podinfo-canary"))
		want := []float64{0, .05, .10, .15, .20, .25, .30, .35, .40, .45, .50, 0}
		if !slices.Contains(steps, .20) {
			want = slices.Delete(want, 4, 5)
		}
		assert.Equal(t, want, steps)
	})
}

// requireAllToPrimary checks that, after a rollback, the TrafficSplit routes every new apex
// request to the primary (requests routed earlier and still in flight are not new).
func requireAllToPrimary(t *testing.T, w *world, app string) {
	t.Helper()
	mark := w.mesh.Traffic()
	var after []meshsim.Share
	require.Eventually(t, func() bool {
		after = nil
		var n uint64
		for _, s := range w.mesh.Traffic().Since(mark).Mix(app) {
			if s.Backend == app+"-canary" && s.Want == 0 {
				after = append(after, s)
				n += s.RouteRequests
			}
		}
		return n >= 40
	}, time.Minute, 50*time.Millisecond, "apex traffic under the rolled-back route")
	for _, s := range after {
		assert.Zero(t, s.Requests, "route version %d sent requests to the rolled-back canary", s.Route.Generation)
	}
}

func roundAll(xs []float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = float64(int(x*100+0.5)) / 100
	}
	return out
}

func filter(msgs []string, substr string) []string {
	var out []string
	for _, m := range msgs {
		if strings.Contains(m, substr) {
			out = append(out, m)
		}
	}
	return out
}

func commands(w *world) []string {
	var out []string
	for _, c := range w.lt.Commands() {
		out = append(out, c.Cmd)
	}
	return out
}
