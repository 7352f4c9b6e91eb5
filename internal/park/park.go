// Package park is a wait that holds no goroutine: a loop with nothing to do until one of
// several things happens (a timer, the end of a context, a nudge of its own) registers them as
// its wake-ups and lets its goroutine end; the first of them resumes the loop in another
// goroutine. At 1,000 idle targets that is 1,000 goroutines and about 8 MB of their stacks
// less for each loop that parks.
//
// The wake-ups run their function from wherever they fire: a fake clock's AfterFunc under
// the clock's own lock, context.AfterFunc from the goroutine that cancels. Wake therefore
// takes no lock that a caller may hold, and does the resuming in a goroutine of its own.
//
// That goroutine is one of a few kept between wake-ups (at most maxIdleResumers wait, each for
// resumerLinger): a loop's tick goes deep (JSON encoding, the HTTP client), and a new goroutine
// would grow its stack from the runtime's smallest to that depth, copying it at each doubling,
// on every tick of every loop. A kept goroutine keeps its grown stack until the collector
// shrinks it. The loops do not see the difference: each resume runs once, after its
// registrations are stopped, as before.
package park

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/utils/clock"
)

// A Parking is one parked wait. Make it with New, register its wake-ups with After and
// Context, then call Parked; the first wake-up (or Wake) unregisters them all and calls
// resume in another goroutine (a kept resumer's or a new one), once.
type Parking struct {
	resume func()
	woken  atomic.Bool
	mu     sync.Mutex    // held from New until Parked: the registrations are being made
	stops  []func() bool // unregister the wake-ups
}

// Clock is clk's AfterFunc, when it has one (clock.RealClock and the fake clocks of
// k8s.io/utils/clock/testing do); a loop whose clock has none waits in its goroutine.
func Clock(clk clock.Clock) (clock.WithDelayedExecution, bool) {
	c, ok := clk.(clock.WithDelayedExecution)
	return c, ok
}

// New returns a Parking that resumes with resume, its wake-ups being registered.
func New(resume func()) *Parking {
	p := &Parking{resume: resume}
	p.mu.Lock()
	return p
}

// After wakes p once d has passed on clk (at once if d is not positive).
func (p *Parking) After(clk clock.WithDelayedExecution, d time.Duration) {
	if d <= 0 { // due now, whatever the clock (a fake one fires only when moved)
		p.Wake()
		return
	}
	t := clk.AfterFunc(d, p.Wake)
	p.stops = append(p.stops, t.Stop)
}

// Context wakes p when ctx ends (at once if it has).
func (p *Parking) Context(ctx context.Context) {
	p.stops = append(p.stops, context.AfterFunc(ctx, p.Wake))
}

// Parked ends the registrations: a wake-up that fired meanwhile resumes the loop now. It is
// the parking goroutine's last touch of the loop: from here the loop may run in another
// goroutine and park again, so a signal of the loop's own that arrived before the wake-up
// could see the parking (a kick, a nudge) is looked for before Parked, not after.
func (p *Parking) Parked() { p.mu.Unlock() }

// Wake resumes the loop, once, whoever calls it: it takes no lock and returns at once.
func (p *Parking) Wake() {
	if !p.woken.CompareAndSwap(false, true) {
		return
	}
	resumeElsewhere(func() {
		p.mu.Lock() // the registrations are made
		stops := p.stops
		p.mu.Unlock()
		for _, stop := range stops {
			stop()
		}
		p.resume()
	})
}

const (
	// maxIdleResumers is how many goroutines that resumed a loop wait for the next wake-up:
	// as many as wake at once, at most (1,000 targets ticking every 10 s on 250 ms slots wake
	// about 25 at a time, each in its network round trips until it parks again).
	maxIdleResumers = 32
	// resumerLinger is how long one of them waits before it ends.
	resumerLinger = 5 * time.Second
)

// resumers hands a wake-up's work to a goroutine waiting for one.
var resumers = struct {
	handoff chan func() // unbuffered: a send succeeds only into a waiting resumer
	idle    atomic.Int32
}{handoff: make(chan func())}

// resumeElsewhere runs f in another goroutine: a waiting resumer, or a new one.
func resumeElsewhere(f func()) {
	select {
	case resumers.handoff <- f:
	default:
		go resumer(f)
	}
}

// resumer runs f, then waits for the next work while fewer than maxIdleResumers wait, for at
// most resumerLinger.
func resumer(f func()) {
	var linger *time.Timer
	for {
		f()
		f = nil // keep nothing of the work done alive while waiting
		if resumers.idle.Add(1) > maxIdleResumers {
			resumers.idle.Add(-1)
			return
		}
		if linger == nil {
			linger = time.NewTimer(resumerLinger)
		} else {
			linger.Reset(resumerLinger)
		}
		select {
		case f = <-resumers.handoff:
			resumers.idle.Add(-1)
			linger.Stop()
		case <-linger.C:
			resumers.idle.Add(-1)
			return
		}
	}
}

// Woken reports whether a wake-up has come.
func (p *Parking) Woken() bool { return p.woken.Load() }
