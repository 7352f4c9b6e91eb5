package kube

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/park"
	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
)

// The Lease's annotations hold the rollout status.
const (
	AnnotationStatus        = "canarykit.dev/status"
	AnnotationStatusVersion = "canarykit.dev/status-version"
)

// DefaultLeaseDuration is how long a driver's claim lasts without renewal. A driver renews
// when it has written nothing for half of it; with an analysis interval up to half the
// duration, every step's status save renews the lease and no extra request is made.
const DefaultLeaseDuration = 2 * time.Minute

// ErrLeaseHeld: another driver holds the target's lease (see HeldError).
var ErrLeaseHeld = errors.New("lease held by another driver")

// ErrLeaseLost: the lease was taken over while this driver held it.
var ErrLeaseLost = errors.New("lease lost")

// HeldError says who holds the lease and until when.
type HeldError struct {
	Lease  string
	Holder string
	Until  time.Time
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("%s: lease %s is held by %q until %s", ErrLeaseHeld, e.Lease, e.Holder, e.Until.Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrLeaseHeld) true.
func (e *HeldError) Is(target error) bool { return target == ErrLeaseHeld }

// LeaseOptions configures a Lease. Zero fields mean "default".
type LeaseOptions struct {
	// Client talks to the API server. Required.
	Client kubernetes.Interface
	// Target whose releases the lease guards. Required.
	Target canary.Target
	// Identity names this driver. Default: NewIdentity(), the host name and a random suffix.
	// Give a stable identity (a pod name) to let a restarted process take its lease back at
	// once; an earlier claim under the identity that still runs (the process it replaced,
	// not yet stopped) finds it lost at its next write (ErrLeaseLost).
	Identity string
	// Duration of a claim without renewal: whole seconds (a Lease declares seconds), at least
	// one and less than VouchedLeaseDuration. Default DefaultLeaseDuration. A claim not
	// renewed within three quarters of it counts as lost (fn's context is cancelled), so that
	// the driver stops before another may take the target.
	Duration time.Duration
	// Holders, when set, renews the claim while Hold runs: the lease is vouched for by the
	// process's holder lease of the namespace and renews itself only every half hour, for
	// older tools (see Holders, VouchedLeaseDuration).
	// Two Leases of one target that share Holders never hold it at once, whatever their
	// identities: the second waits (or gets a HeldError) until the first releases it.
	Holders *Holders
	// Wait makes Acquire wait for the lease instead of returning a HeldError.
	Wait bool
	// Clock measures renewals and expiry. Default: the real clock.
	Clock clock.Clock
	// Logger receives structured logs. Default: discard.
	Logger logr.Logger
}

// Lease is one target's coordination.k8s.io Lease, "<target>-canarykit": it makes sure one
// driver at a time runs the target's releases, and it stores the rollout status in its
// annotations — so saving the status also renews the claim, and a step costs one write.
// Lease implements canary.StatusStore; Save requires holding the lease.
type Lease struct {
	opts LeaseOptions
	name string
	log  logr.Logger

	mu        sync.Mutex
	obj       *coordinationv1.Lease // as last read or written
	held      bool
	lastWrite time.Time
	acquired  *metav1.MicroTime            // the AcquireTime of this driver's claim
	vouch     *holder                      // the holder lease vouching for the claim; nil: it renews itself
	givingUp  bool                         // a vouched claim whose release failed is being given up (giveUpVouched)
	tried     time.Time                    // the AcquireTime of the last claim written, answered or not
	handled   string                       // the last Control request applied; cleared by the next write
	apply     func(Control)                // set while registered for control requests (Cluster.Controls)
	queued    []Control                    // requests found while writing, applied once l.mu is released
	clear     chan struct{}                // nudge: a Control request to clear, or the claim found lost
	parked    atomic.Pointer[park.Parking] // the renewals, while they wait without a goroutine

	// the Lease watch's copies of the lease, waiting for l.mu (see fromWatch)
	inboxMu  sync.Mutex
	inbox    []watched
	draining bool // a goroutine is applying inbox

	// held from taking a Control request to the end of its apply (notice, deliver), and by
	// the end of a registration (Cluster.Controls' stop): requests are applied one at a time,
	// and none is being applied, nor will be, once stop returns. Taken before l.mu.
	applyMu sync.Mutex
}

// claimDefaults fills in the defaults of a claim's identity, duration and clock, and returns
// its logger (discarding when unset).
func claimDefaults(kind string, identity *string, duration *time.Duration, clk *clock.Clock, log logr.Logger) (logr.Logger, error) {
	if *identity == "" {
		*identity = NewIdentity()
	}
	switch d := *duration; {
	case d == 0:
		*duration = DefaultLeaseDuration
	case d < time.Second || d%time.Second != 0:
		return logr.Logger{}, fmt.Errorf("kube: %s.Duration %s: want whole seconds, at least 1s (a Lease declares whole seconds)", kind, d)
	case d >= VouchedLeaseDuration:
		return logr.Logger{}, fmt.Errorf("kube: %s.Duration %s: want less than %s (the duration of a claim vouched for by a holder lease)", kind, d, VouchedLeaseDuration)
	}
	if *clk == nil {
		*clk = clock.RealClock{}
	}
	if log.GetSink() == nil {
		return logr.Discard(), nil
	}
	return log, nil
}

// NewIdentity returns a driver identity: the host name and a random suffix.
func NewIdentity() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return host + "_" + hex.EncodeToString(b)
}

var _ canary.StatusStore = (*Lease)(nil)

// NewLease returns the Lease for opts.Target. It touches nothing.
func NewLease(opts LeaseOptions) (*Lease, error) {
	if opts.Client == nil || opts.Target.Namespace == "" || opts.Target.Name == "" {
		return nil, errors.New("kube: LeaseOptions.Client and Target (namespace, name) are required")
	}
	log, err := claimDefaults("LeaseOptions", &opts.Identity, &opts.Duration, &opts.Clock, opts.Logger)
	if err != nil {
		return nil, err
	}
	name := opts.Target.Name + "-canarykit"
	return &Lease{opts: opts, name: name, log: log.WithValues("lease", opts.Target.Namespace+"/"+name), clear: make(chan struct{}, 1)}, nil
}

// Holder reads who holds the lease and until when; "" when it is free, expired or absent.
func (l *Lease) Holder(ctx context.Context) (string, time.Time, error) {
	cur, err := l.leases().Get(ctx, l.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("get lease %s: %w", l.name, err)
	}
	holder := ptr.Deref(cur.Spec.HolderIdentity, "")
	if holder == "" {
		return "", time.Time{}, nil
	}
	until, err := claimUntil(ctx, l.leases().Get, cur)
	if err != nil {
		return "", time.Time{}, err
	}
	if !l.opts.Clock.Now().Before(until) {
		return "", time.Time{}, nil
	}
	return holder, until, nil
}

// Held reports whether this driver holds the lease, as far as it knows (the claim may have
// lapsed since its last write; the renewals find out).
func (l *Lease) Held() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held
}

// Name returns the Lease object's name.
func (l *Lease) Name() string { return l.name }

// Identity returns this driver's identity.
func (l *Lease) Identity() string { return l.opts.Identity }

func (l *Lease) leases() interface {
	Get(context.Context, string, metav1.GetOptions) (*coordinationv1.Lease, error)
	Create(context.Context, *coordinationv1.Lease, metav1.CreateOptions) (*coordinationv1.Lease, error)
	Update(context.Context, *coordinationv1.Lease, metav1.UpdateOptions) (*coordinationv1.Lease, error)
} {
	return l.opts.Client.CoordinationV1().Leases(l.opts.Target.Namespace)
}

// Acquire claims the lease: it creates it, takes over an expired claim, or renews this
// driver's own. Another driver's live claim yields a *HeldError, or with Wait, a wait until
// the claim is released or expires.
func (l *Lease) Acquire(ctx context.Context) error {
	return l.acquire(ctx, nil)
}

// acquire is Acquire, the claim vouched for by h when set.
func (l *Lease) acquire(ctx context.Context, h *holder) error {
	for {
		err := l.tryAcquire(ctx, h)
		var held *HeldError
		if !errors.As(err, &held) || !l.opts.Wait {
			return err
		}
		wait := min(max(held.Until.Sub(l.opts.Clock.Now()), time.Second), l.opts.Duration/4)
		l.log.Info("waiting for the lease", "holder", held.Holder, "until", held.Until)
		t := l.opts.Clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C():
		}
	}
}

func (l *Lease) key() string { return l.opts.Target.Namespace + "/" + l.name }

func (l *Lease) tryAcquire(ctx context.Context, h *holder) (err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.opts.Clock.Now()
	l.tried = time.Time{}
	if other := l.register(); other != nil {
		// nothing is read: the other Lease sharing the Holders releases it first
		return &HeldError{Lease: l.key(), Holder: other.opts.Identity + " (another driver of this process)", Until: now.Add(time.Second)}
	}
	if l.givingUp {
		return &HeldError{Lease: l.key(), Holder: l.opts.Identity + " (this driver's last claim, being released)", Until: now.Add(time.Second)}
	}
	defer func() {
		if err != nil {
			l.unregister()
		}
	}()
	cur, err := l.leases().Get(ctx, l.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		obj := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: l.name, Namespace: l.opts.Target.Namespace,
				Labels: map[string]string{canary.LabelManagedBy: canary.ManagedBy}},
			Spec: coordinationv1.LeaseSpec{AcquireTime: ptr.To(metav1.NewMicroTime(now))},
		}
		l.tried = now
		vouch := l.stamp(obj, h, now)
		created, err := l.leases().Create(ctx, obj, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create lease %s: %w", l.name, err)
		}
		l.took(created, vouch, now)
		return nil
	}
	if err != nil {
		return fmt.Errorf("get lease %s: %w", l.name, err)
	}
	holder := ptr.Deref(cur.Spec.HolderIdentity, "")
	if holder != "" && holder != l.opts.Identity {
		until, err := claimUntil(ctx, l.leases().Get, cur)
		if err != nil {
			return err
		}
		if now.Before(until) {
			return &HeldError{Lease: cur.Namespace + "/" + cur.Name, Holder: holder, Until: until}
		}
	}
	u := cur.DeepCopy()
	u.Spec.AcquireTime = ptr.To(metav1.NewMicroTime(now)) // each claim its own: Release compares it
	l.tried = now
	if holder != l.opts.Identity {
		u.Spec.LeaseTransitions = ptr.To(ptr.Deref(u.Spec.LeaseTransitions, 0) + 1)
	}
	vouch := l.stamp(u, h, now)
	updated, err := l.leases().Update(ctx, u, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		return &HeldError{Lease: cur.Namespace + "/" + cur.Name, Holder: "a driver that just took it", Until: now.Add(l.opts.Duration)}
	}
	if err != nil {
		return fmt.Errorf("take lease %s: %w", l.name, err)
	}
	l.took(updated, vouch, now)
	return nil
}

func (l *Lease) took(obj *coordinationv1.Lease, vouch *holder, now time.Time) {
	l.obj, l.held, l.lastWrite, l.vouch, l.acquired = kept(obj), true, now, vouch, obj.Spec.AcquireTime
	l.log.Info("lease acquired", "identity", l.opts.Identity, "vouched", vouch != nil)
}

// kept is obj as a Lease keeps it between writes: without its managedFields, which no reader
// of the lease uses (an update that carries none leaves the API server's as they are). At
// 1,000 targets they were a third of the memory the held leases took.
func kept(obj *coordinationv1.Lease) *coordinationv1.Lease {
	if obj != nil {
		obj.ManagedFields = nil
	}
	return obj
}

// expiry is when a claim lapses: its renewal time plus its duration.
func expiry(obj *coordinationv1.Lease) time.Time {
	if obj.Spec.RenewTime == nil {
		return time.Time{}
	}
	return obj.Spec.RenewTime.Add(time.Duration(ptr.Deref(obj.Spec.LeaseDurationSeconds, 0)) * time.Second)
}

// Release gives the lease up, keeping the status; the next driver takes it at once. A Control
// request this driver applied is cleared; one it did not see stays for the next driver.
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.held {
		l.unregister()
		return nil
	}
	l.held = false
	err := l.giveUp(ctx)
	if err == nil || l.vouch == nil {
		// unvouched, a claim that could not be given up lapses on its own
		l.unregister()
	} else {
		l.givingUp = true // vouched: Hold gives it up again (giveUpVouched); no new claim meanwhile
	}
	return err
}

// giveUp writes the lease free unless another claim replaced this driver's. l.mu must be held.
func (l *Lease) giveUp(ctx context.Context) error {
	err := retryOnConflict(func() error {
		u := l.obj.DeepCopy()
		if ptr.Deref(u.Spec.HolderIdentity, "") != l.opts.Identity || !sameInstant(u.Spec.AcquireTime, l.acquired) {
			return nil // taken over meanwhile: nothing to release
		}
		u.Spec.HolderIdentity = nil
		u.Spec.RenewTime = nil
		unvouch(u, l.opts.Duration)
		clearHandled(u, l.handled)
		updated, err := l.leases().Update(ctx, u, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			fresh, gerr := l.leases().Get(ctx, l.name, metav1.GetOptions{})
			if gerr == nil {
				l.obj = kept(fresh)
			}
			if apierrors.IsNotFound(gerr) {
				return gerr // deleted (an update of a deleted object is a conflict on its UID)
			}
			return err
		}
		if err == nil {
			l.obj = kept(updated)
		}
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("release lease %s: %w", l.name, err)
	}
	return nil
}

// Hold acquires the lease, runs fn while renewing it, and releases it when fn returns (or
// panics: the panic goes on once the claim is given up). If the
// lease is lost meanwhile, fn's context is cancelled and Hold returns ErrLeaseLost. With
// LeaseOptions.Holders the claim is vouched for by the namespace's holder lease and renewed
// with it (if no holder lease can be claimed, the error is logged and the lease renews
// itself); a vouched claim that cannot be given up when fn returns is given up again, every
// eighth of the duration, until that succeeds or the holder lease is lost: it must not stay
// vouched for while the process lives. Hold is Begin, fn and the Claim's End.
func (l *Lease) Hold(ctx context.Context, fn func(context.Context) error) error {
	c, err := l.Begin(ctx)
	if err != nil {
		return err
	}
	panicked, err := callHeld(c.Context(), fn)
	err = c.End(err)
	if panicked != nil {
		panic(panicked) // the claim is given up first
	}
	return err
}

// Claim is one hold of a Lease begun by Begin and not yet ended: the lease is renewed until
// End. A caller that waits between pieces of work without a goroutine (a parked loop) holds
// the lease this way, where Hold would keep its goroutine for the whole hold.
type Claim struct {
	l      *Lease
	parent context.Context
	h      *holder
	ctx    context.Context
	cancel context.CancelCauseFunc
	done   chan struct{} // closed when the renewals have ended
	ended  atomic.Bool
}

// Begin acquires the lease as Hold does and starts renewing it. The Claim's Context is
// cancelled when ctx ends or the lease is lost; End must be called in either case, once the
// work under the claim has stopped.
func (l *Lease) Begin(ctx context.Context) (*Claim, error) {
	var h *holder
	if hs := l.opts.Holders; hs != nil {
		var err error
		if h, err = hs.join(ctx, l.opts.Target.Namespace); err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			l.log.Error(err, "no holder lease; the lease renews itself")
		}
	}
	if err := l.acquire(ctx, h); err != nil {
		if h != nil {
			if !errors.Is(err, ErrLeaseHeld) && l.abandon(h) {
				go l.giveUpVouched(h) // a write that failed may have been made: it must not stay vouched for
			} else {
				h.hs.leave(h)
			}
		}
		return nil, err
	}
	c := &Claim{l: l, parent: ctx, h: h, done: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancelCause(ctx)
	go l.renewals(c.ctx, c.cancel, c.done)
	return c, nil
}

// Context is cancelled when the claim ends: its Begin's context ended, the lease was lost
// (context.Cause is then an ErrLeaseLost) or End was called.
func (c *Claim) Context() context.Context { return c.ctx }

// End stops the renewals and releases the lease, and returns err (what the work under the
// claim ended with), joined to an ErrLeaseLost if the lease was lost meanwhile. A second End
// returns err as it is.
func (c *Claim) End(err error) error {
	if !c.ended.CompareAndSwap(false, true) {
		return err
	}
	l, h := c.l, c.h
	cause := context.Cause(c.ctx)
	c.cancel(nil)
	<-c.done
	l.mu.Lock()
	if !l.held && !errors.Is(cause, ErrLeaseLost) {
		// a write of the work's (Save) found the claim lost, and the work ended before the
		// renewals ended the hold
		cause = fmt.Errorf("%w: lease %s is no longer held by %q", ErrLeaseLost, l.name, l.opts.Identity)
	}
	l.mu.Unlock()
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(c.parent), 10*time.Second)
	rerr := l.Release(rctx)
	rcancel()
	switch {
	case rerr == nil:
		if h != nil {
			h.hs.leave(h)
		}
	case l.beingGivenUp():
		l.log.Error(rerr, "release failed; retrying while the holder lease vouches for the claim")
		go l.giveUpVouched(h)
	default:
		l.log.Error(rerr, "release failed; the lease expires on its own")
		if h != nil {
			h.hs.leave(h)
		}
	}
	if errors.Is(cause, ErrLeaseLost) {
		return errors.Join(cause, err)
	}
	return err
}

// callHeld runs fn, returning what it panicked with, if anything, so that Hold ends the
// renewals and gives the claim up before the panic goes on.
func callHeld(ctx context.Context, fn func(context.Context) error) (panicked any, err error) {
	defer func() {
		if p := recover(); p != nil {
			panicked = p
		}
	}()
	return nil, fn(ctx)
}

// write updates the held lease with edit and a new renewal time, clearing a Control request
// already applied. A conflict means another writer: if it took the lease (another identity,
// or a new claim under this one: another AcquireTime), the claim is lost; if it only left a
// Control request (canaryctl), the write is made again on the fresh lease (a request without
// LabelControlRequested is queued for deliver then).
func (l *Lease) write(ctx context.Context, edit func(*coordinationv1.Lease), now time.Time) (*coordinationv1.Lease, error) {
	for attempt := 0; ; attempt++ {
		u := l.obj.DeepCopy()
		edit(u)
		clearHandled(u, l.handled)
		u.Spec.RenewTime = ptr.To(metav1.NewMicroTime(now))
		updated, err := l.leases().Update(ctx, u, metav1.UpdateOptions{})
		if apierrors.IsNotFound(err) {
			l.held = false
			l.nudge()
			return nil, fmt.Errorf("%w: lease %s was deleted", ErrLeaseLost, l.name)
		}
		if apierrors.IsConflict(err) {
			fresh, gerr := l.leases().Get(ctx, l.name, metav1.GetOptions{})
			if apierrors.IsNotFound(gerr) { // an update of a deleted lease conflicts on its UID
				l.held = false
				l.nudge()
				return nil, fmt.Errorf("%w: lease %s was deleted", ErrLeaseLost, l.name)
			}
			if gerr != nil {
				return nil, fmt.Errorf("update lease %s: %w", l.name, err)
			}
			if holder := ptr.Deref(fresh.Spec.HolderIdentity, ""); holder != l.opts.Identity {
				l.held = false
				l.nudge()
				return nil, fmt.Errorf("%w: lease %s is now held by %q", ErrLeaseLost, l.name, holder)
			}
			if !sameInstant(fresh.Spec.AcquireTime, l.acquired) {
				// claimed anew under this identity (a process restarted under it, or another
				// Lease of this target in the process): that claim is the lease's now
				l.held = false
				l.nudge()
				return nil, fmt.Errorf("%w: lease %s was claimed again under %q", ErrLeaseLost, l.name, l.opts.Identity)
			}
			statusChanged := fresh.Annotations[AnnotationStatusVersion] != l.obj.Annotations[AnnotationStatusVersion]
			l.obj = kept(fresh)
			if req, labelled := requested(fresh); !labelled {
				// left by a canaryctl older than the label: the shared watch does not see it
				if c, _, ok := l.take(req); ok {
					l.queued = append(l.queued, c)
				}
			}
			if attempt == 0 && !statusChanged {
				continue // someone left a request on our lease
			}
			return nil, fmt.Errorf("update lease %s: %w", l.name, err)
		}
		if err != nil {
			return nil, fmt.Errorf("update lease %s: %w", l.name, err)
		}
		l.obj, l.lastWrite = kept(updated), now
		return updated, nil
	}
}
