package e2e

import (
	"context"
	"net/http"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/webhook/loadgen"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestABTestingWithHTTPRoute releases frontend with seed 003's A/B analysis (12 iterations;
// Firefox users and the insider cookie) through a Gateway API HTTPRoute, as Linkerd >= 2.14
// routes: while the test runs, only matching requests reach the canary. Its metrics are the
// seed's templateRefs, read from Flagger MetricTemplates in the cluster (istio-system), one of
// them with a secretRef.
func TestABTestingWithHTTPRoute(t *testing.T) {
	w := newWorld(t, flagger.RouterHTTPRoute, nil)
	w.installTemplates("metric-templates-003.yaml")
	w.createApp("frontend", "stefanprodan/podinfo:3.1.0")
	firefox := http.Header{"User-Agent": {"Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"}}
	insider := http.Header{"Cookie": {"theme=dark; type=insider; lang=en"}}
	chrome := http.Header{"User-Agent": {"Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36"}, "Cookie": {"type=outsider"}}
	for _, h := range []http.Header{firefox, insider, chrome} {
		w.load(loadgen.Config{URL: "http://frontend.test:9898/", Header: h, Rate: 15, Concurrency: 4})
	}
	ctx := context.Background()
	m := w.manifest("canary-003-ab-testing.yaml")
	// At compressed time the first ticks after the scale-up come before Prometheus has scraped
	// the canary twice (fluxcd/flagger#732); holding on no data keeps them from counting
	// against the seed's threshold on a slow machine.
	for i := range m.Spec.Metrics {
		m.Spec.Metrics[i].OnNoData = canary.NoDataHold
	}
	tl := &timeline{t: t}
	res, err := w.drive(ctx, m, "driver-a", tl)
	require.NoError(t, err)
	require.False(t, res.Released)

	before := w.mesh.Traffic()
	w.setImage("frontend", "stefanprodan/podinfo:3.1.1")
	res, err = w.drive(ctx, m, "driver-a", tl)
	require.NoError(t, err)
	require.Equal(t, canary.PhaseSucceeded, res.Phase, res.Reason)
	t.Logf("step timings:\n%s", tl.steps())
	assert.Contains(t, tl.messages(), "Advance frontend."+w.ns+" canary iteration 12/12")
	assert.Equal(t, "stefanprodan/podinfo:3.1.1", w.image("frontend-primary"))
	checked := map[string]int{}
	for _, e := range tl.events {
		for _, c := range e.e.Checks {
			if c.Verdict == canary.VerdictPass {
				checked[c.Name]++
				assert.Contains(t, c.Query, `namespace="`+w.ns+`"`, "the template rendered with the Canary's variables")
			}
		}
	}
	assert.Positive(t, checked["error-rate"], "the error-rate template passed checks: %v", checked)
	assert.Positive(t, checked["latency"], "the latency template passed checks: %v", checked)

	// During the test the HTTPRoute's first rule (the matches) sent everything to the canary
	// and the default rule everything to the primary: no request that did not match reached
	// the canary, and matching ones did.
	during := w.mesh.Traffic().Since(before)
	var matched, unmatchedToCanary, matchedToCanary uint64
	for k, v := range during.Counts {
		if k.Service != "frontend" || k.Route.Kind != "HTTPRoute" {
			continue
		}
		if k.Route.Rule == 0 {
			matched += v.Requests
			if k.Deployment == "frontend" {
				matchedToCanary += v.Requests
			}
		} else if k.Deployment == "frontend" {
			unmatchedToCanary += v.Requests
		}
	}
	assert.Zero(t, unmatchedToCanary, "requests that match no condition never reach the canary")
	assert.NotZero(t, matchedToCanary, "Firefox users and insiders reached the canary")
	t.Logf("A/B: %d matching requests, %d of them served by the canary while it was tested", matched, matchedToCanary)
	assert.NotZero(t, during.ByDeployment("frontend")["frontend-primary"].Requests)
}
