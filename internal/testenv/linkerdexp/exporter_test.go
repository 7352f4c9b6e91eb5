package linkerdexp_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/canarykit/canarykit/internal/testenv/linkerdexp"
)

func exposition(t *testing.T, e *linkerdexp.Exporter) string {
	t.Helper()
	var b strings.Builder
	_, err := e.WriteTo(&b)
	require.NoError(t, err)
	return b.String()
}

func TestRecordServesLinkerdShapedSeries(t *testing.T) {
	var e linkerdexp.Exporter // the zero value works
	w := linkerdexp.Workload{Namespace: "test", Deployment: "podinfo"}
	e.Record(w, "podinfo-1", 200, 3*time.Millisecond)
	e.Record(w, "podinfo-1", 200, 40*time.Millisecond)
	e.Record(w, "podinfo-1", 503, 2*time.Second)

	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	assert.Equal(t, "text/plain; version=0.0.4; charset=utf-8", rec.Header().Get("Content-Type"))
	out := rec.Body.String()

	labels := `direction="inbound",authority="podinfo.test.svc.cluster.local:8080",tls="true",status_code="%s",namespace="test",deployment="podinfo",pod="podinfo-1"`
	ok := strings.Replace(labels, "%s", "200", 1)
	fail := strings.Replace(labels, "%s", "503", 1)
	for _, line := range []string{
		"# TYPE response_total counter",
		"response_total{" + ok + `,classification="success"} 2`,
		"response_total{" + fail + `,classification="failure"} 1`,
		"# TYPE response_latency_ms histogram",
		"response_latency_ms_bucket{" + ok + `,le="2"} 0`,
		"response_latency_ms_bucket{" + ok + `,le="3"} 1`,
		"response_latency_ms_bucket{" + ok + `,le="40"} 2`,
		"response_latency_ms_bucket{" + ok + `,le="50000"} 2`,
		"response_latency_ms_bucket{" + ok + `,le="+Inf"} 2`,
		"response_latency_ms_sum{" + ok + `} 43`,
		"response_latency_ms_count{" + ok + `} 2`,
		"response_latency_ms_bucket{" + fail + `,le="1000"} 0`,
		"response_latency_ms_bucket{" + fail + `,le="2000"} 1`,
	} {
		assert.Contains(t, out, line+"\n")
	}
	requests, failures := e.Totals(w)
	assert.Equal(t, uint64(3), requests)
	assert.Equal(t, uint64(1), failures)
}

func TestLabelValuesAreEscaped(t *testing.T) {
	var e linkerdexp.Exporter
	e.Record(linkerdexp.Workload{Namespace: "a", Deployment: "b"}, "p\"o\\d\n", 200, 0)
	assert.Contains(t, exposition(t, &e), `pod="p\"o\\d\n"`)
}

func TestSyntheticTrafficFollowsTheClock(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	e := linkerdexp.New(linkerdexp.Options{Clock: clk, Seed: 7})
	w := linkerdexp.Workload{Namespace: "test", Deployment: "podinfo"}
	e.SetTraffic(w, linkerdexp.Traffic{RPS: 10, FailureRatio: 0.25, LatencyMin: 5 * time.Millisecond, LatencyMax: 15 * time.Millisecond,
		Pods: []string{"a", "b"}})

	// The series exist at zero before any request.
	assert.Contains(t, exposition(t, e), `response_total{direction="inbound",authority="podinfo.test.svc.cluster.local:8080",tls="true",status_code="500",namespace="test",deployment="podinfo",pod="a",classification="failure"} 0`)

	clk.SetTime(clk.Now().Add(2050 * time.Millisecond))
	requests, failures := e.Totals(w)
	assert.Equal(t, uint64(20), requests)
	assert.Equal(t, uint64(5), failures) // spread evenly: exactly 25 %

	// Drop to 50 % failures mid-way: the requests already due keep the old ratio.
	e.SetTraffic(w, linkerdexp.Traffic{RPS: 10, FailureRatio: 0.5, Pods: []string{"a", "b"}})
	clk.SetTime(clk.Now().Add(950 * time.Millisecond)) // with the 0.5 request carried: 10 more
	requests, failures = e.Totals(w)
	assert.Equal(t, uint64(30), requests)
	assert.Equal(t, uint64(10), failures)

	// Stopping traffic freezes the counters.
	e.SetTraffic(w, linkerdexp.Traffic{})
	clk.SetTime(clk.Now().Add(time.Hour))
	requests, _ = e.Totals(w)
	assert.Equal(t, uint64(30), requests)
}

func TestSyntheticTrafficIsReproducible(t *testing.T) {
	run := func() string {
		clk := clocktesting.NewFakePassiveClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		e := linkerdexp.New(linkerdexp.Options{Clock: clk, Seed: 42})
		for _, d := range []string{"primary", "canary"} {
			e.SetTraffic(linkerdexp.Workload{Namespace: "test", Deployment: d},
				linkerdexp.Traffic{RPS: 50, FailureRatio: 0.1, LatencyMin: time.Millisecond, LatencyMax: time.Second})
		}
		clk.SetTime(clk.Now().Add(10 * time.Second))
		var b strings.Builder
		_, err := e.WriteTo(&b)
		require.NoError(t, err)
		return b.String()
	}
	first := run()
	assert.True(t, first == run(), "two runs with one seed differ")
	assert.True(t, strings.Contains(first, `deployment="canary",pod="canary-0",classification="failure"} 50`+"\n"), "want 50 failed canary requests of 500")
}

func TestRecordAddressedKeepsTheAuthority(t *testing.T) {
	e := linkerdexp.New(linkerdexp.Options{})
	w := linkerdexp.Workload{Namespace: "test", Deployment: "podinfo-primary"}
	e.RecordAddressed(w, "a", "podinfo.test:9898", 200, time.Millisecond)
	e.RecordAddressed(w, "a", "podinfo.test:9898", 200, time.Millisecond)
	e.Record(w, "a", 200, time.Millisecond)
	out := exposition(t, e)
	assert.Contains(t, out, `response_total{direction="inbound",authority="podinfo.test:9898",tls="true",status_code="200",namespace="test",deployment="podinfo-primary",pod="a",classification="success"} 2`)
	assert.Contains(t, out, `response_total{direction="inbound",authority="podinfo-primary.test.svc.cluster.local:8080",tls="true",status_code="200",namespace="test",deployment="podinfo-primary",pod="a",classification="success"} 1`)
}

type fixedSource string

func (f fixedSource) WriteTo(w io.Writer) (int64, error) {
	n, err := io.WriteString(w, string(f))
	return int64(n), err
}

func TestAttachedSourcesFollowTheExporterSeries(t *testing.T) {
	e := linkerdexp.New(linkerdexp.Options{})
	e.Record(linkerdexp.Workload{Namespace: "test", Deployment: "podinfo"}, "a", 200, time.Millisecond)
	detach := e.Attach(fixedSource("istio_requests_total{reporter=\"destination\"} 3\n"))
	out := exposition(t, e)
	assert.Contains(t, out, "response_total{")
	assert.True(t, strings.HasSuffix(out, "istio_requests_total{reporter=\"destination\"} 3\n"), out)
	detach()
	assert.NotContains(t, exposition(t, e), "istio_requests_total")
}
