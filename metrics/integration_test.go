package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/clock"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/internal/testenv/linkerdexp"
	"github.com/canarykit/canarykit/metrics"
)

// The tests in this file run against a real Prometheus (internal/testenv) scraping the
// Linkerd-format exporter every second. They skip when prometheus is not installed, and fail
// when CI=true.

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{}) }

// waitFor polls f until it succeeds or a generous deadline passes; it never asserts on time.
func waitFor(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after 90s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// render renders a built-in query for target as the engine would, with a 10 s interval.
func render(t *testing.T, name string, target canary.Target) string {
	t.Helper()
	q, err := canary.RenderQuery(metrics.Linkerd()[name], canary.VarsFor(target, canary.Metric{Interval: 10 * time.Second}))
	require.NoError(t, err)
	return q
}

func newProvider(t *testing.T, opts metrics.PrometheusOptions) *metrics.Prometheus {
	t.Helper()
	p, err := metrics.NewPrometheus(opts)
	require.NoError(t, err)
	return p
}

// TestPrometheusBuiltinChecks: both built-in checks return the exporter's configured success
// rate and p99 latency.
func TestPrometheusBuiltinChecks(t *testing.T) {
	t.Parallel()
	prom, exp := testenv.SharedPrometheus(t)
	target := canary.Target{Namespace: "it-builtins", Name: "podinfo"}
	// 95 % success; latencies uniform in 100..200 ms, so the p99 lies in the (100, 200] bucket,
	// near its top: histogram_quantile interpolates 0.99 of the way through it.
	exp.SetTraffic(linkerdexp.Workload{Namespace: target.Namespace, Deployment: target.Name}, linkerdexp.Traffic{
		RPS: 100, FailureRatio: 0.05, LatencyMin: 100 * time.Millisecond, LatencyMax: 200 * time.Millisecond,
		Pods: []string{"podinfo-a", "podinfo-b"},
	})
	p := newProvider(t, metrics.PrometheusOptions{Address: prom.URL})
	ctx := context.Background()

	var success, p99 float64
	waitFor(t, "success rate over a full window", func() error {
		var err error
		success, err = p.Query(ctx, render(t, metrics.RequestSuccessRate, target))
		if err == nil && (success < 94 || success > 96) {
			err = errors.New("window not full yet")
		}
		return err
	})
	assert.InDelta(t, 95, success, 1)
	waitFor(t, "p99", func() error {
		var err error
		p99, err = p.Query(ctx, render(t, metrics.RequestDuration, target))
		return err
	})
	assert.Greater(t, p99, 100.0)
	assert.LessOrEqual(t, p99, 200.0)
	assert.InDelta(t, 199, p99, 1.5, "0.99 of the way through (100, 200]")
}

// TestPrometheusNoTraffic: a target whose series stand still (0/0 = NaN) and a target without
// series are both ErrNoData, with the query in the error.
func TestPrometheusNoTraffic(t *testing.T) {
	t.Parallel()
	prom, exp := testenv.SharedPrometheus(t)
	idle := canary.Target{Namespace: "it-idle", Name: "podinfo"}
	exp.SetTraffic(linkerdexp.Workload{Namespace: idle.Namespace, Deployment: idle.Name}, linkerdexp.Traffic{RPS: 1e-9})
	prom.WaitForSeries(t, `count_over_time(response_total{namespace="it-idle"}[1m]) >= 2`)
	p := newProvider(t, metrics.PrometheusOptions{Address: prom.URL})

	q := render(t, metrics.RequestSuccessRate, idle)
	_, err := p.Query(context.Background(), q)
	require.ErrorIs(t, err, canary.ErrNoData)
	assert.Contains(t, err.Error(), "NaN")
	assert.Contains(t, err.Error(), `namespace="it-idle"`)

	_, err = p.Query(context.Background(), render(t, metrics.RequestSuccessRate, canary.Target{Namespace: "it-nothing", Name: "podinfo"}))
	require.ErrorIs(t, err, canary.ErrNoData)
	assert.Contains(t, err.Error(), "empty result")
}

// TestPrometheusBrokenQuery: a query Prometheus cannot parse fails at once with Prometheus'
// own error type and text, and the query.
func TestPrometheusBrokenQuery(t *testing.T) {
	t.Parallel()
	prom, _ := testenv.SharedPrometheus(t)
	p := newProvider(t, metrics.PrometheusOptions{Address: prom.URL})
	broken := `sum(rate(response_total{namespace="it-broken"}[1m])`
	_, err := p.Query(context.Background(), broken)
	var qe *metrics.QueryError
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, "bad_data", qe.Type)
	assert.Equal(t, 1, qe.Attempts)
	assert.Contains(t, err.Error(), `bad_data: invalid parameter "query": 1:52: parse error: unclosed left parenthesis`)
	assert.Contains(t, err.Error(), "query "+broken)

	// Two series, whatever has been scraped yet.
	_, err = p.Query(context.Background(), `label_replace(vector(1), "pod", "a", "", "") or label_replace(vector(2), "pod", "b", "", "")`)
	require.ErrorIs(t, err, metrics.ErrMultipleSeries)
	assert.Contains(t, err.Error(), `2 series, want 1 (aggregate them, e.g. with sum): {pod="a"}, {pod="b"}`)
}

// logLines collects a provider's log lines.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) sink(prefix, args string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, args)
}

func (l *logLines) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if strings.Contains(s, substr) {
			n++
		}
	}
	return n
}

// TestPrometheusStoppedMidTest: with Prometheus killed, a query is retried until its budget
// runs out and then says Prometheus is unavailable, why, and how often it tried; restarted
// during a query's retries, the query succeeds.
func TestPrometheusStoppedMidTest(t *testing.T) {
	t.Parallel()
	prom := testenv.StartPrometheus(t) // its own: this test kills it
	logs := &logLines{}
	p := newProvider(t, metrics.PrometheusOptions{Address: prom.URL, Logger: funcr.New(logs.sink, funcr.Options{Verbosity: 1})})
	v, err := p.Query(context.Background(), "vector(1)")
	require.NoError(t, err)
	require.Equal(t, 1.0, v)

	prom.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err = p.Query(ctx, "vector(1)")
	require.ErrorIs(t, err, metrics.ErrUnavailable)
	require.ErrorIs(t, err, canary.ErrUnavailable, "the engine holds the step rather than counting a failed check")
	var qe *metrics.QueryError
	require.ErrorAs(t, err, &qe)
	assert.Greater(t, qe.Attempts, 1, "retried")
	assert.Contains(t, err.Error(), "could not reach Prometheus at "+prom.URL)
	assert.Contains(t, err.Error(), "connection refused")
	assert.Contains(t, err.Error(), "query vector(1)")
	assert.Positive(t, logs.count("retrying prometheus query"))

	// A query in flight while Prometheus comes back: its retries carry it through.
	retriesBefore := logs.count("retrying prometheus query")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		_, err := p.Query(ctx, "vector(1)")
		done <- err
	}()
	waitFor(t, "the in-flight query to retry", func() error {
		if logs.count("retrying prometheus query") > retriesBefore {
			return nil
		}
		return errors.New("no retry yet")
	})
	prom.Restart(t)
	require.NoError(t, <-done)
}

// TestPrometheusBearerTokenThroughProxy: the provider's token reaches Prometheus through an
// authenticating proxy, which refuses requests without it (a permanent client error).
func TestPrometheusBearerTokenThroughProxy(t *testing.T) {
	t.Parallel()
	prom, _ := testenv.SharedPrometheus(t)
	upstream, err := url.Parse(prom.URL)
	require.NoError(t, err)
	var seen atomic.Int32
	proxy := httputil.NewSingleHostReverseProxy(upstream)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cr3t" {
			http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
		seen.Add(1)
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()

	creds, err := metrics.SecretCredentials(map[string][]byte{"token": []byte("s3cr3t")})
	require.NoError(t, err)
	v, err := newProvider(t, metrics.PrometheusOptions{Address: srv.URL, Credentials: creds}).Query(context.Background(), "vector(42)")
	require.NoError(t, err)
	assert.Equal(t, 42.0, v)
	assert.Equal(t, int32(1), seen.Load())

	_, err = newProvider(t, metrics.PrometheusOptions{Address: srv.URL}).Query(context.Background(), "vector(42)")
	var qe *metrics.QueryError
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, "client_error", qe.Type)
	assert.Equal(t, 1, qe.Attempts, "a 401 is not retried")
	assert.Contains(t, err.Error(), "401")
}

// TestRolloutWithRealPrometheus drives whole Rollouts in real time with the real provider and
// Flagger's built-in Linkerd checks: a good canary is promoted; a canary whose success rate
// drops to 90 % after the first step is rolled back.
func TestRolloutWithRealPrometheus(t *testing.T) {
	t.Parallel()
	prom, exp := testenv.SharedPrometheus(t)
	for _, tc := range []struct {
		name string
		ns   string
		bad  bool
		want canary.Phase
	}{
		{"good canary is promoted", "it-rollout-good", false, canary.PhaseSucceeded},
		{"canary at 90 % is rolled back", "it-rollout-bad", true, canary.PhaseFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			target := canary.Target{Namespace: tc.ns, Name: "podinfo"}
			w := linkerdexp.Workload{Namespace: tc.ns, Deployment: "podinfo"}
			healthy := linkerdexp.Traffic{RPS: 100, LatencyMin: 5 * time.Millisecond, LatencyMax: 50 * time.Millisecond}
			exp.SetTraffic(w, healthy)
			p := newProvider(t, metrics.PrometheusOptions{Address: prom.URL})
			waitFor(t, "the canary's first full window", func() error {
				v, err := p.Query(context.Background(), render(t, metrics.RequestSuccessRate, target))
				if err == nil && v < 99.9 {
					err = errors.New("not yet")
				}
				return err
			})

			env := canarytest.NewEnv(target)
			cfg := env.Config(canary.Spec{
				Interval: 2 * time.Second, StepWeight: 25, MaxWeight: 75, Threshold: 2,
				Metrics: []canary.Metric{
					{Name: metrics.RequestSuccessRate, ThresholdRange: canary.AtLeast(99), Interval: 10 * time.Second},
					{Name: metrics.RequestDuration, ThresholdRange: canary.AtMost(500), Interval: 10 * time.Second},
				},
			})
			cfg.Builtins, cfg.Metrics, cfg.Clock = metrics.Linkerd(), p, clock.RealClock{}
			switched := false
			env.Events.Then = func(e canary.Event) {
				if tc.bad && !switched && e.Reason == canary.ReasonAdvanced {
					switched = true
					exp.SetTraffic(w, linkerdexp.Traffic{RPS: 100, FailureRatio: 0.1, LatencyMin: 5 * time.Millisecond, LatencyMax: 50 * time.Millisecond})
				}
			}
			r, err := canary.New(cfg)
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			_, err = r.Run(ctx) // bootstrap
			require.NoError(t, err)
			env.Workload.SetRevision("v2")
			res, err := r.Run(ctx)
			require.NoError(t, err)
			assert.Equal(t, tc.want, res.Phase, "%s; events:\n%s", res.Reason, strings.Join(env.Events.Messages(), "\n"))
			if !tc.bad {
				assert.Equal(t, []int{25, 50, 75, 0}, res.Weights)
				return
			}
			assert.Equal(t, "failed checks threshold reached 2", res.Reason)
			var halts []canary.CheckResult
			for _, e := range env.Events.Events() {
				if e.Reason == canary.ReasonHalted {
					assert.Contains(t, e.Message, "Halt podinfo."+tc.ns+" advancement request-success-rate ")
					assert.Contains(t, e.Message, " < 99")
					for _, c := range e.Checks {
						if c.Name == metrics.RequestSuccessRate {
							halts = append(halts, c)
						}
					}
				}
			}
			require.NotEmpty(t, halts)
			last := halts[len(halts)-1]
			assert.Equal(t, canary.VerdictFail, last.Verdict)
			assert.Less(t, last.Value, 99.0)
			assert.Greater(t, last.Value, 85.0)
			assert.Contains(t, last.Query, `deployment=~"podinfo"`)
		})
	}
}

// TestJudgeWithRealPrometheus: the judge's range queries compare the canary's error ratio
// with the primary's, per 2 s step: a canary failing 20 % of requests is High against a
// healthy primary, the same canary when healthy passes.
func TestJudgeWithRealPrometheus(t *testing.T) {
	t.Parallel()
	prom, exp := testenv.SharedPrometheus(t)
	target := canary.Target{Namespace: "it-judge", Name: "podinfo"}
	canaryW := linkerdexp.Workload{Namespace: target.Namespace, Deployment: target.Name}
	primaryW := linkerdexp.Workload{Namespace: target.Namespace, Deployment: target.PrimaryName()}
	healthy := linkerdexp.Traffic{RPS: 200, LatencyMin: 5 * time.Millisecond, LatencyMax: 50 * time.Millisecond}
	exp.SetTraffic(primaryW, healthy)
	exp.SetTraffic(canaryW, linkerdexp.Traffic{RPS: 200, FailureRatio: 0.2, LatencyMin: 5 * time.Millisecond, LatencyMax: 50 * time.Millisecond})

	p := newProvider(t, metrics.PrometheusOptions{Address: prom.URL})
	src, err := metrics.NewPrometheusSamples(p, metrics.PrometheusSamplesOptions{Step: 2 * time.Second, Window: 20 * time.Second})
	require.NoError(t, err)
	jm := metrics.LinkerdJudgeMetrics()
	for i := range jm {
		jm[i].MinSamples = 6
	}
	j, err := metrics.NewJudge(metrics.JudgeOptions{Source: src, Metrics: jm})
	require.NoError(t, err)
	req := canary.CheckRequest{Metric: canary.Metric{Name: "canary-judge", Interval: 2 * time.Second}, Target: target}

	verdict := func(what string, want canary.Verdict) canary.CheckResult {
		var res canary.CheckResult
		waitFor(t, what, func() error {
			res, err = j.Check(context.Background(), req)
			if err == nil && res.Verdict != want {
				err = errors.New(res.Message)
			}
			return err
		})
		return res
	}
	res := verdict("a verdict on the failing canary", canary.VerdictFail)
	assert.Contains(t, res.Message, "error-ratio High (critical)")
	assert.Contains(t, res.Query, `deployment=~"podinfo-primary"`)

	exp.SetTraffic(canaryW, healthy)
	res = verdict("a pass once the canary is healthy over the whole window", canary.VerdictPass)
	assert.Equal(t, 100.0, res.Value)
}

// TestPrometheusProvidersShareConnections: forty providers of one Pool querying a real
// Prometheus at once open at most the pool's bound of connections, counted by Prometheus
// itself (net_conntrack_listener_conn_accepted_total on its /metrics).
func TestPrometheusProvidersShareConnections(t *testing.T) {
	t.Parallel()
	prom := testenv.StartPrometheus(t) // its own: connections from other tests would count
	accepted := func() float64 {
		t.Helper()
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, prom.URL+"/metrics", nil)
		require.NoError(t, err)
		res, err := c.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		for _, line := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(line, `net_conntrack_listener_conn_accepted_total{listener_name="http"}`) {
				v, err := strconv.ParseFloat(strings.TrimSpace(line[strings.LastIndex(line, " "):]), 64)
				require.NoError(t, err, line)
				return v
			}
		}
		t.Fatalf("no net_conntrack_listener_conn_accepted_total in Prometheus' /metrics")
		return 0
	}
	const bound = 4
	pool := metrics.NewPool(metrics.PoolOptions{MaxConnsPerServer: bound})
	ps := make([]*metrics.Prometheus, 40)
	for i := range ps {
		ps[i] = newProvider(t, metrics.PrometheusOptions{Address: prom.URL, Pool: pool})
	}
	before := accepted()
	for range 3 {
		errs := make(chan error, len(ps))
		for _, p := range ps {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				_, err := p.Query(ctx, "vector(1)")
				errs <- err
			}()
		}
		for range ps {
			assert.NoError(t, <-errs)
		}
	}
	// The second reading's own connection is counted too.
	assert.LessOrEqual(t, accepted()-before, float64(bound+1))
}

// TestSequentialWithRealPrometheus: PrometheusCounts' range queries over the Linkerd-format
// exporter give the sequential test its counts per 2 s step: a canary failing twice as often as
// its primary is a regression; the same canary, healthy, counted from a new release start (a
// new revision), is passed on the new evidence alone.
func TestSequentialWithRealPrometheus(t *testing.T) {
	t.Parallel()
	prom, exp := testenv.SharedPrometheus(t)
	target := canary.Target{Namespace: "it-sequential", Name: "podinfo"}
	canaryW := linkerdexp.Workload{Namespace: target.Namespace, Deployment: target.Name}
	primaryW := linkerdexp.Workload{Namespace: target.Namespace, Deployment: target.PrimaryName()}
	healthy := linkerdexp.Traffic{RPS: 100, FailureRatio: 0.1, LatencyMin: 5 * time.Millisecond}
	exp.SetTraffic(primaryW, linkerdexp.Traffic{RPS: 400, FailureRatio: 0.1, LatencyMin: 5 * time.Millisecond})
	exp.SetTraffic(canaryW, linkerdexp.Traffic{RPS: 100, FailureRatio: 0.2, LatencyMin: 5 * time.Millisecond})

	p := newProvider(t, metrics.PrometheusOptions{Address: prom.URL})
	src, err := metrics.NewPrometheusCounts(p, metrics.PrometheusCountsOptions{})
	require.NoError(t, err)
	s, err := metrics.NewSequential(metrics.SequentialOptions{Source: src})
	require.NoError(t, err)
	req := canary.CheckRequest{Metric: canary.Metric{Name: "sequential", Interval: 2 * time.Second}, Target: target, Started: time.Now()}

	verdict := func(what string, want canary.Verdict) canary.CheckResult {
		var res canary.CheckResult
		waitFor(t, what, func() error {
			res, err = s.Check(context.Background(), req)
			if err == nil && res.Verdict != want {
				err = errors.New(res.Message)
			}
			return err
		})
		return res
	}
	res := verdict("a regression", canary.VerdictFail)
	assert.InDelta(t, 2, res.Value, 0.5, res.Message)

	exp.SetTraffic(canaryW, healthy)
	req.Started = time.Now() // a new revision: its own evidence only, from its start
	res = verdict("no regression, from the new start", canary.VerdictPass)
	assert.InDelta(t, 1, res.Value, 0.3, res.Message)
}
