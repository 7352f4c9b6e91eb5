package testenv_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/internal/testenv/linkerdexp"
)

// Flagger's built-in Linkerd checks (metrics.Linkerd) with interval 1m.
const (
	successRateQuery = `sum(rate(response_total{namespace="%[1]s",deployment=~"%[2]s",classification!="failure",direction="inbound"}[1m]))
/
sum(rate(response_total{namespace="%[1]s",deployment=~"%[2]s",direction="inbound"}[1m]))
* 100`
	durationQuery = `histogram_quantile(0.99, sum(rate(response_latency_ms_bucket{namespace="%[1]s",deployment=~"%[2]s",direction="inbound"}[1m])) by (le))`
)

func TestPrometheusScrapesTheExporter(t *testing.T) {
	prom, _ := testenv.SharedPrometheus(t)
	up := prom.WaitForSeries(t, `up == 1`)
	require.Len(t, up, 1)
	assert.Equal(t, "target-0", up[0].Labels["job"])
	t.Logf("first scrape seen %v after Prometheus started", time.Since(prom.Started()).Round(time.Millisecond))
}

func TestPrometheusComputesFlaggerChecksFromTheExporter(t *testing.T) {
	prom, exp := testenv.SharedPrometheus(t)
	w := linkerdexp.Workload{Namespace: "flagger-checks", Deployment: "podinfo"}
	exp.SetTraffic(w, linkerdexp.Traffic{
		RPS: 200, FailureRatio: 0.1, LatencyMin: 10 * time.Millisecond, LatencyMax: 20 * time.Millisecond,
		Pods: []string{"podinfo-a", "podinfo-b"},
	})

	successRate := fmt.Sprintf(successRateQuery, w.Namespace, w.Deployment)
	assert.InDelta(t, 90, prom.WaitForValue(t, successRate), 1)

	// histogram_quantile interpolates inside the (10, 20] bucket: only the range is certain.
	p99 := prom.WaitForValue(t, fmt.Sprintf(durationQuery, w.Namespace, w.Deployment))
	assert.Greater(t, p99, 10.0)
	assert.LessOrEqual(t, p99, 20.0)

	// Both pods report, with the labels Flagger's queries filter on.
	samples := prom.WaitForSeries(t, fmt.Sprintf(`sum by (pod, classification, status_code) (response_total{namespace=%q,deployment=%q,direction="inbound",tls="true"})`, w.Namespace, w.Deployment))
	assert.Len(t, samples, 4)

}

func TestPrometheusNaNMeansNoData(t *testing.T) {
	prom, exp := testenv.SharedPrometheus(t)
	w := linkerdexp.Workload{Namespace: "idle", Deployment: "podinfo"}
	// The series appear at zero and never move: a target without traffic.
	exp.SetTraffic(w, linkerdexp.Traffic{RPS: 1e-9})
	prom.WaitForSeries(t, fmt.Sprintf(`count_over_time(response_total{namespace=%q}[1m]) >= 2`, w.Namespace))

	query := fmt.Sprintf(successRateQuery, w.Namespace, w.Deployment)
	samples, err := prom.Query(context.Background(), query)
	require.NoError(t, err)
	require.Len(t, samples, 1)
	assert.True(t, math.IsNaN(samples[0].Value), "0/0 is NaN, got %v", samples[0].Value)
	_, err = prom.QueryValue(context.Background(), query)
	require.ErrorIs(t, err, testenv.ErrNoData)

	_, err = prom.QueryValue(context.Background(), `response_total{namespace="no-such-namespace"}`)
	require.ErrorIs(t, err, testenv.ErrNoData)
}

func TestPrometheusQueryLogCountsQueries(t *testing.T) {
	prom, _ := testenv.SharedPrometheus(t)
	const marker = `query_log_test`
	mark := prom.QueryMark(t)
	for i := range 3 {
		_, err := prom.Query(context.Background(), fmt.Sprintf(`vector(%d) + on() group_left() count(up{job!=%q})`, i, marker))
		require.NoError(t, err)
	}
	_, err := prom.Query(context.Background(), `vector(1)`)
	require.NoError(t, err)

	assert.Len(t, prom.QueriesSince(t, mark, marker), 3)
	all := prom.QueriesSince(t, mark, "")
	require.Len(t, all, 4)
	assert.Equal(t, "vector(1)", all[3].Query)
	assert.Equal(t, "/api/v1/query", all[3].Path)
}

// Last of the Prometheus tests: after a restart the first scrape is ~5 s away again.
func TestPrometheusKillAndRestartKeepTheSeries(t *testing.T) {
	prom, exp := testenv.SharedPrometheus(t)
	w := linkerdexp.Workload{Namespace: "restart", Deployment: "podinfo"}
	exp.SetTraffic(w, linkerdexp.Traffic{RPS: 100, FailureRatio: 0.2})
	query := fmt.Sprintf(successRateQuery, w.Namespace, w.Deployment)
	assert.InDelta(t, 80, prom.WaitForValue(t, query), 1)

	prom.Kill()
	_, err := prom.QueryValue(context.Background(), query)
	require.Error(t, err)
	require.NotErrorIs(t, err, testenv.ErrNoData)

	prom.Restart(t)
	v, err := prom.QueryValue(context.Background(), query)
	require.NoError(t, err)
	assert.InDelta(t, 80, v, 1)
}
