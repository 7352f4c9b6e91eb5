package meshsim_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/internal/meshsim"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/webhook/loadgen"
)

// Flagger's built-in Linkerd checks (metrics.Linkerd), {{ interval }} = 1m.
const (
	successRateQuery = `sum(rate(response_total{namespace="%[1]s",deployment=~"%[2]s",classification!="failure",direction="inbound"}[1m]))
/
sum(rate(response_total{namespace="%[1]s",deployment=~"%[2]s",direction="inbound"}[1m]))
* 100`
	durationQuery = `histogram_quantile(0.99, sum(rate(response_latency_ms_bucket{namespace="%[1]s",deployment=~"%[2]s",direction="inbound"}[1m])) by (le))`
)

func TestPrometheusAnswersFlaggersChecksAboutTheSimulatedPods(t *testing.T) {
	prom, exp := testenv.SharedPrometheus(t)
	b := newBed(t, nil, meshsim.Options{Exporter: exp, Versions: map[string]meshsim.Behavior{
		"3.1.1": {ErrorRate: 0.1, Latency: 120 * time.Millisecond},
	}})
	b.flagger(t, "ghcr.io/stefanprodan/podinfo:3.1.1", "ghcr.io/stefanprodan/podinfo:3.1.0")

	// The demo manifests' load test shape, faster: 100 requests per second at the canary.
	l, err := b.mesh.StartLoad(loadgen.Config{URL: "http://podinfo-canary.test:9898/", Rate: 100, Concurrency: 20, Duration: 2 * time.Minute})
	require.NoError(t, err)
	defer l.Stop()
	// Also some traffic at the healthy primary, which the canary's queries must not see.
	p, err := b.mesh.StartLoad(loadgen.Config{URL: "http://podinfo-primary.test:9898/", Rate: 50, Duration: 2 * time.Minute})
	require.NoError(t, err)
	defer p.Stop()

	// Wait for five scrapes of the canary's series, so that the rates span some traffic.
	prom.WaitForSeries(t, fmt.Sprintf(`count_over_time(response_total{namespace=%q,deployment="podinfo",classification="success"}[1m]) >= 5`, b.ns))

	successRate := prom.WaitForValue(t, fmt.Sprintf(successRateQuery, b.ns, "podinfo"))
	assert.InDelta(t, 90, successRate, 1, "request-success-rate of the canary (10 %% errors)")
	primaryRate := prom.WaitForValue(t, fmt.Sprintf(successRateQuery, b.ns, "podinfo-primary"))
	assert.Equal(t, 100.0, primaryRate)

	// The recorded durations are the real ones on loopback: the canary's 120 ms added put its
	// p99 past Linkerd's 100 ms bucket bound, above the primary's. (On a loaded machine queueing
	// adds to both, so the bounds are relative, not the (100, 200] bucket itself.)
	p99 := prom.WaitForValue(t, fmt.Sprintf(durationQuery, b.ns, "podinfo"))
	assert.Greater(t, p99, 100.0, "request-duration p99 of the canary (120 ms added)")
	primaryP99 := prom.WaitForValue(t, fmt.Sprintf(durationQuery, b.ns, "podinfo-primary"))
	assert.Less(t, primaryP99, p99, "the primary has no latency added")
	t.Logf("success rate %.2f %% (canary) %.2f %% (primary); p99 %.1f ms (canary) %.1f ms (primary)",
		successRate, primaryRate, p99, primaryP99)

	res := l.Stop()
	assert.Positive(t, res.Statuses[500])
	assert.InDelta(t, 0.1, float64(res.Statuses[500])/float64(res.Requests), 0.01)
}
