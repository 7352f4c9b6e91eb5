package metrics

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestPrometheusSamplesPerSeries(t *testing.T) {
	f := newPromFake(t, func(_ int, r request) (int, string) {
		if r.Form["query"] == `sum by (pod) (x{d="podinfo"})` {
			return 200, vectorJSON(series{map[string]string{"pod": "a"}, "1"}, series{map[string]string{"pod": "b"}, "2"})
		}
		return 200, vectorJSON(series{map[string]string{"pod": "c"}, "3"}, series{map[string]string{"pod": "d"}, "NaN"})
	})
	s, err := NewPrometheusSamples(newTestProm(t, f.URL, PrometheusOptions{}), PrometheusSamplesOptions{})
	require.NoError(t, err)
	got, err := s.Samples(ctxFor(t, time.Minute), SampleRequest{Metric: "m",
		CanaryQuery: "sum by (pod) (x{d=\"podinfo\"})", BaselineQuery: "sum by (pod)\n (x{d=\"podinfo-primary\"})"})
	require.NoError(t, err)
	assert.Equal(t, []float64{1, 2}, got.Canary)
	require.Len(t, got.Baseline, 2, "NaN is kept for the judge to drop")
	assert.Equal(t, 3.0, got.Baseline[0])
	assert.Equal(t, `sum by (pod) (x{d="podinfo-primary"})`, f.requests()[1].Form["query"])
	assert.Equal(t, "/api/v1/query", f.requests()[0].Path)
}

func TestPrometheusSamplesRange(t *testing.T) {
	f := newPromFake(t, always(200, matrixJSON("1", "2", "3")))
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 1, 1, 12, 0, 47, 0, time.UTC))
	s, err := NewPrometheusSamples(newTestProm(t, f.URL, PrometheusOptions{}), PrometheusSamplesOptions{Step: 30 * time.Second, Clock: clk})
	require.NoError(t, err)
	got, err := s.Samples(ctxFor(t, time.Minute), SampleRequest{Metric: "m", CanaryQuery: "a", BaselineQuery: "b"})
	require.NoError(t, err)
	assert.Equal(t, Samples{Canary: []float64{1, 2, 3}, Baseline: []float64{1, 2, 3}}, got)
	r := f.requests()[0]
	assert.Equal(t, "/api/v1/query_range", r.Path)
	end := time.Date(2026, 1, 1, 12, 0, 30, 0, time.UTC) // aligned to the step
	assert.Equal(t, strconv.FormatInt(end.Unix(), 10), r.Form["end"])
	assert.Equal(t, strconv.FormatInt(end.Add(-5*time.Minute).Unix(), 10), r.Form["start"], "default window: 10 steps")
	assert.Equal(t, "30", r.Form["step"])
}

func TestPrometheusSamplesLookBackToTheReleaseStart(t *testing.T) {
	f := newPromFake(t, always(200, matrixJSON("1")))
	now := time.Date(2026, 1, 1, 12, 0, 47, 0, time.UTC)
	clk := clocktesting.NewFakePassiveClock(now)
	s, err := NewPrometheusSamples(newTestProm(t, f.URL, PrometheusOptions{}), PrometheusSamplesOptions{Step: 30 * time.Second, Clock: clk})
	require.NoError(t, err)
	end := time.Date(2026, 1, 1, 12, 0, 30, 0, time.UTC)
	for _, c := range []struct {
		started time.Time
		window  time.Duration
	}{
		{now.Add(-7 * time.Minute), 7 * time.Minute},             // the canary's whole life
		{now.Add(-10 * time.Second), 30 * time.Second},           // at least one step
		{now.Add(-30 * 24 * time.Hour), 1000 * 30 * time.Second}, // parked for a month: capped
	} {
		_, err := s.Samples(ctxFor(t, time.Minute), SampleRequest{Metric: "m", CanaryQuery: "a", BaselineQuery: "b", Started: c.started})
		require.NoError(t, err)
		r := f.requests()[len(f.requests())-1]
		assert.Equal(t, strconv.FormatInt(end.Add(-c.window).Unix(), 10), r.Form["start"], "started %s ago", now.Sub(c.started))
	}
}

func TestPrometheusSamplesErrors(t *testing.T) {
	f := newPromFake(t, always(400, errorJSON("bad_data", "parse error")))
	s, err := NewPrometheusSamples(newTestProm(t, f.URL, PrometheusOptions{}), PrometheusSamplesOptions{})
	require.NoError(t, err)
	_, err = s.Samples(context.Background(), SampleRequest{Metric: "m", CanaryQuery: "a{", BaselineQuery: "b"})
	var qe *QueryError
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, "bad_data", qe.Type)
	_, err = s.Samples(context.Background(), SampleRequest{Metric: "m"})
	assert.ErrorContains(t, err, "metric m has no query")

	_, err = NewPrometheusSamples(nil, PrometheusSamplesOptions{Step: -1, Window: time.Minute})
	require.ErrorIs(t, err, ErrInvalidOptions)
	assert.ErrorContains(t, err, "Prometheus: required")
	assert.ErrorContains(t, err, "Step: must not be negative")
	_, err = NewPrometheusSamples(&Prometheus{}, PrometheusSamplesOptions{Window: time.Minute})
	assert.ErrorContains(t, err, "needs Step")
	_, err = NewPrometheusSamples(&Prometheus{}, PrometheusSamplesOptions{Step: time.Minute, Window: time.Second})
	assert.ErrorContains(t, err, "shorter than Step")
}
