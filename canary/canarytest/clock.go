package canarytest

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// Epoch returns where a zero Clock (and NewEnv's) starts: 2026-01-01 00:00:00 UTC.
func Epoch() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }

// Clock is virtual time for whole rollouts in milliseconds: every wait completes at once and
// moves the clock forward by its duration. A Rollout waits only between ticks, so a 10-step,
// 30 s-interval release "takes" five minutes of virtual time and no real time. The zero value
// starts at Epoch. Safe for concurrent use.
//
// Because waits never block, code that waits for another goroutine (a gate opened by a test
// goroutine) spins through virtual time; script such behaviour with Gates or OnEvent instead.
// For real goroutine interplay, use k8s.io/utils/clock/testing's FakeClock or testing/synctest.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

var _ clock.Clock = (*Clock)(nil)

// NewClock returns a Clock at start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the virtual time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.IsZero() {
		c.now = Epoch()
	}
	return c.now
}

// Since returns the virtual time elapsed since t.
func (c *Clock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// Advance moves the clock forward by d and returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.IsZero() {
		c.now = Epoch()
	}
	if d > 0 {
		c.now = c.now.Add(d)
	}
	return c.now
}

// After advances the clock by d and returns a channel holding the new time.
func (c *Clock) After(d time.Duration) <-chan time.Time { return c.NewTimer(d).C() }

// NewTimer advances the clock by d and returns a timer that has fired.
func (c *Clock) NewTimer(d time.Duration) clock.Timer {
	ch := make(chan time.Time, 1)
	ch <- c.Advance(d)
	return &firedTimer{c: ch, clock: c}
}

// Sleep advances the clock by d.
func (c *Clock) Sleep(d time.Duration) { c.Advance(d) }

// Tick is not supported: a ticker in virtual time would run ahead of its reader. It panics;
// wait with a timer per interval instead (as canary.Rollout does).
func (c *Clock) Tick(time.Duration) <-chan time.Time {
	panic("canarytest.Clock: tickers are not supported in virtual time; use NewTimer per wait")
}

type firedTimer struct {
	c     chan time.Time
	clock *Clock
}

func (t *firedTimer) C() <-chan time.Time { return t.c }
func (t *firedTimer) Stop() bool          { return false }

// Reset advances the clock by d and fires again.
func (t *firedTimer) Reset(d time.Duration) bool {
	select {
	case <-t.c:
	default:
	}
	t.c <- t.clock.Advance(d)
	return false
}
