package driver

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/canarykit/canarykit/kube"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
	clocktesting "k8s.io/utils/clock/testing"
)

// logLines collects a logger's lines.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		l.mu.Lock()
		l.lines = append(l.lines, args)
		l.mu.Unlock()
	}, funcr.Options{})
}

// with returns the lines that contain s.
func (l *logLines) with(s string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return out
}

// The client rate limit follows the number of targets and their interval: 6 requests per
// target and interval, twice over, with a burst of 16 requests per target; never below the
// defaults.
func TestRateLimitIsSizedForTheTargets(t *testing.T) {
	for _, c := range []struct {
		targets  int
		interval time.Duration
		qps      float32
		burst    int
	}{
		{1000, 10 * time.Second, 1200, 16000},
		{200, 10 * time.Second, 240, 3200},
		{60, 10 * time.Second, 72, 960},
		{20, 10 * time.Second, DefaultQPS, 320},
		{5, 10 * time.Second, DefaultQPS, DefaultBurst},
		{500, 5 * time.Second, 1200, 8000},
		{1000, time.Second, 12000, 24000}, // twice the QPS when the interval is short
		{0, 0, DefaultQPS, DefaultBurst},
		{10, 0, DefaultQPS, DefaultBurst},
	} {
		qps, burst := RateLimit(c.targets, c.interval)
		assert.Equal(t, c.qps, qps, "%d targets at %s", c.targets, c.interval)
		assert.Equal(t, c.burst, burst, "%d targets at %s", c.targets, c.interval)
	}
	// targets of several intervals: each one's share
	qps, burst := limitFor(map[time.Duration]int{10 * time.Second: 100, time.Minute: 100})
	assert.Equal(t, float32(120+20), qps)
	assert.Equal(t, 3200, burst)

	_, err := New(Options{Config: &rest.Config{Host: "https://127.0.0.1:1"}, Targets: -1})
	assert.ErrorContains(t, err, "Options.Targets")
}

// With no limit in Options.Config the driver's limit follows the running targets: it rises as
// they start and falls back as they stop, never below the defaults (or the size given in
// Options), and is logged at significant steps only. Every client of the driver shares it.
func TestAdaptiveRateLimitFollowsTheRunningTargets(t *testing.T) {
	var logs logLines
	d, err := New(Options{Config: &rest.Config{Host: "https://127.0.0.1:1"}, Logger: logs.logger()})
	require.NoError(t, err)
	defer d.Close()
	require.NotNil(t, d.limiter)
	assert.Same(t, d.limiter, d.config.RateLimiter)
	assert.Same(t, d.limiter, d.client.CoreV1().RESTClient().GetRateLimiter(), "the typed clients share the budget")
	assert.Same(t, d.limiter, d.client.CoordinationV1().RESTClient().GetRateLimiter())
	qps, burst := d.RateLimit()
	assert.Equal(t, float32(DefaultQPS), qps)
	assert.Equal(t, DefaultBurst, burst)

	for range 20 {
		d.rate.add(10*time.Second, 1)
	}
	qps, burst = d.RateLimit()
	assert.Equal(t, float32(DefaultQPS), qps, "20 targets: not below the default QPS")
	assert.Equal(t, 320, burst, "20 targets start at once")
	assert.Empty(t, logs.with("client rate limit set"), "a change of the burst only is not logged")
	for range 980 {
		d.rate.add(10*time.Second, 1)
	}
	qps, burst = d.RateLimit()
	wantQPS, wantBurst := RateLimit(1000, 10*time.Second)
	assert.Equal(t, wantQPS, qps)
	assert.Equal(t, wantBurst, burst)
	set := logs.with("client rate limit set")
	assert.NotEmpty(t, set)
	assert.LessOrEqual(t, len(set), 15, "logged at significant steps, not per target: %v", set)
	assert.Contains(t, set[len(set)-1], `"targets"=`)

	d.rate.add(time.Minute, 1) // a target of another interval
	qps, _ = d.RateLimit()
	assert.Equal(t, float32(1201), qps)
	d.rate.add(time.Minute, -1)
	for range 1000 {
		d.rate.add(10*time.Second, -1)
	}
	qps, burst = d.RateLimit()
	assert.Equal(t, float32(DefaultQPS), qps, "back to the defaults")
	assert.Equal(t, DefaultBurst, burst)
	set = logs.with("client rate limit set")
	assert.Contains(t, set[len(set)-1], `"qps"=50`, "the return to the defaults is logged")
	assert.Empty(t, logs.with("warning"), "an adaptive limit never warns")

	// sized in advance: the size is the floor
	sized, err := New(Options{Config: &rest.Config{Host: "https://127.0.0.1:1"}, Targets: 500, Interval: 5 * time.Second})
	require.NoError(t, err)
	defer sized.Close()
	qps, burst = sized.RateLimit()
	assert.Equal(t, float32(1200), qps)
	assert.Equal(t, 8000, burst)
	sized.rate.add(5*time.Second, 1)
	qps, _ = sized.RateLimit()
	assert.Equal(t, float32(1200), qps, "below the size")
	for range 999 {
		sized.rate.add(5*time.Second, 1)
	}
	qps, burst = sized.RateLimit()
	assert.Equal(t, float32(2400), qps, "above the size")
	assert.Equal(t, 16000, burst)
	for range 1000 {
		sized.rate.add(5*time.Second, -1)
	}
	qps, burst = sized.RateLimit()
	assert.Equal(t, float32(1200), qps)
	assert.Equal(t, 8000, burst)
}

// An embedder's own limit is kept, whatever the targets: Config.QPS and Burst as one budget of
// the driver's, Config.RateLimiter as it is, a QPS below 0 as no limit.
func TestEmbedderRateLimitIsKept(t *testing.T) {
	var logs logLines
	d, err := New(Options{Config: &rest.Config{Host: "https://127.0.0.1:1", QPS: 7, Burst: 9}, Targets: 500, Logger: logs.logger()})
	require.NoError(t, err)
	defer d.Close()
	assert.Same(t, d.limiter, d.client.CoreV1().RESTClient().GetRateLimiter(), "one budget")
	for range 100 {
		d.rate.add(10*time.Second, 1)
	}
	qps, burst := d.RateLimit()
	assert.Equal(t, float32(7), qps, "the embedder's own limit is kept")
	assert.Equal(t, 9, burst)
	assert.Len(t, logs.with("warning"), 1, "100 targets expect 60 requests/s of 7")
	assert.Empty(t, logs.with("client rate limit set"))

	half, err := New(Options{Config: &rest.Config{Host: "https://127.0.0.1:1", QPS: 300}, Targets: 100})
	require.NoError(t, err)
	defer half.Close()
	qps, burst = half.RateLimit()
	assert.Equal(t, float32(300), qps)
	assert.Equal(t, 1600, burst, "the burst unset: RateLimit(100, 10 s)'s")

	own := flowcontrol.NewTokenBucketRateLimiter(3, 4)
	e, err := New(Options{Config: &rest.Config{Host: "https://127.0.0.1:1", RateLimiter: own, Burst: 4}})
	require.NoError(t, err)
	defer e.Close()
	assert.Same(t, own, e.config.RateLimiter)
	assert.Nil(t, e.limiter)
	e.rate.add(10*time.Second, 1)
	qps, burst = e.RateLimit()
	assert.Equal(t, float32(3), qps)
	assert.Equal(t, 4, burst)
	assert.Zero(t, e.Throttled())

	none, err := New(Options{Config: &rest.Config{Host: "https://127.0.0.1:1", QPS: -1}})
	require.NoError(t, err)
	defer none.Close()
	assert.Nil(t, none.config.RateLimiter)
	qps, _ = none.RateLimit()
	assert.Equal(t, float32(-1), qps)
}

// With a fixed limit the driver warns once when the running targets' expected load passes 80%
// of the QPS, and again only after it fell back below.
func TestRateWatchWarnsBeforeTheLimitIsReached(t *testing.T) {
	var logs logLines
	w := &rateWatch{qps: 50, log: logs.logger()}
	// 6 requests per 10 s each: 66 targets expect 39.6/s (below 40), the 67th 40.2/s
	for range 66 {
		assert.False(t, w.add(10*time.Second, 1))
	}
	assert.Empty(t, logs.with(""))
	assert.True(t, w.add(10*time.Second, 1), "67 targets: 40.2 requests/s > 80% of 50")
	assert.False(t, w.add(10*time.Second, 1), "warned once")
	require.Len(t, logs.with("warning"), 1)
	assert.Contains(t, logs.with("warning")[0], `"qps"=50`)
	w.add(10*time.Second, -1)
	w.add(10*time.Second, -1)
	assert.True(t, w.add(10*time.Second, 1), "warns again after the load fell below")

	unlimited := &rateWatch{qps: -1, log: logs.logger()}
	for range 1000 {
		assert.False(t, unlimited.add(time.Second, 1))
	}
	var none *rateWatch
	assert.False(t, none.add(time.Second, 1), "nothing to count")
}

// The limiter is a token bucket: burst tokens at once, then qps per second; a request without
// a token waits for its own, and is counted; a burst that grows brings its tokens at once.
func TestClientLimiterIsATokenBucket(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	l := newClientLimiter(10, 5, clk)
	for i := range 5 {
		assert.True(t, l.TryAccept(), "token %d of the burst", i)
	}
	assert.False(t, l.TryAccept(), "the burst is spent")
	clk.Step(100 * time.Millisecond)
	assert.True(t, l.TryAccept(), "a token every 100 ms")
	assert.False(t, l.TryAccept())
	assert.Zero(t, l.Waited(), "TryAccept waits for nothing")

	done := make(chan error, 1)
	go func() { done <- l.Wait(context.Background()) }()
	for !clk.HasWaiters() {
		time.Sleep(time.Millisecond) // until Wait sets its timer
	}
	select {
	case err := <-done:
		t.Fatalf("Wait returned before its token: %v", err)
	default:
	}
	clk.Step(100 * time.Millisecond)
	require.NoError(t, <-done)
	assert.Equal(t, int64(1), l.Waited())

	go func() { l.Accept(); done <- nil }()
	for !clk.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	clk.Step(100 * time.Millisecond)
	require.NoError(t, <-done)
	assert.Equal(t, int64(2), l.Waited())

	// a waiting request whose context ends gives its token back
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- l.Wait(ctx) }()
	for !clk.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
	clk.Step(100 * time.Millisecond)
	assert.True(t, l.TryAccept(), "the cancelled wait's token is back")

	l.set(20, 15)
	qps, burst := l.limits()
	assert.Equal(t, float32(20), qps)
	assert.Equal(t, 15, burst)
	assert.Equal(t, float32(20), l.QPS())
	for i := range 10 {
		assert.True(t, l.TryAccept(), "the 10 tokens the burst grew by, token %d", i)
	}
	assert.False(t, l.TryAccept())
	clk.Step(time.Hour)
	l.set(20, 3)
	for range 3 {
		assert.True(t, l.TryAccept())
	}
	assert.False(t, l.TryAccept(), "a burst that shrinks caps the tokens")

	// a wait that would pass the context's deadline fails at once
	slow := newClientLimiter(0.0001, 1, clk) // a token every 10,000 s
	assert.True(t, slow.TryAccept())
	ctx, cancel = context.WithDeadline(context.Background(), clk.Now().Add(time.Hour))
	defer cancel()
	assert.ErrorContains(t, slow.Wait(ctx), "deadline")
	assert.InDelta(t, float64(10000*time.Second), float64(slow.reserve()), float64(time.Second), "the failed wait's token is back")
	assert.ErrorIs(t, slow.Wait(ctx2(t)), context.Canceled, "an ended context takes no token")
}

// ctx2 is a context already cancelled.
func ctx2(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// A Release counts as a running target while its Run runs, and no longer once it returned.
func TestReleaseCountsAsATargetWhileItRuns(t *testing.T) {
	d, err := New(Options{Config: &rest.Config{Host: "https://127.0.0.1:1"}})
	require.NoError(t, err)
	defer d.Close()
	target := canary.Target{Namespace: "test", Name: "podinfo"}
	client := fake.NewClientset()
	cluster, err := kube.New(kube.Options{Client: client})
	require.NoError(t, err)
	defer cluster.Close()
	lease, err := kube.NewLease(kube.LeaseOptions{Client: client, Target: target, Identity: "a"})
	require.NoError(t, err)
	env := canarytest.NewEnv(target)
	spec := canary.Spec{Interval: 10 * time.Second, Threshold: 1, MaxWeight: 50, StepWeight: 50}
	r, err := env.New(spec)
	require.NoError(t, err)
	var during []int
	env.OnCall(func(string) { during = append(during, d.rate.targets()) })
	rel := &Release{Canary: &flagger.Canary{Target: target, Spec: spec}, Rollout: r, Lease: lease, Store: env.Store, cluster: cluster, rate: d.rate}
	assert.Zero(t, d.rate.targets())
	res, err := rel.Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, canary.PhaseInitialized, res.Phase)
	require.NotEmpty(t, during)
	for _, n := range during {
		assert.Equal(t, 1, n, "one target while the release runs")
	}
	assert.Zero(t, d.rate.targets(), "none once it returned")
}
