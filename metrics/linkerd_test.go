package metrics

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
)

// Flagger's built-in Linkerd queries as Flagger v1.44 writes them (pkg/metrics/observers/
// linkerd.go): the built-ins must equal them but for whitespace.
const (
	flaggerSuccessRate = `
      sum(rate(response_total{namespace="{{ namespace }}",deployment=~"{{ target }}",classification!="failure",direction="inbound"}[{{ interval }}]))
      /
      sum(rate(response_total{namespace="{{ namespace }}",deployment=~"{{ target }}",direction="inbound"}[{{ interval }}]))
      * 100`
	flaggerDuration = `
      histogram_quantile(0.99, sum(rate(response_latency_ms_bucket{namespace="{{ namespace }}",deployment=~"{{ target }}",direction="inbound"}[{{ interval }}])) by (le))`
)

func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

func TestLinkerdReturnsTheCallersMap(t *testing.T) {
	m := Linkerd()
	m[RequestSuccessRate] = "vector(0)"
	delete(m, RequestDuration)
	assert.Equal(t, stripSpace(flaggerSuccessRate), stripSpace(Linkerd()[RequestSuccessRate]), "a change to one map is not seen by the next caller")
	assert.Contains(t, Linkerd(), RequestDuration)
}

func TestLinkerdQueriesAreFlaggers(t *testing.T) {
	assert.Len(t, Linkerd(), 2)
	assert.Equal(t, stripSpace(flaggerSuccessRate), stripSpace(Linkerd()[RequestSuccessRate]))
	assert.Equal(t, stripSpace(flaggerDuration), stripSpace(Linkerd()[RequestDuration]))
}

func TestLinkerdQueriesRender(t *testing.T) {
	tgt := canary.Target{Namespace: "test", Name: "podinfo"}
	q, err := canary.RenderQuery(Linkerd()[RequestSuccessRate], canary.VarsFor(tgt, canary.Metric{Interval: 30 * time.Second}))
	require.NoError(t, err)
	assert.Equal(t, `sum(rate(response_total{namespace="test",deployment=~"podinfo",classification!="failure",direction="inbound"}[30s]))`+
		` / sum(rate(response_total{namespace="test",deployment=~"podinfo",direction="inbound"}[30s])) * 100`, q)
	q, err = canary.RenderQuery(Linkerd()[RequestDuration], canary.VarsFor(tgt, canary.Metric{}))
	require.NoError(t, err)
	assert.Equal(t, `histogram_quantile(0.99, sum(rate(response_latency_ms_bucket{namespace="test",deployment=~"podinfo",direction="inbound"}[1m])) by (le))`, q)
}

// TestLinkerdBuiltinsDriveARollout wires Linkerd as the engine's built-ins: a Spec written as
// a Flagger Canary (metrics named, no query) sends the rendered queries to the provider.
func TestLinkerdBuiltinsDriveARollout(t *testing.T) {
	env := canarytest.NewEnv(canary.Target{})
	var (
		mu      sync.Mutex // the engine runs a step's checks side by side
		queries []string
	)
	provider := canary.MetricProviderFunc(func(_ context.Context, q string) (float64, error) {
		mu.Lock()
		queries = append(queries, q)
		mu.Unlock()
		if strings.HasPrefix(q, "histogram_quantile") {
			return 120, nil
		}
		return 99.9, nil
	})
	cfg := env.Config(canary.Spec{Interval: time.Minute, StepWeight: 50, MaxWeight: 50, Metrics: []canary.Metric{
		{Name: RequestSuccessRate, ThresholdRange: canary.AtLeast(99), Interval: time.Minute},
		{Name: RequestDuration, ThresholdRange: canary.AtMost(500), Interval: 30 * time.Second},
	}})
	cfg.Builtins, cfg.Metrics = Linkerd(), provider
	r, err := canary.New(cfg)
	require.NoError(t, err)
	res, err := releaseV2(ctxFor(t, time.Minute), r, env)
	require.NoError(t, err)
	assert.Equal(t, canary.PhaseSucceeded, res.Phase)
	require.NotEmpty(t, queries)
	assert.Contains(t, queries, `histogram_quantile(0.99, sum(rate(response_latency_ms_bucket{namespace="test",deployment=~"podinfo",direction="inbound"}[30s])) by (le))`)
}

func TestLinkerdJudgeMetrics(t *testing.T) {
	src := &fixedSamples{}
	_, err := NewJudge(JudgeOptions{Source: src, Metrics: LinkerdJudgeMetrics()})
	require.NoError(t, err)
	sr, err := sampleRequest(LinkerdJudgeMetrics()[0].withDefaults(), checkReq(canary.Metric{Interval: 30 * time.Second}))
	require.NoError(t, err)
	assert.Equal(t, `100 - sum(rate(response_total{namespace="test",deployment=~"podinfo",classification!="failure",direction="inbound"}[30s]))`+
		` / sum(rate(response_total{namespace="test",deployment=~"podinfo",direction="inbound"}[30s])) * 100`, sr.CanaryQuery)
	assert.Contains(t, sr.BaselineQuery, `deployment=~"podinfo-primary"`)
}

// WholeMilliseconds truncates toward zero as Flagger's time.Duration of milliseconds does; an
// error passes as it is.
func TestWholeMilliseconds(t *testing.T) {
	for _, tc := range []struct{ in, want float64 }{{500.7, 500}, {500, 500}, {0.4, 0}, {1e9 + 0.5, 1e9}} {
		v, err := WholeMilliseconds(canary.MetricProviderFunc(func(context.Context, string) (float64, error) { return tc.in, nil })).Query(context.Background(), "q")
		if err != nil || v != tc.want {
			t.Errorf("%v: got %v, %v; want %v", tc.in, v, err, tc.want)
		}
	}
	boom := errors.New("boom")
	if _, err := WholeMilliseconds(canary.MetricProviderFunc(func(context.Context, string) (float64, error) { return 1.5, boom })).Query(context.Background(), "q"); !errors.Is(err, boom) {
		t.Errorf("error %v, want boom", err)
	}
}
