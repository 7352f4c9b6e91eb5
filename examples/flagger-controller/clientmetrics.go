package main

import (
	"context"
	"net/url"
	"sync"
	"time"

	"github.com/canarykit/canarykit/kube/driver"
	"github.com/prometheus/client_golang/prometheus"
	clientmetrics "k8s.io/client-go/tools/metrics"
)

// RateLimiterWaitBuckets are the buckets (seconds) of the client's rate-limiter wait: a request
// that finds a token waits microseconds and lands in the first bucket; any bucket above it
// counts a request that the client's rate limit delayed.
var RateLimiterWaitBuckets = []float64{0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60}

// rateLimiterWait is client-go's rate-limiter latency (every request of every client of this
// process, by verb), under the name Kubernetes components use for it.
var rateLimiterWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "rest_client_rate_limiter_duration_seconds",
	Help:    "Time the Kubernetes API client's requests waited for its rate limiter, by verb.",
	Buckets: RateLimiterWaitBuckets,
}, []string{"verb"})

var registerClientMetrics sync.Once

// clientMetrics hands client-go's rate-limiter latency to rateLimiterWait (once per process:
// client-go takes its metrics once) and returns the histogram to register.
func clientMetrics() prometheus.Collector {
	registerClientMetrics.Do(func() {
		clientmetrics.Register(clientmetrics.RegisterOpts{RateLimiterLatency: latencyAdapter{rateLimiterWait}})
	})
	return rateLimiterWait
}

// latencyAdapter observes client-go's latencies (seconds) by verb; the URL is left out (one
// series per object would grow without bound).
type latencyAdapter struct{ h *prometheus.HistogramVec }

func (a latencyAdapter) Observe(_ context.Context, verb string, _ url.URL, latency time.Duration) {
	a.h.WithLabelValues(verb).Observe(latency.Seconds())
}

// driverMetrics are the driver's client rate limit, the requests that waited for it (the
// driver's own count; rest_client_rate_limiter_duration_seconds has every client's waits), and
// the Events it could not write.
func driverMetrics(d *driver.Driver) []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "canarykit_client_rate_limit_qps",
			Help: "The driver's client rate limit, requests per second (it follows the running Canaries unless set)."},
			func() float64 { qps, _ := d.RateLimit(); return float64(qps) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "canarykit_client_rate_limit_burst",
			Help: "The driver's client rate limit burst."},
			func() float64 { _, burst := d.RateLimit(); return float64(burst) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "canarykit_client_throttled_requests_total",
			Help: "Requests of the driver that waited for its client rate limit."},
			func() float64 { return float64(d.Throttled()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "canarykit_events_dropped_total",
			Help: "Kubernetes Events of the Canaries' targets that were not written (queue full, tries run out, or shut down)."},
			func() float64 { return float64(d.EventsDropped()) }),
	}
}
