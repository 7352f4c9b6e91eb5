package canary

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// next says what the loop does after a tick.
type next int

const (
	waitTick next = iota // wait one interval (or a control request), then tick again
	tickNow              // tick again at once: the transition needs no wait
	finished             // Run returns
)

// run is the state of one Run: the status as the Rollout knows it, and what it has done.
type run struct {
	r       *Rollout
	st      Status
	weights Weights // the route's weights as last set or read
	res     Result

	bootstrapped bool // Workload.Bootstrap succeeded in this Run
	preflighted  bool // RoutePreflighter.PreflightRoute passed in this Run
	reconciled   bool // Router.Reconcile succeeded (and weights were read) in this Run
	dirty        bool // st has changes the store has not accepted yet

	notReadySince time.Time // when the workload being waited for was first seen not ready
	lastWait      string    // message of the last wait event, to emit each once
	resumeAt      time.Time // a resumed analysis waits until its interval is up
	announced     bool      // the rollback's RollingBack event was emitted
	nextWait      time.Duration
	tickStarted   time.Time     // when the current tick began (Event.TickStarted)
	hookQ         chan Event    // events for the event hooks
	hooksDone     chan struct{} // closed when the event hooks' goroutine has finished

	// unavailableSince is when a metric provider was first found unavailable in a row of
	// analysis ticks (zero: it answered at the last tick).
	unavailableSince time.Time
	split            splitState // the split check's memory
}

// Run drives the target's current revision to Succeeded or Failed and returns the outcome. A
// status saved by an earlier Run in mid-release is resumed where it stopped. With nothing to
// release, Run bootstraps the target if needed and returns at once (Result.Released false).
//
// Run blocks until the release ends, ctx ends, or a permanent error occurs. Transient adapter
// errors are reported as Error events and retried at the next tick; a permanent error is
// reported as an Error event too (a Warning, as Flagger records a router's or a workload's
// error on the Canary) before Run returns it, unless ctx ended or another driver saved first
// (ErrConflict): one event, the error's, or, when it stopped an analysis in flight, the one
// that says all traffic went back to the primary because of it. On error the Result holds the
// phase reached; the saved status stays consistent, and a later Run continues from it.
func (r *Rollout) Run(ctx context.Context) (Result, error) {
	if !r.running.CompareAndSwap(false, true) {
		return Result{Target: r.target}, ErrAlreadyRunning
	}
	defer r.running.Store(false)
	defer r.ctl.take(true, true)

	u := &run{r: r, res: Result{Target: r.target, Started: r.clock.Now()}}
	if len(r.hooks[HookEvent]) > 0 {
		hctx, cancel := context.WithCancel(ctx)
		u.hookQ, u.hooksDone = make(chan Event, eventHookQueue), make(chan struct{})
		go u.deliverEventHooks(hctx)
		defer func() { // deliver what is queued, within a grace period; then cancel the rest
			close(u.hookQ)
			select {
			case <-u.hooksDone:
			case <-time.After(eventHookGrace):
				r.log.Info("event hooks still busy when the run ended; cancelling them")
			}
			cancel()
		}()
	}
	err := u.loop(ctx)
	if err != nil {
		u.res.Cause = ""
	}
	u.res.Phase = u.st.Phase
	u.res.FailedChecks = u.st.FailedChecks
	u.res.Iterations = u.st.Iterations
	if u.res.Revision == "" {
		u.res.Revision = u.st.LastAppliedSpec
	}
	u.res.Finished = r.clock.Now()
	return u.res, err
}

func (u *run) loop(ctx context.Context) error {
	st, err := u.r.store.Load(ctx, u.r.target)
	if err != nil {
		return u.fail("load status", err)
	}
	u.st = st
	if st.Paused {
		u.r.ctl.set(func(c *controlState) { // paused by an earlier process, unless resumed since
			if !c.pauseSet {
				c.paused = true
			}
		})
	}
	for {
		u.tickStarted = u.r.clock.Now()
		n, err := u.tick(ctx)
		if err != nil {
			if fatal(ctx, err) {
				if !u.safeRoute(ctx, err) && ctx.Err() == nil && !errors.Is(err, ErrConflict) {
					// what stopped it, where `kubectl describe` shows it (Flagger records a
					// router's or a workload's error so), not only in the caller's error
					u.emit(EventWarning, ReasonError, err.Error())
				}
				return u.fail(u.op(err), err)
			}
			u.emit(EventWarning, ReasonError, err.Error())
			u.r.log.Error(err, "tick failed; retrying at the next interval", "phase", u.st.Phase)
			n = waitTick
		}
		switch n {
		case finished:
			return nil
		case tickNow:
			continue
		}
		if err := u.wait(ctx); err != nil {
			return u.fail("wait", err)
		}
	}
}

// safeRoute makes a best-effort switch of all traffic to the primary when the analysis stops on a
// permanent error (not a stop of the process, and not a lost race: another driver owns the
// release then), so the route does not keep sending traffic to a canary nobody watches. The
// status is left as it is; a later Run resumes from the route. Before the release's first route
// write the route is known only from its adoption, which may be the router's memory of its last
// write (see routeAllPrimary): the write is made then even if that says all-primary. It
// reports whether it routed so, and said so in an Error event that names the cause.
func (u *run) safeRoute(ctx context.Context, cause error) bool {
	if ctx.Err() != nil || errors.Is(cause, ErrConflict) || !u.reconciled ||
		(u.weights == AllPrimary() && len(u.res.Weights) > 0) ||
		(u.st.Phase != PhaseProgressing && u.st.Phase != PhaseWaitingPromotion) {
		return false
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := u.routeAllPrimary(sctx); err != nil {
		u.r.log.Error(err, "could not route all traffic to the primary after a permanent error", "cause", cause.Error())
		return false
	}
	u.emit(EventWarning, ReasonError, fmt.Sprintf("Routing all traffic to the primary of %s: the analysis stopped: %v", u.r.target, cause))
	return true
}

// opError names the operation an adapter error came from.
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string { return e.op + ": " + e.err.Error() }
func (e *opError) Unwrap() error { return e.err }

func wrapOp(op string, err error) error {
	if err == nil {
		return nil
	}
	return &opError{op: op, err: err}
}

func (u *run) op(err error) string {
	var oe *opError
	if errors.As(err, &oe) {
		return oe.op
	}
	return "tick"
}

// fatal reports whether err ends Run instead of being retried at the next tick.
func fatal(ctx context.Context, err error) bool {
	return ctx.Err() != nil || IsPermanent(err) || errors.Is(err, ErrConflict) ||
		errors.Is(err, ErrMatchUnsupported) || errors.Is(err, ErrMirrorUnsupported) || errors.Is(err, ErrSessionAffinityUnsupported) || errors.Is(err, ErrInvalidWeights) ||
		errors.Is(err, ErrInvalidSpec)
}

func (u *run) fail(op string, err error) error {
	var oe *opError
	if errors.As(err, &oe) {
		err = oe.err
	}
	return &RolloutError{Target: u.r.target, Phase: u.st.Phase, CanaryWeight: u.st.CanaryWeight,
		Iteration: u.st.Iterations, Op: op, Err: err}
}

// wait blocks until the next tick is due (one interval after the last tick began, or the
// target's grid's next time after half an interval with Config.Stagger), a control request,
// or the end of ctx. While paused it waits for a control request only.
func (u *run) wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var tc <-chan time.Time
	// the rest of a resumed interval is for this wait only: a pause that comes first makes it
	// stale (the tick after Resume takes the step, and the next is due an interval later, or
	// with Config.Stagger at the grid's next time after half an interval)
	rest := u.nextWait
	u.nextWait = 0
	if !u.r.ctl.get().paused {
		d := u.r.spec.Interval
		if rest > 0 {
			d = rest
		} else {
			// ticks are due at a fixed rate, as with a ticker: the time a tick spends (its
			// queries, hooks and writes) does not push the next one back; one that overran
			// the interval is followed by the next at once
			if u.r.grid >= 0 {
				// the grid is on the wall clock; the time elapsed since the tick began is
				// measured on the monotonic one, so that a step of the wall clock does not
				// stretch the wait (it stays within one and a half intervals)
				d = nextOnGrid(u.tickStarted, u.r.grid, d).Sub(u.tickStarted)
			}
			d = max(d-u.r.clock.Since(u.tickStarted), 0)
		}
		t := u.r.clock.NewTimer(d)
		defer t.Stop()
		tc = t.C()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tc:
	case <-u.r.ctl.wakeC():
	}
	return nil
}

// tick advances the release by one step of Flagger's analysis: initialize, detect a new
// revision, analyse, promote, finalise, or finish a rollback in flight.
func (u *run) tick(ctx context.Context) (next, error) {
	if u.dirty {
		if err := u.flush(ctx); err != nil {
			return waitTick, err
		}
	}
	if !u.bootstrapped {
		if p, ok := u.r.router.(RoutePreflighter); ok && u.st.Phase == "" && !u.preflighted {
			// a target never initialized: a route the cluster refuses stops it untouched
			if err := p.PreflightRoute(ctx, u.routeTarget()); err != nil {
				return waitTick, wrapOp("reconcile route", err)
			}
			u.preflighted = true
		}
		if err := u.r.workload.Bootstrap(ctx, u.r.target); err != nil {
			return waitTick, wrapOp("bootstrap", err)
		}
		u.bootstrapped = true
	}
	if u.st.Phase == "" || u.st.Phase == PhaseInitializing {
		return u.initialize(ctx)
	}
	if !u.reconciled {
		if err := u.reconcile(ctx); err != nil {
			return waitTick, err
		}
	}
	if u.st.RollingBack {
		return u.rollback(ctx, "", "", u.st.Message)
	}
	switch u.st.Phase {
	case PhaseProgressing, PhaseWaitingPromotion:
		return u.analyse(ctx)
	case PhasePromoting:
		return u.promoting(ctx)
	case PhaseFinalising:
		return u.finalise(ctx)
	default: // Initialized, Waiting, Succeeded, Failed
		return u.detect(ctx)
	}
}

// reconcile adopts the route and reads its weights back: the truth a resumed release continues
// from (the route may be ahead of the status if the last process stopped between the two).
func (u *run) reconcile(ctx context.Context) error {
	var w Weights
	if wr, ok := u.r.router.(WeightsReconciler); ok {
		var err error
		if w, err = wr.ReconcileWeights(ctx, u.routeTarget()); err != nil {
			return wrapOp("reconcile route", err)
		}
	} else {
		if err := u.r.router.Reconcile(ctx, u.routeTarget()); err != nil {
			return wrapOp("reconcile route", err)
		}
		var err error
		if w, err = u.r.router.Weights(ctx, u.routeTarget()); err != nil {
			return wrapOp("read weights", err)
		}
	}
	u.weights = w
	u.reconciled = true
	if err := u.affinityOfRoute(ctx, w); err != nil {
		return err
	}
	if !u.st.Phase.InRelease() {
		return nil
	}
	u.res.Released = true
	u.res.Revision = u.st.LastAppliedSpec
	u.adoptRoute(w)
	if u.st.Phase == PhaseProgressing || u.st.Phase == PhaseWaitingPromotion {
		// the last process analysed at this weight when it saved: wait out the rest of that
		// interval, so every weight gets a whole interval of traffic however often drivers restart
		u.resumeAt = u.st.LastTransitionTime.Add(u.r.spec.Interval)
	}
	u.emit(EventNormal, ReasonResumed, fmt.Sprintf("Resuming %s release of %s at phase %s, canary weight %d, iteration %d, failed checks %d",
		u.r.target, u.st.LastAppliedSpec, u.st.Phase, u.st.CanaryWeight, u.st.Iterations, u.st.FailedChecks))
	return nil
}

// adoptRoute brings a resumed status level with the route when the last process changed the
// route and stopped before saving: the step was taken, so it is not taken (or analysed) again.
func (u *run) adoptRoute(w Weights) {
	st, spec := &u.st, u.r.spec
	before := *st
	switch {
	case st.Phase == PhasePromoting:
		st.CanaryWeight = w.Canary
	case st.Phase != PhaseProgressing && st.Phase != PhaseWaitingPromotion:
		return
	case spec.Strategy() == StrategyCanary:
		st.CanaryWeight = w.Canary
	case spec.Strategy() == StrategyBlueGreen && w == AllCanary() && st.Iterations == spec.Iterations:
		// the switch of all traffic to the canary happened
		st.CanaryWeight, st.Iterations = 100, spec.Iterations+1
	case spec.Strategy() == StrategyBlueGreen && spec.Mirror && w.Mirrored && st.Iterations == 0:
		// the first iteration started the mirroring
		st.Iterations = 1
	}
	if *st != before {
		u.r.log.Info("route is ahead of the saved status; continuing from the route",
			"routeCanaryWeight", w.Canary, "statusCanaryWeight", before.CanaryWeight)
		u.dirty = true
	}
}

// initialize waits for the primary, points the route at it, scales the canary to zero and
// records the current revision as promoted (Flagger's Initializing → Initialized).
func (u *run) initialize(ctx context.Context) (next, error) {
	if u.st.Phase == "" {
		u.st.Phase = PhaseInitializing
		if err := u.save(ctx, "waiting for the primary"); err != nil {
			return waitTick, err
		}
		u.emit(EventNormal, ReasonInitializing, fmt.Sprintf("Initializing %s: waiting for %s.%s to become ready",
			u.r.target, u.r.target.PrimaryName(), u.r.target.Namespace))
	}
	ws, err := u.r.workload.Observe(ctx, u.r.target)
	if err != nil {
		return waitTick, wrapOp("observe workload", err)
	}
	u.res.Revision = ws.Revision
	if !ws.Primary.Ready {
		if u.deadlinePassed(ws.Primary) {
			return finished, &opError{op: "bootstrap", err: Permanent(fmt.Errorf("primary %s.%s not ready: %s",
				u.r.target.PrimaryName(), u.r.target.Namespace, ws.Primary.Message))}
		}
		u.waitEvent("primary", ws.Primary)
		return waitTick, nil
	}
	u.notReadySince = time.Time{}
	if err := u.r.router.Reconcile(ctx, u.routeTarget()); err != nil {
		return waitTick, wrapOp("reconcile route", err)
	}
	if err := u.setWeights(ctx, AllPrimary()); err != nil {
		return waitTick, err
	}
	u.reconciled = true
	if err := u.r.workload.ScaleDown(ctx, u.r.target); err != nil {
		return waitTick, wrapOp("scale down canary", err)
	}
	promoted := ws.PrimaryRevision
	if promoted == "" {
		promoted = ws.Revision
	}
	u.st = Status{Phase: PhaseInitialized, LastAppliedSpec: promoted, LastPromotedSpec: promoted, Version: u.st.Version,
		SessionAffinityCookie: u.st.SessionAffinityCookie, PreviousSessionAffinityCookie: u.st.PreviousSessionAffinityCookie,
		PrimarySessionAffinityCookie: u.st.PrimarySessionAffinityCookie}
	if err := u.save(ctx, "initialization done"); err != nil {
		return waitTick, err
	}
	u.emit(EventNormal, ReasonInitialized, fmt.Sprintf("Initialization done! %s", u.r.target))
	return tickNow, nil
}

// detect looks for a new revision while no analysis runs, and starts a release once the
// confirm-rollout gates open (Flagger: Initialized/Succeeded/Failed → Waiting → Progressing).
func (u *run) detect(ctx context.Context) (next, error) {
	ws, err := u.r.workload.Observe(ctx, u.r.target)
	if err != nil {
		return waitTick, wrapOp("observe workload", err)
	}
	rev := ws.Revision
	if rev == "" {
		return waitTick, wrapOp("observe workload", errors.New("workload reported an empty revision"))
	}
	if rev == ws.PrimaryRevision && rev != u.st.LastPromotedSpec {
		// the primary runs the target's revision, which the status does not record (a status
		// Flagger wrote, whose revisions are its own hashes): nothing to release, and the
		// status records it as promoted from now on
		u.st.LastPromotedSpec = rev
		if u.st.Phase != PhaseFailed {
			u.st.LastAppliedSpec = rev
		}
		if err := u.save(ctx, "the primary runs the target's revision"); err != nil {
			return waitTick, err
		}
	}
	if rev == u.st.LastAppliedSpec || rev == u.st.LastPromotedSpec {
		u.res.Cause = CauseNothingToRelease
		if u.st.Phase == PhaseWaiting {
			u.res.Cause = CauseReverted
			u.st.Phase = PhaseInitialized
			if err := u.save(ctx, "revision reverted before the release started"); err != nil {
				return waitTick, err
			}
		}
		if !u.res.Released {
			u.res.Revision = rev
			u.res.Reason = "no new revision"
		}
		return finished, nil
	}
	u.res.Released = true
	u.res.Revision = rev
	ctl := u.r.ctl.get()
	if u.st.Phase == PhaseWaiting {
		if ctl.abort {
			return u.abortNow(ctx)
		}
		if name, yes := u.rollbackRequested(ctx); yes {
			return u.rollback(ctx, CauseRollbackHook, name, "manual webhook invoked "+name)
		}
		if u.r.ctl.get().abort { // it came while the rollback hooks were asked
			return u.abortNow(ctx)
		}
	}
	if ctl.promote {
		// during Waiting, Promote approves the rollout; the analysis still runs
		u.r.ctl.take(true, false)
	} else {
		if open, name, err := u.gatesOpen(ctx, HookConfirmRollout, "Confirm-rollout"); !open {
			if cutByAbort(err) {
				// what the next tick would do once the closed gate had made the release wait
				return u.abortNow(ctx)
			}
			if err != nil {
				return waitTick, err
			}
			if u.st.Phase != PhaseWaiting {
				u.st.Phase = PhaseWaiting
				if err := u.save(ctx, "waiting for approval "+name); err != nil {
					return waitTick, err
				}
				u.emitHook(EventWarning, ReasonWaiting, name, fmt.Sprintf("Halt %s advancement waiting for approval %s", u.r.target, name))
			}
			return waitTick, nil
		}
	}
	if err := u.r.workload.ScaleUp(ctx, u.r.target); err != nil {
		return waitTick, wrapOp("scale up canary", err)
	}
	u.st = Status{Phase: PhaseProgressing, LastAppliedSpec: rev, LastPromotedSpec: u.st.LastPromotedSpec,
		StartedAt: u.st.StartedAt, Version: u.st.Version, // StartedAt: replaced at the first step
		// the cookies outlive a release: the last one's is expired until the next has weight
		SessionAffinityCookie: u.st.SessionAffinityCookie, PreviousSessionAffinityCookie: u.st.PreviousSessionAffinityCookie,
		PrimarySessionAffinityCookie: u.st.PrimarySessionAffinityCookie}
	u.notReadySince = u.r.clock.Now()
	if err := u.save(ctx, "new revision detected"); err != nil {
		return waitTick, err
	}
	u.emit(EventNormal, ReasonNewRevision, fmt.Sprintf("New revision detected! Scaling up %s", u.r.target.workload()))
	return waitTick, nil
}

// deadlinePassed tracks how long a workload has been not ready and reports whether it failed
// for good: marked Failed, or not ready for longer than the progress deadline.
func (u *run) deadlinePassed(rd Readiness) bool {
	if rd.Failed {
		return true
	}
	now := u.r.clock.Now()
	if u.notReadySince.IsZero() {
		u.notReadySince = now
	}
	return now.Sub(u.notReadySince) >= u.r.spec.ProgressDeadline
}

// waitEvent emits a NotReady event once per distinct message: a Warning, as Flagger records
// a canary or primary not ready yet (Flagger records it at every tick of the wait).
func (u *run) waitEvent(what string, rd Readiness) {
	msg := fmt.Sprintf("%s not ready: %s", what, rd.Message)
	if msg == u.lastWait {
		return
	}
	u.lastWait = msg
	u.emit(EventWarning, ReasonNotReady, fmt.Sprintf("Waiting for %s %s", u.r.target, msg))
}

// save stores the status with msg as its message. On failure the change stays pending and is
// retried (flush) before anything else happens.
func (u *run) save(ctx context.Context, msg string) error {
	u.st.Message = msg
	u.st.LastTransitionTime = u.r.clock.Now()
	u.dirty = true
	return u.flush(ctx)
}

func (u *run) flush(ctx context.Context) error {
	s, err := u.r.store.Save(ctx, u.r.target, u.st)
	if err != nil {
		return wrapOp("save status", err)
	}
	u.st.Version = s.Version
	u.dirty = false
	return nil
}

// setWeights routes w unless the route is known to have it already (and the session
// affinity's cookies are unchanged), and records the step. A cookie made for the step is saved
// before the route carries it, so a resumed release keeps it.
func (u *run) setWeights(ctx context.Context, w Weights) error {
	before := u.cookies()
	if u.affinityFor(w) {
		if err := u.flush(ctx); err != nil {
			return err
		}
	}
	if u.reconciled && w == u.weights && u.cookies() == before {
		return nil
	}
	if err := u.r.router.SetWeights(ctx, u.routeTarget(), w); err != nil {
		return wrapOp("set weights", err)
	}
	if w.Canary != u.weights.Canary {
		u.split.setAt = u.r.clock.Now()
	}
	if w.Canary == 0 {
		u.split.short = 0 // a new start: the split is judged afresh
	}
	u.weights = w
	u.res.Weights = append(u.res.Weights, w.Canary)
	return nil
}

func (u *run) emit(typ EventType, reason Reason, msg string) {
	u.emitEvent(Event{Type: typ, Reason: reason, Message: msg})
}

func (u *run) emitHook(typ EventType, reason Reason, hook, msg string) {
	u.emitEvent(Event{Type: typ, Reason: reason, Message: msg, Hook: hook})
}

func (u *run) emitEvent(e Event) {
	e.Time = u.r.clock.Now()
	e.TickStarted = u.tickStarted
	e.Target = u.r.target
	e.Phase = u.st.Phase
	e.Revision = u.res.Revision
	if e.Weights == (Weights{}) {
		e.Weights = u.weights
	}
	e.Iteration = u.st.Iterations
	e.FailedChecks = u.st.FailedChecks
	// one call, not WithValues and Info: a logger derived per event cost a fifth of the
	// events' CPU at 1,000 targets
	if e.Type == EventWarning {
		u.r.log.Info(e.Message, "reason", e.Reason, "phase", e.Phase, "canaryWeight", e.Weights.Canary, "warning", true)
	} else if e.Reason == ReasonAnalysed {
		u.r.log.V(1).Info(e.Message, "reason", e.Reason, "phase", e.Phase, "canaryWeight", e.Weights.Canary)
	} else {
		u.r.log.Info(e.Message, "reason", e.Reason, "phase", e.Phase, "canaryWeight", e.Weights.Canary)
	}
	if u.r.onEvent != nil {
		u.r.onEvent(e)
	}
	if u.hookQ != nil && e.Reason != ReasonAnalysed { // Flagger sends no event then
		select {
		case u.hookQ <- e:
		default:
			u.r.log.Info("event hooks are behind; event not delivered to them", "event", e.Message)
		}
	}
}
