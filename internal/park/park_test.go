package park

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
)

// resumed returns a resume function that counts its calls and signals each on a channel.
func resumed() (func(), *atomic.Int32, chan struct{}) {
	var n atomic.Int32
	ch := make(chan struct{}, 8)
	return func() { n.Add(1); ch <- struct{}{} }, &n, ch
}

func recv(t *testing.T, ch chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(time.Minute): // a guard against a hang, not a timing claim
		require.Fail(t, what)
	}
}

// The first wake-up resumes the loop once; the others, registered or not, do nothing, and the
// timer left is stopped.
func TestParkingResumesOnceAtTheFirstWakeUp(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	resume, n, ch := resumed()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := New(resume)
	p.After(clk, time.Minute)
	p.Context(ctx)
	p.Parked()
	assert.False(t, p.Woken())
	assert.True(t, clk.HasWaiters(), "the timer is set")

	cancel()
	recv(t, ch, "resumed by the end of the context")
	assert.True(t, p.Woken())
	require.Eventually(t, func() bool { return !clk.HasWaiters() }, time.Minute, time.Millisecond, "the timer stopped")
	clk.Step(time.Hour)
	p.Wake()
	assert.Equal(t, int32(1), n.Load())
}

// The timer resumes a parked loop; a wait that is not positive resumes it at once.
func TestParkingTimer(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	resume, n, ch := resumed()
	p := New(resume)
	p.After(clk, time.Minute)
	p.Parked()
	clk.Step(59 * time.Second)
	assert.False(t, p.Woken())
	clk.Step(time.Second)
	recv(t, ch, "resumed by the timer")

	p = New(resume)
	p.After(clk, -time.Second)
	p.Parked()
	recv(t, ch, "resumed at once")
	assert.Equal(t, int32(2), n.Load())
}

// A wake-up that fires while the wake-ups are being registered (a context already ended)
// resumes the loop only once they all are, so that every one of them is unregistered.
func TestParkingWakeDuringRegistration(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	resume, n, ch := resumed()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := New(resume)
	p.Context(ctx) // fires now
	require.Eventually(t, p.Woken, time.Minute, time.Millisecond)
	assert.Zero(t, n.Load(), "not resumed before Parked")
	p.After(clk, time.Minute)
	p.Parked()
	recv(t, ch, "resumed once parked")
	require.Eventually(t, func() bool { return !clk.HasWaiters() }, time.Minute, time.Millisecond, "the timer registered after the wake-up is stopped")
	assert.Equal(t, int32(1), n.Load())
}

// Only a clock that can call a function later can park a loop.
func TestClock(t *testing.T) {
	_, ok := Clock(clock.RealClock{})
	assert.True(t, ok)
	_, ok = Clock(clocktesting.NewFakeClock(time.Now()))
	assert.True(t, ok)
	_, ok = Clock(withoutAfterFunc{clock.RealClock{}})
	assert.False(t, ok)
}

type withoutAfterFunc struct{ clock.PassiveClock }

func (withoutAfterFunc) After(time.Duration) <-chan time.Time { return nil }
func (withoutAfterFunc) NewTimer(time.Duration) clock.Timer   { return nil }
func (withoutAfterFunc) Sleep(time.Duration)                  {}
func (withoutAfterFunc) Tick(time.Duration) <-chan time.Time  { return nil }
