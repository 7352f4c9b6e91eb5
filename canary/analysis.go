package canary

import (
	"context"
	"fmt"
	"time"
)

// analyse is one Progressing/WaitingPromotion tick: restart on a new revision, wait for the
// canary, honour rollback requests and the threshold, run hooks and checks, then advance.
func (u *run) analyse(ctx context.Context) (next, error) {
	t := u.r.target
	ws, err := u.r.workload.Observe(ctx, t)
	if err != nil {
		return waitTick, wrapOp("observe workload", err)
	}
	if ws.Revision != u.st.LastAppliedSpec {
		// the primary's revision, too: a status written by another controller (Flagger's
		// hashes) does not record it
		if ws.Revision == u.st.LastPromotedSpec || ws.Revision == ws.PrimaryRevision {
			return u.rollback(ctx, CauseReverted, "", "target reverted to the promoted revision "+ws.Revision)
		}
		return u.restart(ctx, ws.Revision)
	}
	ctl := u.r.ctl.get()
	if ctl.abort {
		return u.abortNow(ctx)
	}
	if ctl.paused {
		if !u.st.Paused { // saved, so a driver that restarts stays paused
			u.st.Paused = true
			if err := u.save(ctx, "paused"); err != nil {
				return waitTick, err
			}
			u.emit(EventNormal, ReasonPaused, fmt.Sprintf("Analysis of %s paused", t))
		}
		return waitTick, nil
	}
	if u.st.Paused {
		u.st.Paused = false
		if err := u.save(ctx, "resumed"); err != nil {
			return waitTick, err
		}
		u.emit(EventNormal, ReasonUnpaused, fmt.Sprintf("Analysis of %s resumed", t))
	}
	if now := u.r.clock.Now(); now.Before(u.resumeAt) {
		u.nextWait = u.resumeAt.Sub(now)
		return waitTick, nil
	}
	if !ws.Canary.Ready {
		if u.deadlinePassed(ws.Canary) {
			return u.rollback(ctx, CauseProgressDeadline, "", "progress deadline exceeded: canary "+ws.Canary.Message)
		}
		u.waitEvent("canary", ws.Canary)
		return waitTick, nil
	}
	u.notReadySince, u.lastWait = time.Time{}, ""

	if u.r.spec.SkipAnalysis {
		return u.promoteSkipped(ctx)
	}
	if name, yes := u.rollbackRequested(ctx); yes {
		return u.rollback(ctx, CauseRollbackHook, name, "manual webhook invoked "+name)
	}
	if u.r.ctl.get().abort {
		return tickNow, nil // Abort came while the rollback hooks were asked: the next tick rolls back
	}
	if u.st.FailedChecks >= u.r.spec.Threshold {
		return u.rollback(ctx, CauseThreshold, "", fmt.Sprintf("failed checks threshold reached %d", u.st.FailedChecks))
	}
	if ctl.promote {
		u.r.ctl.take(true, false)
		return u.promote(ctx, true, nil)
	}

	var checks []CheckResult
	// a release's first tick, unless the route already mirrors to the canary: its mirrored
	// step is analysed like any other (Flagger's analysis skip condition)
	if u.st.CanaryWeight == 0 && u.st.Iterations == 0 && !(u.r.spec.Mirror && u.weights.Mirrored) {
		u.emit(EventNormal, ReasonStarted, fmt.Sprintf("Starting canary analysis for %s", t.workload()))
		if ok, name, herr := u.runHooks(ctx, HookPreRollout); !ok {
			if cutByAbort(herr) {
				return tickNow, nil // the next tick rolls back: no failed check
			}
			return u.failCheck(ctx, "pre-rollout check "+name+" failed", fmt.Sprintf("Halt %s advancement pre-rollout check %s failed %v", t, name, herr), name, nil)
		}
		if u.st.FailedChecks == 0 || u.st.StartedAt.IsZero() {
			// saved with the first step; until then the status keeps the last release's. A
			// failed pre-rollout hook keeps the first try's.
			u.st.StartedAt = u.r.clock.Now()
		}
	} else {
		if ok, name, herr := u.runHooks(ctx, HookRollout); !ok {
			if cutByAbort(herr) {
				return tickNow, nil // the next tick rolls back: no failed check
			}
			return u.failCheck(ctx, "external check "+name+" failed", fmt.Sprintf("Halt %s advancement external check %s failed %v", t, name, herr), name, nil)
		}
		var v verdict
		checks, v = u.runChecks(ctx)
		sv, n, err := u.splitCheck(ctx)
		if sv == splitEnded {
			return n, err
		}
		switch v {
		case verdictFail:
			return u.failCheck(ctx, "metric check failed", "", "", checks)
		case verdictHold:
			return waitTick, nil
		}
		if sv == splitHold {
			return waitTick, nil
		}
	}
	return u.advance(ctx, checks)
}

// restart routes all traffic back to the primary and starts the analysis over for rev.
func (u *run) restart(ctx context.Context, rev string) (next, error) {
	u.emit(EventNormal, ReasonRestarted, fmt.Sprintf("New revision detected! Restarting analysis for %s", u.r.target.workload()))
	if err := u.setWeights(ctx, AllPrimary()); err != nil {
		return waitTick, err
	}
	u.st = Status{Phase: PhaseProgressing, LastAppliedSpec: rev, LastPromotedSpec: u.st.LastPromotedSpec,
		StartedAt: u.st.StartedAt, Version: u.st.Version, // StartedAt: replaced at the first step
		// the route at weight 0 made the restarted release's cookie the previous one, which
		// routes at weight 0 keep expiring; the primary's cookie outlives the restart
		SessionAffinityCookie: u.st.SessionAffinityCookie, PreviousSessionAffinityCookie: u.st.PreviousSessionAffinityCookie,
		PrimarySessionAffinityCookie: u.st.PrimarySessionAffinityCookie}
	u.res.Revision = rev
	u.notReadySince = u.r.clock.Now()
	if err := u.save(ctx, "new revision during analysis"); err != nil {
		return waitTick, err
	}
	return waitTick, nil
}

// failCheck counts a failed check and saves it; the next tick tries again. A hook or check
// cut short because Run's context ended measured nothing: it is not counted (whatever the
// store does with a cancelled context), and Run ends with the context's error.
func (u *run) failCheck(ctx context.Context, why, msg, hook string, checks []CheckResult) (next, error) {
	if err := ctx.Err(); err != nil {
		return waitTick, err
	}
	u.st.FailedChecks++
	if err := u.save(ctx, why); err != nil {
		return waitTick, err
	}
	if msg != "" {
		u.emitEvent(Event{Type: EventWarning, Reason: ReasonHalted, Message: msg, Hook: hook, Checks: checks})
	}
	for _, c := range checks {
		if !c.DryRun && !c.Passed(u.policy(c.Name)) {
			u.emitEvent(Event{Type: EventWarning, Reason: ReasonHalted, Message: u.haltMessage(c), Check: c.Name, Checks: checks})
		}
	}
	return waitTick, nil
}

// advance takes the next step of the strategy, or starts the promotion at the end.
func (u *run) advance(ctx context.Context, checks []CheckResult) (next, error) {
	t, spec := u.r.target, u.r.spec
	switch spec.Strategy() {
	case StrategyCanary:
		if u.st.CanaryWeight >= spec.maxWeight() {
			return u.promote(ctx, false, checks)
		}
		// as in Flagger, no confirm-traffic-increase gate is asked while the route mirrors: the
		// one asked before the mirrored step stands for the step that ends it
		if !u.weights.Mirrored {
			if open, name, err := u.gatesOpen(ctx, HookConfirmTrafficIncrease, "Confirm-traffic-increase"); !open {
				if cutByAbort(err) {
					return tickNow, nil // the next tick rolls back: nothing waits on the gate
				}
				if err != nil {
					return waitTick, err
				}
				u.emitEvent(Event{Type: EventWarning, Reason: ReasonWaiting, Hook: name, Checks: checks,
					Message: fmt.Sprintf("Halt %s advancement waiting for traffic increase approval %s", t, name)})
				return waitTick, nil
			}
		}
		next, why := CanaryWeight(spec.nextWeight(u.st.CanaryWeight)), ""
		if spec.Mirror && u.st.CanaryWeight == 0 && !u.weights.Mirrored {
			// one step of mirroring before the canary gets any traffic: every request goes to
			// the primary and is copied to the canary, whose responses are dropped
			next, why = MirrorToCanary(), ", mirrored"
		}
		w := next.Canary
		if err := u.setWeights(ctx, next); err != nil {
			return waitTick, err
		}
		u.st.CanaryWeight = w
		if err := u.save(ctx, fmt.Sprintf("canary weight %d%s", w, why)); err != nil {
			return waitTick, err
		}
		u.emitEvent(Event{Type: EventNormal, Reason: ReasonAdvanced, Checks: checks,
			Message: fmt.Sprintf("Advance %s canary weight %d", t, w)})
		return waitTick, nil

	case StrategyABTesting, StrategyBlueGreen:
		if u.st.Iterations >= spec.Iterations {
			return u.promote(ctx, false, checks)
		}
		switch {
		case spec.Strategy() == StrategyABTesting:
			// matching requests go to the canary for the whole test
			if err := u.setWeights(ctx, AllCanary()); err != nil {
				return waitTick, err
			}
		case spec.Mirror && !u.weights.Mirrored:
			// blue/green mirrors requests to the canary for the whole test
			if err := u.setWeights(ctx, MirrorToCanary()); err != nil {
				return waitTick, err
			}
			u.emit(EventNormal, ReasonAdvanced, "Start traffic mirroring")
		}
		u.st.Iterations++
		if err := u.save(ctx, fmt.Sprintf("iteration %d/%d", u.st.Iterations, spec.Iterations)); err != nil {
			return waitTick, err
		}
		u.emitEvent(Event{Type: EventNormal, Reason: ReasonAdvanced, Checks: checks,
			Message: fmt.Sprintf("Advance %s canary iteration %d/%d", t, u.st.Iterations, spec.Iterations)})
		return waitTick, nil
	}
	return waitTick, fmt.Errorf("unknown strategy %q", spec.Strategy())
}

// promote passes the confirm-promotion gates (unless manual), then copies the canary's spec to
// the primary (Promoting). Blue/green first routes all traffic to the canary for one tick.
// checks are the tick's results: its event carries them, as an advance's does.
func (u *run) promote(ctx context.Context, manual bool, checks []CheckResult) (next, error) {
	t := u.r.target
	if !manual {
		if open, name, err := u.gatesOpen(ctx, HookConfirmPromotion, "Confirm-promotion"); !open {
			if cutByAbort(err) {
				return tickNow, nil // the next tick rolls back: nothing waits on the gate
			}
			if err != nil {
				return waitTick, err
			}
			if u.st.Phase != PhaseWaitingPromotion {
				u.st.Phase = PhaseWaitingPromotion
				if err := u.save(ctx, "waiting for promotion approval "+name); err != nil {
					return waitTick, err
				}
				u.emitEvent(Event{Type: EventWarning, Reason: ReasonWaiting, Hook: name, Checks: checks,
					Message: fmt.Sprintf("Halt %s advancement waiting for promotion approval %s", t, name)})
			} else {
				u.emitEvent(Event{Type: EventNormal, Reason: ReasonAnalysed, Hook: name, Checks: checks,
					Message: fmt.Sprintf("Analysis of %s passed, waiting for promotion approval %s", t, name)})
			}
			return waitTick, nil
		}
		if u.r.spec.Strategy() == StrategyBlueGreen && u.st.Iterations == u.r.spec.Iterations {
			msg := "Routing all traffic to canary"
			if u.r.spec.Mirror {
				msg = "Stop traffic mirroring and route all traffic to canary"
			}
			u.emit(EventNormal, ReasonAdvanced, msg)
			if err := u.setWeights(ctx, AllCanary()); err != nil {
				return waitTick, err
			}
			u.st.CanaryWeight = 100
			u.st.Iterations++
			// the phase stays as it was, WaitingPromotion after a closed gate, as Flagger
			// changes only the iterations with the switch
			return waitTick, u.save(ctx, "all traffic on the canary")
		}
	}
	u.emitEvent(Event{Type: EventNormal, Reason: ReasonPromoting, Checks: checks,
		Message: fmt.Sprintf("Copying %s template spec to %s.%s", t.workload(), t.PrimaryName(), t.Namespace)})
	if err := u.r.workload.Promote(ctx, t, u.st.LastAppliedSpec); err != nil {
		return waitTick, wrapOp("promote", err) // a revision changed meanwhile restarts at the next tick
	}
	u.st.Phase = PhasePromoting
	u.st.CanaryWeight = u.weights.Canary
	u.notReadySince = u.r.clock.Now()
	if err := u.save(ctx, "promoting"); err != nil {
		return waitTick, err
	}
	return waitTick, nil
}

// promoting waits for the primary to roll out the promoted revision, then shifts traffic back
// to it, all at once or by StepWeightPromotion per tick (Flagger: Promoting → Finalising).
func (u *run) promoting(ctx context.Context) (next, error) {
	t := u.r.target
	ws, err := u.r.workload.Observe(ctx, t)
	if err != nil {
		return waitTick, wrapOp("observe workload", err)
	}
	if u.r.ctl.get().abort {
		u.r.ctl.take(false, true)
		u.emit(EventWarning, ReasonPromoting, fmt.Sprintf("Abort of %s ignored: the primary already runs the promoted revision", t))
	}
	if u.r.ctl.get().paused {
		return waitTick, nil
	}
	if !ws.Primary.Ready {
		if u.deadlinePassed(ws.Primary) {
			return u.promotionFailed(ctx, ws.Primary.Message)
		}
		u.waitEvent("primary", ws.Primary)
		return waitTick, nil
	}
	u.notReadySince, u.lastWait = time.Time{}, ""
	step := u.r.spec.StepWeightPromotion
	c := 0
	if step > 0 {
		c = max(0, u.weights.Canary-step)
	}
	if c == 0 { // the event carries the weights it announces
		u.emitEvent(Event{Type: EventNormal, Reason: ReasonShifted, Message: "Routing all traffic to primary", Weights: AllPrimary()})
	}
	if err := u.setWeights(ctx, CanaryWeight(c)); err != nil {
		return waitTick, err
	}
	u.st.CanaryWeight = c
	if c > 0 {
		u.emit(EventNormal, ReasonShifted, fmt.Sprintf("Advance %s primary weight %d", t, 100-c))
		return waitTick, u.save(ctx, fmt.Sprintf("primary weight %d", 100-c))
	}
	// Finalising is saved with the outcome, in one write: the route already tells a resumed
	// release that the traffic is back on the primary. Should the scale-down fail, the next
	// tick saves Finalising before it tries again.
	u.st.Phase = PhaseFinalising
	u.st.Message, u.st.LastTransitionTime = "finalising", u.r.clock.Now()
	u.dirty = true
	return u.finalise(ctx)
}

// promotionFailed handles a primary that does not become ready with the promoted revision: the
// canary is the only healthy copy of it, so traffic goes there and the release fails.
func (u *run) promotionFailed(ctx context.Context, why string) (next, error) {
	t := u.r.target
	if err := u.setWeights(ctx, AllCanary()); err != nil {
		return waitTick, err
	}
	u.st.Phase = PhaseFailed
	u.st.CanaryWeight = 100
	reason := "promotion failed, primary not ready: " + why
	if err := u.save(ctx, reason); err != nil {
		return waitTick, err
	}
	u.emitEvent(Event{Type: EventWarning, Reason: ReasonFailed, Cause: CausePromotionFailed,
		Message: fmt.Sprintf("Promotion of %s failed, primary not ready: %s", t.workload(), why)})
	u.res.Reason = reason
	u.res.Cause = CausePromotionFailed
	u.postRollout(ctx)
	return finished, nil
}

// finalise scales the canary to zero and marks the release Succeeded.
func (u *run) finalise(ctx context.Context) (next, error) {
	return u.succeed(ctx, CausePromoted, "promotion completed", fmt.Sprintf("Promotion completed! Scaling down %s", u.r.target.workload()))
}

// promoteSkipped promotes without analysis (skipAnalysis): traffic stays on the primary.
func (u *run) promoteSkipped(ctx context.Context) (next, error) {
	t := u.r.target
	if err := u.setWeights(ctx, AllPrimary()); err != nil {
		return waitTick, err
	}
	u.emit(EventNormal, ReasonPromoting, fmt.Sprintf("Copying %s template spec to %s.%s", t.workload(), t.PrimaryName(), t.Namespace))
	if err := u.r.workload.Promote(ctx, t, u.st.LastAppliedSpec); err != nil {
		return waitTick, wrapOp("promote", err)
	}
	return u.succeed(ctx, CauseAnalysisSkipped, "promotion completed, analysis skipped", fmt.Sprintf("Promotion completed! Canary analysis was skipped for %s", t.workload()))
}

// succeed scales the canary to zero and ends the release Succeeded: the applied revision is
// now the promoted one.
func (u *run) succeed(ctx context.Context, cause Cause, reason, msg string) (next, error) {
	if err := u.r.workload.ScaleDown(ctx, u.r.target); err != nil {
		return waitTick, wrapOp("scale down canary", err)
	}
	u.st.Phase = PhaseSucceeded
	u.st.CanaryWeight = 0
	u.st.LastPromotedSpec = u.st.LastAppliedSpec
	if err := u.save(ctx, reason); err != nil {
		return waitTick, err
	}
	u.emit(EventNormal, ReasonSucceeded, msg)
	u.res.Reason = reason
	u.res.Cause = cause
	u.postRollout(ctx)
	return finished, nil
}

// routeAllPrimary routes all traffic to the primary for a rollback. Before its first route write
// a release knows the route only from its adoption, which a router may answer from its own
// last write (kube/driver remembers a TrafficSplit it wrote while its lease is held): the write
// is made even when the route is thought to be all on the primary already, so that a route
// edited by hand since never keeps sending traffic to the failed canary. Such a write is not a
// step of the release (Result.Weights).
func (u *run) routeAllPrimary(ctx context.Context) error {
	if len(u.res.Weights) > 0 || !u.reconciled || u.weights != AllPrimary() {
		return u.setWeights(ctx, AllPrimary())
	}
	u.affinityFor(AllPrimary()) // at weight 0 it expires the release's cookie and makes none
	return wrapOp("set weights", u.r.router.SetWeights(ctx, u.routeTarget(), AllPrimary()))
}

// rollback routes all traffic to the primary, scales the canary to zero and fails the release.
// The intent is saved first, with its cause, so a Rollout that resumes after a crash finishes
// the rollback (called with cause "": the saved one is used; the hook is then unknown: "").
func (u *run) rollback(ctx context.Context, cause Cause, hook, reason string) (next, error) {
	t := u.r.target
	if cause == "" {
		cause = u.st.Cause
	}
	if !u.st.RollingBack {
		u.st.RollingBack = true
		u.st.Cause = cause
		if u.res.Revision != "" {
			u.st.LastAppliedSpec = u.res.Revision // the failed revision is not released again
		}
		if err := u.save(ctx, reason); err != nil {
			return waitTick, err
		}
	}
	failedAt := u.weights
	err := u.routeAllPrimary(ctx) // traffic first, then the news
	if !u.announced {
		u.announced = true
		u.emitEvent(Event{Type: EventWarning, Reason: ReasonRollingBack, Cause: cause, Hook: hook, Weights: failedAt,
			Message: fmt.Sprintf("Rolling back %s %s", t, reason)})
	}
	if err != nil {
		return waitTick, err
	}
	if err := u.r.workload.ScaleDown(ctx, t); err != nil {
		return waitTick, wrapOp("scale down canary", err)
	}
	u.st.RollingBack = false
	u.st.Phase = PhaseFailed
	u.st.CanaryWeight = 0
	if err := u.save(ctx, reason); err != nil {
		return waitTick, err
	}
	u.emitEvent(Event{Type: EventWarning, Reason: ReasonFailed, Cause: cause, Hook: hook,
		Message: fmt.Sprintf("Canary failed! Scaling down %s", t)})
	u.res.Released = true
	u.res.Reason = reason
	u.res.Cause = cause
	u.postRollout(ctx)
	return finished, nil
}
