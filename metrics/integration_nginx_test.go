package metrics_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/metrics"
)

// nginxExporter serves ingress-nginx's controller metrics as its canary Ingress makes them:
// every scrape adds 100 requests the canary served on Ingress podinfo-public (95 answered 200,
// 5 answered 503, 120 ms each), 100 the primary served (all 503, 900 ms: a canary!="" filter
// must leave them out) and 100 the canary served on another Ingress (all 503).
type nginxExporter struct {
	mu      sync.Mutex
	scrapes int
}

func (e *nginxExporter) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	e.mu.Lock()
	e.scrapes++
	n := e.scrapes
	e.mu.Unlock()
	var b strings.Builder
	series := func(ingress, canaryUpstream, status string, perScrape int, seconds float64) {
		labels := fmt.Sprintf(`namespace="test",ingress=%q,service="podinfo",status=%q,canary=%q`, ingress, status, canaryUpstream)
		fmt.Fprintf(&b, "nginx_ingress_controller_requests{%s} %d\n", labels, perScrape*n)
		fmt.Fprintf(&b, "nginx_ingress_controller_response_duration_seconds_sum{%s} %g\n", labels, seconds*float64(perScrape*n))
		fmt.Fprintf(&b, "nginx_ingress_controller_response_duration_seconds_count{%s} %d\n", labels, perScrape*n)
	}
	series("podinfo-public", "test-podinfo-canary-9898", "200", 95, 0.120)
	series("podinfo-public", "test-podinfo-canary-9898", "503", 5, 0.120)
	series("podinfo-public", "", "503", 100, 0.900)
	series("other", "test-other-canary-80", "503", 100, 0.500)
	_, _ = w.Write([]byte(b.String()))
}

// Flagger's NGINX built-in checks on a real Prometheus scraping ingress-nginx's series: the
// canary's success rate and mean response time on the Canary's ingressRef, nothing else.
func TestPrometheusNGINXBuiltinChecks(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: skipped under -short, which starts no server")
	}
	success, duration := builtinValues(t, &nginxExporter{}, metrics.NGINX(),
		canary.Target{Namespace: "test", Name: "podinfo", Ingress: "podinfo-public"})
	assert.InDelta(t, 95, success, 0.01, "the canary's requests on podinfo-public only")
	assert.InDelta(t, 120, duration, 0.01, "milliseconds, the canary's mean")
}

// builtinValues starts a real Prometheus scraping exporter and returns what the success rate
// and duration queries of builtins give for target, once the series are there.
func builtinValues(t *testing.T, exporter http.Handler, builtins map[string]string, target canary.Target) (success, duration float64) {
	t.Helper()
	srv := httptest.NewServer(exporter)
	t.Cleanup(srv.Close)
	prom := testenv.StartPrometheus(t, strings.TrimPrefix(srv.URL, "http://"))
	p := newProvider(t, metrics.PrometheusOptions{Address: prom.URL})
	query := func(name string) (float64, error) {
		q, err := canary.RenderQuery(builtins[name], canary.VarsFor(target, canary.Metric{Interval: 10 * time.Second}))
		require.NoError(t, err)
		return p.Query(context.Background(), q)
	}
	waitFor(t, "the success rate", func() error {
		var err error
		success, err = query(metrics.RequestSuccessRate)
		return err
	})
	waitFor(t, "the request duration", func() error {
		var err error
		duration, err = query(metrics.RequestDuration)
		return err
	})
	return success, duration
}
