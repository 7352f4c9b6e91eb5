package driver

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/utils/clock"
)

// clientLimiter is the driver's client rate limit: a token bucket given to every client the
// driver builds (rest.Config.RateLimiter, so that the typed, dynamic and route clients share
// one budget), whose limit can change while requests run, and which counts the requests it
// made wait. It implements client-go's flowcontrol.RateLimiter.
type clientLimiter struct {
	clock  clock.Clock
	waited atomic.Int64

	mu     sync.Mutex
	qps    float64 // > 0
	burst  float64
	tokens float64 // below 0: requests waiting for their token
	last   time.Time
}

var _ flowcontrol.RateLimiter = (*clientLimiter)(nil)

// newClientLimiter returns a full bucket of burst tokens refilled at qps (> 0).
func newClientLimiter(qps float32, burst int, clk clock.Clock) *clientLimiter {
	return &clientLimiter{clock: clk, qps: float64(qps), burst: float64(burst), tokens: float64(burst), last: clk.Now()}
}

// advance adds the tokens earned since the last call. l.mu is held.
func (l *clientLimiter) advance(now time.Time) {
	if now.After(l.last) {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.qps)
		l.last = now
	}
}

// set changes the limit. A burst that grows brings its new tokens at once: targets that raise
// it have their own share of requests to make at their start.
func (l *clientLimiter) set(qps float32, burst int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.advance(l.clock.Now())
	if grown := float64(burst) - l.burst; grown > 0 {
		l.tokens += grown
	}
	l.qps, l.burst = float64(qps), float64(burst)
	l.tokens = min(l.tokens, l.burst)
}

// limits returns the limit now.
func (l *clientLimiter) limits() (qps float32, burst int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return float32(l.qps), int(l.burst)
}

// TryAccept takes a token if one is there.
func (l *clientLimiter) TryAccept() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.advance(l.clock.Now())
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}

// reserve takes a token, ahead of time when none is there, and returns how long until it is
// earned (0: at once).
func (l *clientLimiter) reserve() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.advance(l.clock.Now())
	l.tokens--
	if l.tokens >= 0 {
		return 0
	}
	return time.Duration(math.Ceil(-l.tokens / l.qps * float64(time.Second)))
}

// unreserve gives back a token reserved by a request that does not wait for it.
func (l *clientLimiter) unreserve() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tokens = min(l.burst, l.tokens+1)
}

// Wait takes a token, waiting for it until ctx ends. A wait that would outlast ctx's deadline
// is an error at once.
func (l *clientLimiter) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	delay := l.reserve()
	if delay == 0 {
		return nil
	}
	l.waited.Add(1)
	if deadline, ok := ctx.Deadline(); ok && l.clock.Now().Add(delay).After(deadline) {
		l.unreserve()
		return fmt.Errorf("client rate limit: a wait of %s would pass the context's deadline", delay)
	}
	timer := l.clock.NewTimer(delay)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		l.unreserve()
		return ctx.Err()
	case <-timer.C():
		return nil
	}
}

// Accept takes a token, waiting for it as long as it takes.
func (l *clientLimiter) Accept() {
	delay := l.reserve()
	if delay == 0 {
		return
	}
	l.waited.Add(1)
	timer := l.clock.NewTimer(delay)
	defer timer.Stop()
	<-timer.C()
}

// QPS returns the limit now.
func (l *clientLimiter) QPS() float32 {
	qps, _ := l.limits()
	return qps
}

// Stop does nothing: the bucket holds no goroutine.
func (l *clientLimiter) Stop() {}

// Waited is how many requests have waited for a token so far.
func (l *clientLimiter) Waited() int64 { return l.waited.Load() }
