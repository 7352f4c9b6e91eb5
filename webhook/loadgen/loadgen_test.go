package loadgen_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/canarykit/canarykit/webhook/loadgen"
)

// canaryServer counts requests and the most in flight at once, answering with status.
type canaryServer struct {
	status   atomic.Int32
	requests atomic.Int64
	inFlight atomic.Int32
	maxSeen  atomic.Int32
	delay    time.Duration

	mu   sync.Mutex
	last *http.Request
	body string
}

func (s *canaryServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		m := s.maxSeen.Load()
		if n <= m || s.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.last, s.body = r, string(b)
	s.mu.Unlock()
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	s.requests.Add(1)
	if st := s.status.Load(); st != 0 {
		w.WriteHeader(int(st))
	}
}

func serve(t *testing.T, s *canaryServer) string {
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv.URL
}

func newGen(t *testing.T, cfg loadgen.Config) *loadgen.Generator {
	t.Helper()
	g, err := loadgen.New(cfg)
	require.NoError(t, err)
	t.Cleanup(g.Stop)
	return g
}

func allow(t *testing.T, g canary.Gate) (bool, error) {
	t.Helper()
	return g.Allow(context.Background(), canary.GateRequest{Hook: canary.Webhook{Name: "load", Type: canary.HookRollout}})
}

func wait(t *testing.T, g *loadgen.Generator) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, g.Wait(ctx))
}

func TestARunIsBoundedInCount(t *testing.T) {
	s := &canaryServer{}
	g := newGen(t, loadgen.Config{URL: serve(t, s), Rate: 2000, Concurrency: 4, Duration: time.Minute, MaxRequests: 50})
	ok, err := allow(t, g)
	require.NoError(t, err)
	assert.True(t, ok)
	wait(t, g)
	assert.Equal(t, int64(50), s.requests.Load())
	st := g.Stats()
	assert.Equal(t, loadgen.Stats{Runs: 1, Requests: 50}, st)
}

func TestARunIsBoundedInTime(t *testing.T) {
	s := &canaryServer{}
	g := newGen(t, loadgen.Config{URL: serve(t, s), Rate: 50, Duration: 200 * time.Millisecond, MaxRequests: 1_000_000})
	_, err := allow(t, g)
	require.NoError(t, err)
	wait(t, g)
	// At 50/s for 200ms: the first request at once, then at most one per 20ms tick.
	n := s.requests.Load()
	assert.Positive(t, n)
	assert.LessOrEqual(t, n, int64(11))
	assert.False(t, g.Stats().Running)
}

func TestConcurrencyBoundsRequestsInFlight(t *testing.T) {
	s := &canaryServer{delay: 5 * time.Millisecond}
	g := newGen(t, loadgen.Config{URL: serve(t, s), Rate: 5000, Concurrency: 3, MaxRequests: 60})
	_, err := allow(t, g)
	require.NoError(t, err)
	wait(t, g)
	assert.Equal(t, int64(60), s.requests.Load())
	assert.LessOrEqual(t, s.maxSeen.Load(), int32(3))
}

func TestARunInProgressIsNotRestarted(t *testing.T) {
	s := &canaryServer{}
	g := newGen(t, loadgen.Config{URL: serve(t, s), Rate: 10, Duration: time.Minute})
	for range 3 {
		ok, err := allow(t, g)
		require.NoError(t, err)
		assert.True(t, ok)
	}
	st := g.Stats()
	assert.Equal(t, 1, st.Runs, "like the loadtester, a command still running is skipped")
	assert.True(t, st.Running)
	g.Stop()
	assert.False(t, g.Stats().Running)
	_, err := allow(t, g)
	require.NoError(t, err)
	assert.Equal(t, 2, g.Stats().Runs, "a new call after the run ended starts another")
}

func TestErrorRatioFailsTheCheck(t *testing.T) {
	s := &canaryServer{}
	s.status.Store(http.StatusServiceUnavailable)
	url := serve(t, s)
	g := newGen(t, loadgen.Config{URL: url, Rate: 5000, MaxRequests: 30, MaxErrorRatio: 0.1, MinRequests: 10})
	ok, err := allow(t, g)
	require.NoError(t, err, "nothing measured yet")
	assert.True(t, ok)
	wait(t, g)

	ok, err = allow(t, g)
	assert.False(t, ok)
	require.ErrorIs(t, err, loadgen.ErrTooManyErrors)
	assert.EqualError(t, err, "too many failed requests: 30 of 30 requests to "+url+" failed (100%, more than 10%); last: status 503 Service Unavailable")
	wait(t, g)

	s.status.Store(http.StatusOK)
	g.Stop()
	_, _ = allow(t, g) // judges the second run's failures and starts a third, healthy run
	wait(t, g)
	ok, err = allow(t, g)
	require.NoError(t, err, "only requests since the previous call count")
	assert.True(t, ok)
	assert.Equal(t, uint64(60), g.Stats().Errors)
}

func TestTooFewRequestsAreNotJudged(t *testing.T) {
	s := &canaryServer{}
	s.status.Store(http.StatusInternalServerError)
	g := newGen(t, loadgen.Config{URL: serve(t, s), Rate: 5000, MaxRequests: 5, MaxErrorRatio: 0.1})
	_, _ = allow(t, g)
	wait(t, g)
	ok, err := allow(t, g)
	require.NoError(t, err)
	assert.True(t, ok, "5 requests are fewer than the default MinRequests 20")
	assert.Equal(t, "status 500 Internal Server Error", g.Stats().LastError)
}

func TestRequestShape(t *testing.T) {
	s := &canaryServer{}
	g := newGen(t, loadgen.Config{URL: serve(t, s) + "/token", Method: http.MethodPost, Body: []byte("test"),
		Header: http.Header{"X-Canary": {"always"}}, MaxRequests: 1})
	_, _ = allow(t, g)
	wait(t, g)
	s.mu.Lock()
	defer s.mu.Unlock()
	assert.Equal(t, "POST", s.last.Method)
	assert.Equal(t, "/token", s.last.URL.Path)
	assert.Equal(t, "always", s.last.Header.Get("X-Canary"))
	assert.Equal(t, "test", s.body)
}

func TestConnectionErrorsCount(t *testing.T) {
	g := newGen(t, loadgen.Config{URL: "http://127.0.0.1:1/", Rate: 1000, MaxRequests: 3})
	_, _ = allow(t, g)
	wait(t, g)
	st := g.Stats()
	assert.Equal(t, uint64(3), st.Errors)
	assert.Contains(t, st.LastError, "connection refused")
}

func TestNewReportsEveryProblem(t *testing.T) {
	_, err := loadgen.New(loadgen.Config{URL: "podinfo-canary:9898", Rate: -1, Concurrency: -1, MaxErrorRatio: 2, Duration: -1})
	require.ErrorIs(t, err, loadgen.ErrInvalidConfig)
	for _, want := range []string{"URL", "Rate", "Concurrency", "Duration", "MaxErrorRatio"} {
		assert.Contains(t, err.Error(), want)
	}
}

// The generator as the rollout hook of a whole simulated release: the release runs in
// virtual time, the load in real time against a loopback canary.
func TestLoadDuringARelease(t *testing.T) {
	s := &canaryServer{}
	// each run ends after 10 requests: one that its deadline cut short might send none
	g := newGen(t, loadgen.Config{URL: serve(t, s), Rate: 200, Duration: time.Minute, MaxRequests: 10})
	env := canarytest.NewEnv(canary.Target{})
	env.Metrics.Set("request-success-rate", canarytest.Constant(100))
	cfg := env.Config(canary.Spec{Interval: 30 * time.Second, StepWeight: 20, MaxWeight: 60,
		Metrics: []canary.Metric{{Name: "request-success-rate", ThresholdRange: canary.AtLeast(99)}}})
	cfg.Gates = g.Hooks("load-test")
	r, err := canary.New(cfg)
	require.NoError(t, err)
	ctx := context.Background()
	_, err = r.Run(ctx)
	require.NoError(t, err)
	env.Workload.SetRevision("v1")
	res, err := r.Run(ctx)
	require.NoError(t, err)
	assert.Equal(t, canary.PhaseSucceeded, res.Phase)
	wait(t, g)
	st := g.Stats()
	assert.GreaterOrEqual(t, st.Runs, 1)
	assert.Positive(t, s.requests.Load())
	assert.LessOrEqual(t, st.Requests, uint64(st.Runs*10), "each run is bounded by MaxRequests")
	assert.Zero(t, st.Errors)
}
