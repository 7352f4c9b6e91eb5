package e2e

import (
	"context"
	"net/http"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/meshsim"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/webhook/loadgen"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func istio(obj map[string]any) { obj["spec"].(map[string]any)["provider"] = "istio" }

// TestSeed003ABTestingWithIstio releases seed 003's frontend with its A/B analysis (12
// iterations; Firefox users and the insider cookie) through canarykit's Istio router, the
// simulated sidecars routing by the VirtualService it writes: while the test runs, Firefox
// users and insiders reach the canary, nobody else does.
func TestSeed003ABTestingWithIstio(t *testing.T) {
	w := newWorld(t, flagger.RouterSMI, nil, testenv.IstioCRDs(t)...)
	w.installTemplates("metric-templates-003.yaml")
	w.createApp("frontend", "stefanprodan/podinfo:3.1.0")
	segments := map[string]http.Header{
		"firefox": {"User-Agent": {"Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"}},
		// the seed's expression matches the whole Cookie header, so type=insider must come first
		// or right after a ";" without a space
		"insider": {"Cookie": {"type=insider; lang=en"}},
		"chrome":  {"User-Agent": {"Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36"}, "Cookie": {"type=outsider"}},
	}
	ctx := context.Background()
	m := w.manifestWith("canary-003-ab-testing.yaml", istio)
	for i := range m.Spec.Metrics { // as in TestABTestingWithHTTPRoute: no data at compressed time holds
		m.Spec.Metrics[i].OnNoData = canary.NoDataHold
	}
	res, err := w.drive(ctx, m, "driver-a", &timeline{t: t})
	require.NoError(t, err)
	require.False(t, res.Released)
	loads := map[string]*meshsim.Load{} // once the apex Service exists
	for name, h := range segments {
		loads[name] = w.load(loadgen.Config{URL: "http://frontend.test:9898/", Header: h, Rate: 15, Concurrency: 4})
	}

	before := w.mesh.Traffic()
	w.setImage("frontend", "stefanprodan/podinfo:3.1.1")
	tl := &timeline{t: t}
	res, err = w.drive(ctx, m, "driver-a", tl)
	require.NoError(t, err)
	require.Equal(t, canary.PhaseSucceeded, res.Phase, res.Reason)
	t.Logf("step timings:\n%s", tl.steps())
	assert.Contains(t, tl.messages(), "Advance frontend."+w.ns+" canary iteration 12/12")
	assert.Equal(t, "stefanprodan/podinfo:3.1.1", w.image("frontend-primary"))

	// the VirtualService's first HTTP route (the matches) sent everything to the canary while
	// the test ran, the default route everything to the primary
	during := w.mesh.Traffic().Since(before)
	var matchedToCanary, unmatchedToCanary, unmatched uint64
	for k, v := range during.Counts {
		if k.Service != "frontend" || k.Route.Kind != meshsim.KindVirtualService {
			continue
		}
		switch {
		case k.Route.Rule == 0 && k.Deployment == "frontend":
			matchedToCanary += v.Requests
		case k.Route.Rule == 1:
			unmatched += v.Requests
			if k.Deployment == "frontend" {
				unmatchedToCanary += v.Requests
			}
		}
	}
	assert.NotZero(t, matchedToCanary, "Firefox users and insiders reached the canary")
	assert.NotZero(t, unmatched)
	assert.Zero(t, unmatchedToCanary, "nobody else reached the canary")
	// per segment: every Firefox and insider request the canary answered, no Chrome one
	byDep := during.ByDeployment("frontend")
	assert.NotZero(t, byDep["frontend"].Requests)
	assert.NotZero(t, byDep["frontend-primary"].Requests)
	for name, l := range loads {
		r := l.Result()
		assert.Zero(t, r.Errors, "%s: %s", name, r.LastError)
	}
}

// TestSeed000WeightedWithIstio releases seed 000's podinfo with its weighted analysis through
// canarykit's Istio router: Flagger's Istio built-in checks read the simulated sidecars'
// istio_requests_total from the real Prometheus, and every weight the VirtualService went
// through was followed by the traffic.
func TestSeed000WeightedWithIstio(t *testing.T) {
	w := newWorld(t, flagger.RouterSMI, nil, testenv.IstioCRDs(t)...)
	w.createApp("podinfo", "stefanprodan/podinfo:3.1.0")
	w.load(loadgen.Config{URL: "http://podinfo.test:9898/", Rate: 40, Concurrency: 80})
	ctx := context.Background()
	_, err := w.drive(ctx, w.manifestWith("canary-000-flagger-linkerd.yaml", istio), "driver-a", &timeline{t: t})
	require.NoError(t, err)

	win := w.window("podinfo")
	w.setImage("podinfo", "stefanprodan/podinfo:3.1.1")
	tl := &timeline{t: t}
	res, err := w.drive(ctx, w.manifestWith("canary-000-flagger-linkerd.yaml", istio), "driver-a", tl)
	require.NoError(t, err)
	require.Equal(t, canary.PhaseSucceeded, res.Phase, res.Reason)
	t.Logf("step timings:\n%s", tl.steps())
	assert.Equal(t, []int{5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 0}, res.Weights)
	for _, s := range tl.events {
		if s.e.Reason == canary.ReasonAdvanced && len(s.e.Checks) == 2 {
			assert.Contains(t, s.e.Checks[0].Query, `istio_requests_total{`)
			assert.GreaterOrEqual(t, s.e.Checks[0].Value, 99.0)
		}
	}
	var vs []meshsim.Share
	for _, s := range win.shares(t) {
		if s.Route.Kind == meshsim.KindVirtualService {
			vs = append(vs, s)
		}
	}
	steps := canarySteps(t, vs, "podinfo-canary")
	assert.Equal(t, []float64{0, .05, .10, .15, .20, .25, .30, .35, .40, .45, .50, 0}, roundAll(steps),
		"every weight the VirtualService went through was seen by the traffic")
}
