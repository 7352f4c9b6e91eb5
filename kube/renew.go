package kube

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/canarykit/canarykit/internal/park"
	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/utils/clock"
)

// timerFor is clk's timer for wait, one that has fired already when wait is not positive (a
// deadline passed is due now; a fake clock fires its timers only when it is moved).
func timerFor(clk clock.Clock, wait time.Duration) (<-chan time.Time, func() bool) {
	if wait <= 0 {
		c := make(chan time.Time, 1)
		c <- clk.Now()
		return c, func() bool { return false }
	}
	t := clk.NewTimer(wait)
	return t.C(), t.Stop
}

// renewDeadline is how long after its last write a claim counts as lost if no renewal
// succeeded: three quarters of its duration, so that its holder stops (and the leases a
// holder lease vouched for write their own claims) before anyone else may take it.
func renewDeadline(d time.Duration) time.Duration { return d * 3 / 4 }

// retryPeriod is how soon a failed renewal is tried again: a sixteenth of the duration, at
// least half a second (two or more tries before the renewal deadline).
func retryPeriod(d time.Duration) time.Duration { return max(d/16, 500*time.Millisecond) }

// renewLoop renews the claim whenever nothing was written for half its duration. Failed
// renewals are retried every retryPeriod; a claim with no successful write within its
// renewDeadline counts as lost, so the driver stops before another may take it (others see
// it free only a quarter of the duration later). A vouched claim is renewed every half of
// VouchedLeaseDuration only (for the tools that know nothing of holder leases); when its
// holder lease is lost (renewDeadline of the holder lease, while it still stands), it is
// renewed at once without the vouch, and if that write fails the claim counts as lost. A
// Control request applied is cleared by a write at once. Each write is bounded by a quarter
// of the duration, and by the renewal deadline.
//
// A vouched claim with nothing to do until its next renewal parks instead of waiting in a
// goroutine (park): renewLoop returns true, and the loop resumes in another goroutine at the
// first of the wake-ups it would have waited for. An idle target then costs no goroutine of
// its own for its lease (at 1,000 targets, 1,000 goroutines and 8 MB of their stacks). A
// wake-up that finds nothing to do (the renewal time moved on by a write meanwhile) parks
// again.
func (l *Lease) renewLoop(ctx context.Context, lost context.CancelCauseFunc, resume func()) (parked bool) {
	d := l.opts.Duration
	retry := time.Duration(0)
	var lastErr error
	for {
		if ctx.Err() != nil { // the hold ended
			return false
		}
		l.mu.Lock()
		if !l.held { // a status save found the claim lost (or deleted)
			l.mu.Unlock()
			err := fmt.Errorf("%w: lease %s is no longer held by %q", ErrLeaseLost, l.name, l.opts.Identity)
			l.log.Error(err, "lease lost; stopping")
			lost(err)
			return false
		}
		vouch := l.vouch
		period := d / 2
		if vouch != nil {
			period = VouchedLeaseDuration / 2
		}
		now := l.opts.Clock.Now()
		wait := l.lastWrite.Add(period).Sub(now)
		if retry > 0 {
			wait = min(retry, l.lastWrite.Add(renewDeadline(d)).Sub(now))
		}
		l.mu.Unlock()
		if vouch != nil && retry == 0 && !l.due(ctx, wait, vouch.lost) && l.park(ctx, wait, vouch.lost, resume) {
			return true
		}
		fired, stop := timerFor(l.opts.Clock, wait)
		var unvouched <-chan struct{}
		if vouch != nil {
			unvouched = vouch.lost.Done()
		}
		force, mustSucceed := retry > 0, false
		select {
		case <-ctx.Done():
		case <-fired:
		case <-unvouched:
			l.mu.Lock()
			l.vouch = nil
			l.mu.Unlock()
			l.log.Info("the holder lease was lost; the lease renews itself")
			force, mustSucceed, vouch = true, true, nil
		case <-l.clear:
			force = true
		}
		stop()
		if ctx.Err() != nil {
			return false
		}
		bound := max(d/4, time.Second)
		if vouch == nil && !mustSucceed {
			l.mu.Lock()
			left := l.lastWrite.Add(renewDeadline(d)).Sub(l.opts.Clock.Now())
			l.mu.Unlock()
			if left <= 0 {
				err := fmt.Errorf("%w: no renewal succeeded within %s of the last write: %v", ErrLeaseLost, renewDeadline(d), lastErr)
				l.log.Error(err, "lease lost; stopping")
				lost(err)
				return false
			}
			bound = min(bound, left)
		}
		wctx, cancel := context.WithTimeout(ctx, bound)
		err := l.renew(wctx, force, period)
		cancel()
		if err == nil {
			retry, lastErr = 0, nil
			continue
		}
		if mustSucceed && !errors.Is(err, ErrLeaseLost) {
			err = fmt.Errorf("%w: its holder lease was lost and the lease could not be renewed without it: %v", ErrLeaseLost, err)
		}
		if errors.Is(err, ErrLeaseLost) {
			l.log.Error(err, "lease lost; stopping")
			lost(err)
			return false
		}
		retry, lastErr = retryPeriod(d), err
		l.log.Error(err, "lease renewal failed; retrying", "in", retry)
	}
}

// renewals runs renewLoop until the hold ends or the claim is lost, then closes done; when the
// loop parks, the goroutine that resumes it does.
func (l *Lease) renewals(ctx context.Context, lost context.CancelCauseFunc, done chan struct{}) {
	if l.renewLoop(ctx, lost, func() { l.renewals(ctx, lost, done) }) {
		return
	}
	close(done)
}

// due reports whether one of renewLoop's wake-ups is there already: the renewal time
// reached, the hold ended, the holder lease lost, a nudge. The loop does not park then.
func (l *Lease) due(ctx context.Context, wait time.Duration, unvouched context.Context) bool {
	return wait <= 0 || ctx.Err() != nil || unvouched.Err() != nil || l.nudged()
}

// nudged reports whether a nudge is waiting on l.clear, leaving it there. It receives from the
// channel, not len(l.clear): a receive is ordered with the nudge's send, so a nudge made
// while the loop parks is seen either here or by nudge's look at l.parked.
func (l *Lease) nudged() bool {
	select {
	case <-l.clear:
		select {
		case l.clear <- struct{}{}:
		default:
		}
		return true
	default:
		return false
	}
}

// nudge wakes the renewals at once: a Control request applied is to be cleared, or a write
// found the claim lost (the renewals then end the hold).
func (l *Lease) nudge() {
	select {
	case l.clear <- struct{}{}:
	default:
	}
	if p := l.parked.Load(); p != nil {
		p.Wake()
	}
}

// park registers the wake-ups renewLoop would wait for (wait, the end of ctx, the loss of the
// holder lease, a nudge) and reports true; its goroutine may end then. It reports false when
// the Lease's clock cannot call a function later (clock.WithDelayedExecution).
func (l *Lease) park(ctx context.Context, wait time.Duration, unvouched context.Context, resume func()) bool {
	clk, ok := park.Clock(l.opts.Clock)
	if !ok {
		return false
	}
	var p *park.Parking
	p = park.New(func() {
		l.parked.CompareAndSwap(p, nil)
		resume()
	})
	p.After(clk, wait)
	p.Context(ctx)
	p.Context(unvouched)
	l.parked.Store(p) // once the timer is set (what a test sees parked has it); a wake-up clears it after this
	// nudged before nudge could see l.parked: looked at while the wake-ups are being
	// registered, when no loop resumed from it can be looking for a nudge too (a look after
	// Parked, which takes the nudge and puts it back, could hide it from that loop)
	if l.nudged() {
		p.Wake()
	}
	p.Parked() // nothing is touched after this: the loop may run elsewhere already
	return true
}

// renew writes a new renewal time if nothing was written for period, or at once with force;
// the write drops the vouch of a holder lease that was lost.
func (l *Lease) renew(ctx context.Context, force bool, period time.Duration) error {
	defer l.deliver()
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.opts.Clock.Now()
	if !l.held || (!force && now.Sub(l.lastWrite) < period) {
		return nil
	}
	vouched := l.vouch != nil
	_, err := l.write(ctx, func(u *coordinationv1.Lease) {
		if !vouched {
			unvouch(u, l.opts.Duration)
		}
	}, now)
	return err
}
