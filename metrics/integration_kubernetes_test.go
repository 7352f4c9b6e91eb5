package metrics_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/metrics"
)

// appExporter serves an app's own http_request_duration_seconds as Prometheus' pod scraping
// labels them: every scrape adds 100 requests to the canary's pod (95 answered 200, 5 answered
// 503, each 40 ms) and 100 to the primary's pod (all 503, 900 ms: the pod name pattern of the
// canary's Deployment must leave them out).
type appExporter struct {
	mu      sync.Mutex
	scrapes int
}

func (e *appExporter) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	e.mu.Lock()
	e.scrapes++
	n := e.scrapes
	e.mu.Unlock()
	var b strings.Builder
	series := func(pod, status string, perScrape int, seconds float64) {
		labels := fmt.Sprintf(`kubernetes_namespace="test",kubernetes_pod_name=%q,status=%q`, pod, status)
		total := perScrape * n
		for _, le := range []float64{0.025, 0.05, 0.1, 1} {
			in := 0
			if seconds <= le {
				in = total
			}
			fmt.Fprintf(&b, "http_request_duration_seconds_bucket{%s,le=\"%g\"} %d\n", labels, le, in)
		}
		fmt.Fprintf(&b, "http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %d\n", labels, total)
		fmt.Fprintf(&b, "http_request_duration_seconds_sum{%s} %g\n", labels, seconds*float64(total))
		fmt.Fprintf(&b, "http_request_duration_seconds_count{%s} %d\n", labels, total)
	}
	series("podinfo-5d8f9c7b6d-x2k4p", "200", 95, 0.040)
	series("podinfo-5d8f9c7b6d-x2k4p", "503", 5, 0.040)
	series("podinfo-primary-6c7d8e9f0a-q8w3z", "503", 100, 0.900)
	_, _ = w.Write([]byte(b.String()))
}

// Flagger's built-in checks of provider kubernetes on a real Prometheus scraping the app's own
// series: the canary's pods' success rate and p99 duration in milliseconds, nothing of the
// primary's pods.
func TestPrometheusKubernetesBuiltinChecks(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: skipped under -short, which starts no server")
	}
	success, duration := builtinValues(t, &appExporter{}, metrics.Kubernetes(), canary.Target{Namespace: "test", Name: "podinfo"})
	assert.InDelta(t, 95, success, 0.01, "the canary's pods only")
	assert.InDelta(t, 49.75, duration, 0.01, "milliseconds: the p99 within the canary's (25 ms, 50 ms] bucket")
}
