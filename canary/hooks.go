package canary

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// maxRetryPause bounds the pause a Gate may take between retries of a hook.
const maxRetryPause = 10 * time.Second

// callHook asks one hook's gate. As in Flagger, Timeout bounds each attempt and Retries adds
// attempts: the whole call is bounded by every attempt's timeout plus a pause of up to
// maxRetryPause between attempts. Abort cuts short every call but a post-rollout hook's (the
// release is already decided then): its retries do not delay the rollback. A call Abort cut
// short answers no with errAbortRequested: the hook said nothing, so its caller neither counts
// a failed check nor waits on a gate, and leaves the abort to the next tick.
func (u *run) callHook(ctx context.Context, bh boundHook, phase Phase, ev *Event) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, hookBudget(bh.hook))
	defer cancel()
	if bh.hook.Type != HookPostRollout {
		ctx, cancelOnAbort := context.WithCancelCause(ctx)
		defer cancelOnAbort(nil)
		aborted := u.r.ctl.abortC()
		go func() {
			select {
			case <-aborted:
				cancelOnAbort(errAbortRequested)
			case <-ctx.Done():
			}
		}()
		ok, err := u.askGate(ctx, bh, phase, ev)
		if !ok && errors.Is(context.Cause(ctx), errAbortRequested) {
			return false, errAbortRequested
		}
		return ok, err
	}
	return u.askGate(ctx, bh, phase, ev)
}

// hookBudget bounds a whole hook call: every attempt's timeout plus a pause of up to
// maxRetryPause between attempts. It saturates at the longest Duration rather than overflow
// into a deadline already past (a timeout of years, with retries, is valid in Flagger's CRD).
func hookBudget(h Webhook) time.Duration {
	n := int64(min(max(h.Retries, 0), MaxHookRetries))
	per := hookTimeout(h)
	if per > (math.MaxInt64-maxRetryPause*time.Duration(n))/time.Duration(n+1) {
		return math.MaxInt64
	}
	return per*time.Duration(n+1) + maxRetryPause*time.Duration(n)
}

// errAbortRequested cancels a hook call when Abort is called, and is what the call answers then.
var errAbortRequested = errors.New("abort requested")

// abortNow takes the pending Abort and rolls the release back for it.
func (u *run) abortNow(ctx context.Context) (next, error) {
	u.r.ctl.take(false, true)
	return u.rollback(ctx, CauseAborted, "", "aborted")
}

// cutByAbort reports whether a hook call's no came from Abort cutting it short.
func cutByAbort(err error) bool { return errors.Is(err, errAbortRequested) }

func (u *run) askGate(ctx context.Context, bh boundHook, phase Phase, ev *Event) (bool, error) {
	return bh.gate.Allow(ctx, GateRequest{
		Hook:     bh.hook,
		Target:   u.r.target,
		Phase:    phase,
		Checksum: u.res.Revision,
		Event:    ev,
	})
}

// gatesOpen asks the confirm gates of typ in order; the first closed one keeps the release
// waiting (no failed check) and is named in the result. A gate cut short by the end of Run's
// context or by Abort closes nothing: the context's error or errAbortRequested is returned, and
// the caller saves nothing.
func (u *run) gatesOpen(ctx context.Context, typ HookType, label string) (bool, string, error) {
	phase := u.st.Phase
	if typ != HookConfirmRollout {
		phase = PhaseProgressing // what Flagger sends for in-analysis gates
	}
	for _, bh := range u.r.hooks[typ] {
		ok, err := u.callHook(ctx, bh, phase, nil)
		if !ok && ctx.Err() != nil {
			// cut short by the end of Run: the gate said nothing, so nothing waits on it
			return false, bh.hook.Name, ctx.Err()
		}
		if !ok && cutByAbort(err) {
			// cut short by Abort: likewise; the caller leaves the abort to the next tick
			return false, bh.hook.Name, err
		}
		if err != nil {
			u.r.log.Info("gate closed by error", "hook", bh.hook.Name, "type", typ, "error", err.Error())
		}
		if !ok {
			return false, bh.hook.Name, nil
		}
		u.emitHook(EventNormal, ReasonHookPassed, bh.hook.Name, fmt.Sprintf("%s check %s passed", label, bh.hook.Name))
	}
	return true, "", nil
}

// runHooks runs the pre-rollout or rollout hooks in order and stops at the first failure (or
// the first call Abort cut short: errAbortRequested, no failure).
func (u *run) runHooks(ctx context.Context, typ HookType) (bool, string, error) {
	for _, bh := range u.r.hooks[typ] {
		ok, err := u.callHook(ctx, bh, PhaseProgressing, nil)
		if !ok {
			if err == nil {
				err = fmt.Errorf("hook answered no")
			}
			return false, bh.hook.Name, err
		}
		if typ == HookPreRollout {
			u.emitHook(EventNormal, ReasonHookPassed, bh.hook.Name, fmt.Sprintf("Pre-rollout check %s passed", bh.hook.Name))
		}
	}
	return true, "", nil
}

// rollbackRequested asks the rollback hooks; the first that answers yes names the rollback.
// After an Abort the rest are not asked: the abort rolls the release back anyway.
func (u *run) rollbackRequested(ctx context.Context) (string, bool) {
	for _, bh := range u.r.hooks[HookRollback] {
		yes, err := u.callHook(ctx, bh, u.st.Phase, nil)
		if cutByAbort(err) {
			return "", false
		}
		if err != nil {
			u.r.log.V(1).Info("rollback hook not signalling a rollback", "hook", bh.hook.Name, "error", err.Error())
		}
		if yes {
			u.emitHook(EventWarning, ReasonHookPassed, bh.hook.Name, fmt.Sprintf("Rollback check %s passed", bh.hook.Name))
			return bh.hook.Name, true
		}
	}
	return "", false
}

// postRollout runs the post-rollout hooks with the final phase, in order, until one fails, as
// Flagger does; a failure is reported only.
func (u *run) postRollout(ctx context.Context) {
	for _, bh := range u.r.hooks[HookPostRollout] {
		ok, err := u.callHook(ctx, bh, u.st.Phase, nil)
		switch {
		case ok:
			u.emitHook(EventNormal, ReasonHookPassed, bh.hook.Name, fmt.Sprintf("Post-rollout check %s passed", bh.hook.Name))
		default:
			if err == nil {
				err = fmt.Errorf("hook answered no")
			}
			u.emitHook(EventWarning, ReasonHookFailed, bh.hook.Name, fmt.Sprintf("Post-rollout hook %s failed %v", bh.hook.Name, err))
			return
		}
	}
}

// eventHookQueue bounds the events waiting for the event hooks; eventHookGrace is how long Run,
// when it ends, lets them deliver what is queued (real time: hooks are I/O).
const (
	eventHookQueue = 256
	eventHookGrace = 5 * time.Second
)

// deliverEventHooks forwards queued events to the event hooks, in order, off the Rollout's
// path: a slow or unreachable event hook never delays a decision. Failures are logged only.
// The Checksum of each call is the revision at the time of the event.
func (u *run) deliverEventHooks(ctx context.Context) {
	defer close(u.hooksDone)
	for e := range u.hookQ {
		for _, bh := range u.r.hooks[HookEvent] {
			if ctx.Err() != nil {
				break
			}
			if ok, err := u.callEventHook(ctx, bh, e); !ok {
				u.r.log.Info("event hook failed", "hook", bh.hook.Name, "error", fmt.Sprint(err))
			}
		}
	}
}

func (u *run) callEventHook(ctx context.Context, bh boundHook, e Event) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, hookBudget(bh.hook))
	defer cancel()
	return bh.gate.Allow(ctx, GateRequest{Hook: bh.hook, Target: u.r.target, Phase: e.Phase, Checksum: e.Revision, Event: &e})
}
