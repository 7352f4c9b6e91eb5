package driver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/park"
	"github.com/canarykit/canarykit/kube"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/go-logr/logr"
)

// Target drives one target for as long as its Start runs: it holds the target's lease, applies
// control requests, delivers alerts, and releases every new revision. Between releases it costs
// nothing of its own, not even a goroutine (it waits parked; its lease is renewed with the
// Driver's holder lease of the namespace, kube.Holders): whether a new revision exists is read from the informer caches
// (the target's Deployment and the configuration it refers to) and the status the held lease
// already has (with Options.CanaryStatus: the Canary's status as last read or written), so an
// idle target makes no other API request. A release after the first of one hold of the lease
// also knows the route from its own last write when the router writes conditionally on the
// route's generation (mesh.GenerationRouter: the SMI TrafficSplit): a route edited meanwhile
// fails that write and is read and adopted again before the write is made.
//
// Start has the shape of a controller-runtime Runnable (Start(ctx) error), so a Target can be
// added to a manager as it is.
type Target struct {
	d        *Driver
	c        atomic.Pointer[flagger.Canary] // what the next release is built from (Update)
	target   canary.Target
	onEvent  func(canary.Event)
	router   canary.MeshRouter
	workload *kube.Workload
	lease    *kube.Lease
	store    canary.StatusStore
	log      logr.Logger
	kick     chan struct{}
	started  atomic.Bool
	// conflict, if set (by Targets, before Start), is told the name of the Canary the target's
	// objects were made for when they refuse this Target's Canary (kube.CanaryConflictError)
	conflict func(canaryName string)
	checks   atomic.Int64            // idle checks made, for tests
	claims   atomic.Int64            // claims of the lease tried, for tests
	parked   atomic.Pointer[parking] // the loop's wait while it waits parked (Kick wakes it)
	controls atomic.Int64            // control requests received, for tests

	mu      sync.Mutex
	running *canary.Rollout // the Rollout being run, if any
	pending []kube.Control  // control requests that arrived between releases, kept until one starts
	fresh   bool            // a control request arrived since the last run
	last    canary.Result
}

// Target prepares the long-running driver of c's target. It chooses the router (an error
// naming spec.provider if canarykit cannot drive it) and touches nothing in the cluster;
// Start does the work. onEvent, if set, receives every release's events.
func (d *Driver) Target(c *flagger.Canary, onEvent func(canary.Event)) (*Target, error) {
	router, workload, lease, err := d.adapters(c, true)
	if err != nil {
		return nil, err
	}
	log := d.opts.Logger.WithValues("target", c.Target.String())
	t := &Target{d: d, target: c.Target, onEvent: onEvent, router: newHeldRoute(router, log.WithName("route")), workload: workload,
		lease: lease, store: d.store(c, workload, lease), log: log, kick: make(chan struct{}, 1)}
	t.c.Store(c)
	return t, nil
}

// Kick asks the Target to look for a new revision now (e.g. from an informer's event for the
// target's Deployment). It never blocks; kicks coalesce.
func (t *Target) Kick() {
	select {
	case t.kick <- struct{}{}:
	default:
	}
	if pk := t.parked.Load(); pk != nil && pk.kicks {
		pk.p.Wake()
	}
}

// kicked takes a waiting kick, and reports whether there was one. It receives, not
// len(t.kick): a receive is ordered with Kick's send, so a kick made while the loop parks is
// seen either here or by Kick's look at t.parked.
func (t *Target) kicked() bool {
	select {
	case <-t.kick:
		return true
	default:
		return false
	}
}

// Last returns the result of the Target's last release run (zero before the first).
func (t *Target) Last() canary.Result {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last
}

// Start drives the target until ctx ends, then releases its lease and returns nil. It waits
// for the lease while another driver holds it. A release that stops on an error is logged,
// and resumed after Options.Recheck. Start runs once
// per Target.
//
// Between releases the Target waits without a goroutine of its own (with a clock that can
// call a function later, as the real one can): Start's goroutine, the caller's, only waits
// for the end. Targets starts its Targets without one.
func (t *Target) Start(ctx context.Context) error {
	done := make(chan struct{})
	if err := t.start(ctx, func() { close(done) }); err != nil {
		return err
	}
	<-done
	return nil
}

// start is Start without the wait: finished is called once the Target has stopped and
// released its lease.
func (t *Target) start(ctx context.Context, finished func()) error {
	if !t.started.CompareAndSwap(false, true) {
		return fmt.Errorf("%w: target %s already started", canary.ErrAlreadyRunning, t.target)
	}
	interval := t.c.Load().Spec.Interval
	t.d.rate.add(interval, 1)
	release := t.d.cluster.Retain(t.target.Namespace) // the namespace's caches and watches, while it runs
	l := &loop{t: t, ctx: ctx, finished: func() {
		t.d.rate.add(interval, -1)
		release()
		finished()
	}}
	go l.run()
	return nil
}

// loop is a started Target's state between the pieces of its work, each run by the
// goroutine that resumed it (run): claiming the lease, a pass (a release when one is due),
// waiting for the next kick, control request or recheck, waiting out the recheck after an
// error.
type loop struct {
	t        *Target
	ctx      context.Context
	finished func()
	claim    *kube.Claim // the lease's hold, nil when not held
	stop     func()      // ends the claim's registration for control requests
	first    bool        // the hold has made no pass yet
	held     bool        // a release of this hold ended: the store's copy is current
}

// parking is a Target's parked wait; kicks says a Kick wakes it (the wait between passes).
type parking struct {
	p     *park.Parking
	kicks bool
}

// run goes on from where the loop stands until it parks or finishes: while the lease is
// held, a pass and a wait for the next; without it, a claim, or after an error the recheck's
// wait first.
func (l *loop) run() {
	for {
		if l.claim == nil {
			if l.ctx.Err() != nil {
				l.finished()
				return
			}
			if err := l.begin(); err != nil {
				if l.stopped(err) {
					return
				}
				continue
			}
		}
		ctx := l.claim.Context()
		if ctx.Err() == nil {
			err := l.pass(ctx)
			if err == nil {
				if l.wait(ctx, true) {
					return
				}
				if ctx.Err() == nil {
					continue
				}
			}
			if l.stopped(l.end(err)) {
				return
			}
			continue
		}
		if l.stopped(l.end(nil)) {
			return
		}
	}
}

// begin claims the lease (waiting while another driver holds it) and registers for its
// control requests on the Driver's shared watch.
func (l *loop) begin() error {
	t := l.t
	t.claims.Add(1)
	c, err := t.lease.Begin(l.ctx)
	if err != nil {
		return err
	}
	stop, err := t.d.cluster.Controls(c.Context(), t.lease, t.control)
	if err != nil {
		return c.End(err)
	}
	l.claim, l.stop, l.first, l.held = c, stop, true, false
	return nil
}

// end ends the hold: no more control requests, the lease released. It returns err, joined to
// an ErrLeaseLost if the lease was lost meanwhile.
func (l *loop) end(err error) error {
	l.stop()
	err = l.claim.End(err)
	l.claim, l.stop = nil, nil
	return err
}

// stopped handles the end of a hold, or a claim that failed, with err: once the Target's
// context has ended it finishes; otherwise it logs err and waits out the recheck. It reports
// whether run is to return (finished, or parked).
func (l *loop) stopped(err error) bool {
	t := l.t
	if l.ctx.Err() != nil {
		l.finished()
		return true
	}
	if conflict := (*kube.CanaryConflictError)(nil); t.conflict != nil && errors.As(err, &conflict) {
		t.conflict(conflict.Canary)
	}
	t.log.Error(err, "driving stopped; resuming after the recheck interval", "recheck", t.d.opts.Recheck)
	if l.wait(l.ctx, false) {
		return true
	}
	if l.ctx.Err() != nil {
		l.finished()
		return true
	}
	return false
}

// pass releases what is due, if anything: a release at the hold's first pass, then whenever
// due finds one needed; none while the Canary is suspended (Update kicks when it is
// cleared). A panic gives the claim up first and goes on: the goroutine has no caller.
func (l *loop) pass(ctx context.Context) error {
	t := l.t
	defer func() {
		if p := recover(); p != nil {
			l.stop()
			_ = l.claim.End(nil)
			panic(p)
		}
	}()
	if t.c.Load().Suspend {
		l.first = false
		return nil
	}
	if l.first || t.due(ctx) {
		l.first = false
		if err := t.release(ctx, l.held); err != nil {
			return err
		}
		l.held = true
	}
	return nil
}

// wait waits for the end of ctx or the recheck, and with kicks for a Kick (a control request
// kicks too). It parks when the Driver's clock can call a function later, and reports true
// then: run resumes in the goroutine of the first wake-up. Otherwise it waits here and reports
// false.
func (l *loop) wait(ctx context.Context, kicks bool) bool {
	t := l.t
	if clk, ok := park.Clock(t.d.opts.Clock); ok {
		pk := &parking{kicks: kicks}
		pk.p = park.New(func() {
			t.parked.CompareAndSwap(pk, nil)
			if kicks {
				t.kicked() // this wake-up's kick, if it was one: the pass sees what it was for
			}
			l.run()
		})
		pk.p.After(clk, recheckIn(clk.Now(), t.d.opts.Recheck))
		pk.p.Context(ctx)
		t.parked.Store(pk)
		// kicked before Kick could see t.parked: looked at while the wake-ups are being
		// registered, when no loop resumed from it can be parking again (a look after Parked
		// could take that loop's kick)
		if kicks && t.kicked() {
			pk.p.Wake()
		}
		pk.p.Parked() // nothing is touched after this: the loop may run elsewhere already
		return true
	}
	var kick <-chan struct{}
	if kicks {
		kick = t.kick
	}
	timer := t.d.opts.Clock.NewTimer(recheckIn(t.d.opts.Clock.Now(), t.d.opts.Recheck))
	select {
	case <-ctx.Done():
	case <-kick:
	case <-timer.C():
	}
	timer.Stop()
	return false
}

// recheckIn is how long an idle Target waits from now for its recheck: Options.Recheck, and on
// to the next whole slot of the wall clock (a tenth of the recheck, at most a second, from the
// Unix epoch). The rechecks of a process's idle targets then fall on shared instants and wake
// it once a slot, not once a target: at 1,000 targets and a recheck of 10 s, spread over the
// interval by the releases' ends, the idle process used 3.0 % of a core on the scale
// harness's machine with a wake-up per target and 0.9 to 1.2 % with the rechecks on slots
// (each wake-up of an idle process is dear there; canary.GridSlot says the same of ticks).
func recheckIn(now time.Time, recheck time.Duration) time.Duration {
	slot := min(recheck/10, time.Second)
	if slot <= 0 {
		return recheck
	}
	past := now.Add(recheck).UnixNano() % int64(slot)
	if past < 0 {
		past += int64(slot)
	}
	if past == 0 {
		return recheck
	}
	return recheck + slot - time.Duration(past)
}

// release builds a Release (the Canary's references resolved again) and runs it; held says a
// release of the same hold of the lease ended before it, so the status and the route are known.
func (t *Target) release(ctx context.Context, held bool) error {
	c := *t.c.Load() // a copy: resolving the references fills it in
	rel, err := t.d.build(ctx, &c, forRelease(t.router, held), t.workload, t.lease, releaseStore(t.store, held), t.onEvent)
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.running, t.fresh = rel.Rollout, false
	for _, c := range t.pending {
		_ = c.Apply(rel.Rollout)
	}
	if t.c.Load().Suspend { // suspended since the check: Update found no release to pause
		suspend(rel.Rollout, true)
	}
	t.mu.Unlock()
	res, err := rel.run(ctx)
	t.mu.Lock()
	t.running, t.last = nil, res
	if res.Released {
		t.pending = nil // a release started: it took them
	}
	t.mu.Unlock()
	if err != nil {
		return err
	}
	if res.Released {
		t.log.Info("release ended", "revision", res.Revision, "phase", res.Phase, "reason", res.Reason)
	}
	return nil
}

// control applies a control request to the running release, or keeps it for the next one to
// start (a run that finds no new revision applies it and keeps it too).
func (t *Target) control(c kube.Control) {
	t.controls.Add(1)
	t.mu.Lock()
	if t.running != nil {
		if err := c.Apply(t.running); err != nil {
			t.log.Error(err, "control request not applied", "control", c)
		}
	} else {
		t.pending, t.fresh = append(t.pending, c), true
	}
	t.mu.Unlock()
	t.Kick()
}

// due reports whether a release run is needed, from what is already in memory: the status in
// the held lease and the informer caches. Anything it cannot tell makes it true (the run finds
// out).
func (t *Target) due(ctx context.Context) bool {
	t.checks.Add(1)
	t.mu.Lock()
	fresh := t.fresh
	t.mu.Unlock()
	if fresh {
		return true
	}
	var st canary.Status
	var err error
	if cs, ok := t.store.(*CanaryStore); ok {
		st, err = cs.peek(ctx) // as last written, and the held lease: no request
	} else {
		st, err = t.lease.Load(ctx, t.target) // held: no request
	}
	if err != nil || st.Phase == "" || st.Phase == canary.PhaseInitializing || st.Phase.InRelease() || st.RollingBack {
		return true
	}
	ws, err := t.workload.Observe(ctx, t.target) // informer caches
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			t.log.V(1).Info("cannot observe the target; running a release to find out", "error", err.Error())
		}
		return true
	}
	if ws.PrimaryRevision == "" {
		return true // no primary (deleted?): the run bootstraps it again
	}
	return ws.Revision != st.LastAppliedSpec && ws.Revision != st.LastPromotedSpec && ws.Revision != ws.PrimaryRevision
}
