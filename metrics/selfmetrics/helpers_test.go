package selfmetrics_test

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/canarykit/canarykit/metrics/selfmetrics"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
)

var podinfo = canary.Target{Namespace: "test", Name: "podinfo"}

// spec is a short weighted canary with Linkerd's two built-in checks: steps 10, 20, 30.
func spec() canary.Spec {
	return canary.Spec{
		Interval:   30 * time.Second,
		Threshold:  2,
		MaxWeight:  30,
		StepWeight: 10,
		Metrics: []canary.Metric{
			{Name: "request-success-rate", ThresholdRange: canary.AtLeast(99), Interval: time.Minute},
			{Name: "request-duration", ThresholdRange: canary.AtMost(500), Interval: 30 * time.Second},
		},
	}
}

// registry returns a registry holding c.
func registry(t *testing.T, c *selfmetrics.Collector) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	return reg
}

// series is a gathered sample: its labels and value (a counter's or gauge's value, a
// histogram's sample count).
type series struct {
	labels map[string]string
	value  float64
	sum    float64 // histograms
}

// gather returns the series of metric name.
func gather(t *testing.T, reg prometheus.Gatherer, name string) []series {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var out []series
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			out = append(out, toSeries(m))
		}
	}
	return out
}

func toSeries(m *dto.Metric) series {
	s := series{labels: map[string]string{}}
	for _, l := range m.GetLabel() {
		s.labels[l.GetName()] = l.GetValue()
	}
	switch {
	case m.Gauge != nil:
		s.value = m.Gauge.GetValue()
	case m.Counter != nil:
		s.value = m.Counter.GetValue()
	case m.Histogram != nil:
		s.value = float64(m.Histogram.GetSampleCount())
		s.sum = m.Histogram.GetSampleSum()
	}
	return s
}

// value returns the value of the one series of name whose labels include want; ok is false
// when there is none.
func value(t *testing.T, reg prometheus.Gatherer, name string, want map[string]string) (float64, bool) {
	t.Helper()
	s, ok := find(t, reg, name, want)
	return s.value, ok
}

func find(t *testing.T, reg prometheus.Gatherer, name string, want map[string]string) (series, bool) {
	t.Helper()
	var found []series
	for _, s := range gather(t, reg, name) {
		match := true
		for k, v := range want {
			if s.labels[k] != v {
				match = false
			}
		}
		if match {
			found = append(found, s)
		}
	}
	require.LessOrEqual(t, len(found), 1, "%s%v matches several series: %v", name, want, found)
	if len(found) == 0 {
		return series{}, false
	}
	return found[0], true
}

// mustValue is value for a series that must exist.
func mustValue(t *testing.T, reg prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	v, ok := value(t, reg, name, want)
	require.True(t, ok, "no series %s%v; have %v", name, want, gather(t, reg, name))
	return v
}

// names lists the metric names reg holds series of, for target podinfo.test or any.
func names(t *testing.T, reg prometheus.Gatherer) []string {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var out []string
	for _, mf := range mfs {
		if len(mf.GetMetric()) > 0 {
			out = append(out, mf.GetName())
		}
	}
	sort.Strings(out)
	return out
}

// recording runs a release of env's target to its end with its events going to onEvent (and
// env's recorder), and samples reg after each event: the canary weight and the status.
type recording struct {
	weights  []float64 // flagger_canary_weight of the canary, deduplicated in a row
	statuses []float64 // flagger_canary_status, deduplicated in a row
}

func release(t *testing.T, env *canarytest.Env, s canary.Spec, reg prometheus.Gatherer, onEvent func(canary.Event)) (canary.Result, *recording) {
	t.Helper()
	rec := &recording{}
	cfg := env.Config(s)
	cfg.OnEvent = func(e canary.Event) {
		env.Events.Handle(e)
		onEvent(e)
		name, ns := env.Target.Name, env.Target.Namespace
		if w, ok := value(t, reg, "flagger_canary_weight", map[string]string{"workload": name, "namespace": ns}); ok {
			rec.weights = appendNew(rec.weights, w)
		}
		if st, ok := value(t, reg, "flagger_canary_status", map[string]string{"name": name, "namespace": ns}); ok {
			rec.statuses = appendNew(rec.statuses, st)
		}
	}
	r, err := canary.New(cfg)
	require.NoError(t, err)
	res, err := r.Run(context.Background())
	require.NoError(t, err)
	return res, rec
}

func appendNew(xs []float64, x float64) []float64 {
	if len(xs) > 0 && xs[len(xs)-1] == x {
		return xs
	}
	return append(xs, x)
}

// bootstrap initializes env's target at v0 and sets rev as its new revision.
func bootstrap(t *testing.T, env *canarytest.Env, s canary.Spec, rev string) {
	t.Helper()
	r, err := env.New(s)
	require.NoError(t, err)
	res, err := r.Run(context.Background())
	require.NoError(t, err)
	require.Equal(t, canary.PhaseInitialized, res.Phase)
	env.Workload.SetRevision(rev)
}

// slowQueries makes each metric query of env take d of virtual time.
func slowQueries(env *canarytest.Env, d time.Duration) {
	env.OnCall(func(call string) {
		if call == "Metrics.Query" {
			env.Clock.Advance(d)
		}
	})
}

func lbl(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func joined(xs []string) string { return strings.Join(xs, ",") }
