package park

import (
	"context"
	"sync"
	"sync/atomic"
	"syscall"
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

// processCPU is the process's user and system CPU so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// idleLoops runs 1,000 loops that each wake every 10 ms and go back to waiting (idle
// Targets rechecking) until b.N wake-ups in all, and reports the process's CPU per wake-up.
// start starts one loop: it calls woken at each wake-up, and waits again while woken reports
// true.
func idleLoops(b *testing.B, start func(ctx context.Context, woken func() bool)) {
	const loops = 1000
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var left atomic.Int64
	left.Store(int64(b.N))
	done := make(chan struct{})
	var once sync.Once
	woken := func() bool {
		if left.Add(-1) <= 0 {
			once.Do(func() { close(done) })
		}
		return ctx.Err() == nil
	}
	b.ResetTimer()
	cpu := processCPU(b)
	for range loops {
		start(ctx, woken)
	}
	<-done
	b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N), "cpu-ns/wake")
}

// BenchmarkIdleParked: 1,000 parked loops woken by their timers (the real clock's AfterFunc).
func BenchmarkIdleParked(b *testing.B) {
	clk, _ := Clock(clock.RealClock{})
	idleLoops(b, func(ctx context.Context, woken func() bool) {
		var park func()
		park = func() {
			p := New(func() {
				if woken() {
					park()
				}
			})
			p.After(clk, 10*time.Millisecond)
			p.Context(ctx)
			p.Parked()
		}
		park()
	})
}

// BenchmarkIdleWaiting: the same loops each waiting in a goroutine of its own on a timer and a
// select.
func BenchmarkIdleWaiting(b *testing.B) {
	clk := clock.RealClock{}
	idleLoops(b, func(ctx context.Context, woken func() bool) {
		go func() {
			for {
				t := clk.NewTimer(10 * time.Millisecond)
				select {
				case <-ctx.Done():
				case <-t.C():
				}
				t.Stop()
				if !woken() {
					return
				}
			}
		}()
	})
}
