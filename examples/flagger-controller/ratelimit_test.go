package main

import (
	"testing"

	"github.com/canarykit/canarykit/kube/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
)

// The controller serves the driver's client rate limit and its waits: the adaptive one of a
// Config that sets none, a fixed one as set.
func TestClientMetricsShowTheDriversRateLimit(t *testing.T) {
	values := func(cfg *rest.Config) map[string]float64 {
		t.Helper()
		d, err := driver.New(driver.Options{Config: cfg})
		require.NoError(t, err)
		defer d.Close()
		reg := prometheus.NewRegistry()
		for _, m := range driverMetrics(d) {
			require.NoError(t, reg.Register(m))
		}
		families, err := reg.Gather()
		require.NoError(t, err)
		out := map[string]float64{}
		for _, f := range families {
			for _, m := range f.GetMetric() {
				if g := m.GetGauge(); g != nil {
					out[f.GetName()] = g.GetValue()
				} else if c := m.GetCounter(); c != nil {
					out[f.GetName()] = c.GetValue()
				}
			}
		}
		return out
	}
	assert.Equal(t, map[string]float64{"canarykit_client_rate_limit_qps": driver.DefaultQPS,
		"canarykit_client_rate_limit_burst": driver.DefaultBurst, "canarykit_client_throttled_requests_total": 0,
		"canarykit_events_dropped_total": 0},
		values(&rest.Config{Host: "https://127.0.0.1:1"}))
	assert.Equal(t, map[string]float64{"canarykit_client_rate_limit_qps": 7,
		"canarykit_client_rate_limit_burst": 9, "canarykit_client_throttled_requests_total": 0,
		"canarykit_events_dropped_total": 0},
		values(&rest.Config{Host: "https://127.0.0.1:1", QPS: 7, Burst: 9}))
}
