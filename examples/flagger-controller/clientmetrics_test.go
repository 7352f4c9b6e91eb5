package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientmetrics "k8s.io/client-go/tools/metrics"
)

func TestClientRateLimiterWaitIsServedByVerb(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(clientMetrics())
	count0, waited0 := patchWaits(t, reg)
	// client-go's rest client reports every request's rate-limiter wait here
	clientmetrics.RateLimiterLatency.Observe(context.Background(), "PATCH", url.URL{Path: "/apis/split.smi-spec.io/x"}, 20*time.Microsecond)
	clientmetrics.RateLimiterLatency.Observe(context.Background(), "PATCH", url.URL{Path: "/apis/split.smi-spec.io/y"}, 300*time.Millisecond)
	count1, waited1 := patchWaits(t, reg)
	assert.Equal(t, uint64(2), count1-count0, "both requests observed")
	assert.Equal(t, uint64(1), waited1-waited0, "only the 300 ms wait is above the first bucket")
}

// patchWaits gathers reg's rate-limiter wait of PATCH requests: all of them, and those
// above the first bucket (1 ms). It checks the series are labelled by verb only.
func patchWaits(t *testing.T, reg *prometheus.Registry) (count, waited uint64) {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		require.Equal(t, "rest_client_rate_limiter_duration_seconds", f.GetName())
		for _, m := range f.GetMetric() {
			require.Len(t, m.GetLabel(), 1, "one series per verb, none per URL")
			if m.GetLabel()[0].GetName() != "verb" || m.GetLabel()[0].GetValue() != "PATCH" {
				continue
			}
			h := m.GetHistogram()
			first := h.GetBucket()[0]
			require.Equal(t, 0.001, first.GetUpperBound())
			return h.GetSampleCount(), h.GetSampleCount() - first.GetCumulativeCount()
		}
	}
	return 0, 0
}

func TestPprofMuxServesTheProfiles(t *testing.T) {
	mux := pprofMux()
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/goroutine?debug=1"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		assert.Equal(t, http.StatusOK, rec.Code, path)
		assert.NotEmpty(t, rec.Body.String(), path)
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/pprof/goroutine?debug=1", nil))
	assert.True(t, strings.Contains(rec.Body.String(), "goroutine profile"), "the goroutine profile in text")
}
