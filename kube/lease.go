package kube

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/canarykit/canarykit/canary"
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
	// Identity names this driver. Default: the host name and a random suffix. Give a stable
	// identity (a pod name) to let a restarted process take its lease back at once.
	Identity string
	// Duration of a claim without renewal. Default DefaultLeaseDuration.
	Duration time.Duration
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
	handled   string        // the last Control request applied; cleared by the next write
	apply     func(Control) // set while registered for control requests (Cluster.Controls)
	queued    []Control     // requests found while writing, applied once l.mu is released
}

var _ canary.StatusStore = (*Lease)(nil)

// NewLease returns the Lease for opts.Target. It touches nothing.
func NewLease(opts LeaseOptions) (*Lease, error) {
	if opts.Client == nil || opts.Target.Namespace == "" || opts.Target.Name == "" {
		return nil, errors.New("kube: LeaseOptions.Client and Target (namespace, name) are required")
	}
	if opts.Identity == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		opts.Identity = host + "_" + hex.EncodeToString(b)
	}
	if opts.Duration <= 0 {
		opts.Duration = DefaultLeaseDuration
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	log := opts.Logger
	if log.GetSink() == nil {
		log = logr.Discard()
	}
	name := opts.Target.Name + "-canarykit"
	return &Lease{opts: opts, name: name, log: log.WithValues("lease", opts.Target.Namespace+"/"+name)}, nil
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
	holder, until := ptr.Deref(cur.Spec.HolderIdentity, ""), expiry(cur)
	if holder == "" || l.opts.Clock.Now().After(until) {
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
	for {
		err := l.tryAcquire(ctx)
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

func (l *Lease) tryAcquire(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.opts.Clock.Now()
	cur, err := l.leases().Get(ctx, l.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		obj := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: l.name, Namespace: l.opts.Target.Namespace,
				Labels: map[string]string{canary.LabelManagedBy: canary.ManagedBy}},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: &l.opts.Identity, LeaseDurationSeconds: ptr.To(int32(l.opts.Duration.Seconds())),
				AcquireTime: ptr.To(metav1.NewMicroTime(now)), RenewTime: ptr.To(metav1.NewMicroTime(now))},
		}
		created, err := l.leases().Create(ctx, obj, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create lease %s: %w", l.name, err)
		}
		l.took(created, now)
		return nil
	}
	if err != nil {
		return fmt.Errorf("get lease %s: %w", l.name, err)
	}
	holder := ptr.Deref(cur.Spec.HolderIdentity, "")
	if holder != "" && holder != l.opts.Identity {
		if until := expiry(cur); now.Before(until) {
			return &HeldError{Lease: cur.Namespace + "/" + cur.Name, Holder: holder, Until: until}
		}
	}
	u := cur.DeepCopy()
	if holder != l.opts.Identity {
		u.Spec.AcquireTime = ptr.To(metav1.NewMicroTime(now))
		u.Spec.LeaseTransitions = ptr.To(ptr.Deref(u.Spec.LeaseTransitions, 0) + 1)
	}
	u.Spec.HolderIdentity = &l.opts.Identity
	u.Spec.LeaseDurationSeconds = ptr.To(int32(l.opts.Duration.Seconds()))
	u.Spec.RenewTime = ptr.To(metav1.NewMicroTime(now))
	updated, err := l.leases().Update(ctx, u, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		return &HeldError{Lease: cur.Namespace + "/" + cur.Name, Holder: "a driver that just took it", Until: now.Add(l.opts.Duration)}
	}
	if err != nil {
		return fmt.Errorf("take lease %s: %w", l.name, err)
	}
	l.took(updated, now)
	return nil
}

func (l *Lease) took(obj *coordinationv1.Lease, now time.Time) {
	l.obj, l.held, l.lastWrite = obj, true, now
	l.log.Info("lease acquired", "identity", l.opts.Identity)
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
		return nil
	}
	l.held = false
	err := retryOnConflict(func() error {
		u := l.obj.DeepCopy()
		if ptr.Deref(u.Spec.HolderIdentity, "") != l.opts.Identity {
			return nil // taken over meanwhile: nothing to release
		}
		u.Spec.HolderIdentity = nil
		u.Spec.RenewTime = nil
		clearHandled(u, l.handled)
		updated, err := l.leases().Update(ctx, u, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			if fresh, gerr := l.leases().Get(ctx, l.name, metav1.GetOptions{}); gerr == nil {
				l.obj = fresh
			}
			return err
		}
		if err == nil {
			l.obj = updated
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

// Hold acquires the lease, runs fn while renewing it, and releases it when fn returns. If the
// lease is lost meanwhile, fn's context is cancelled and Hold returns ErrLeaseLost.
func (l *Lease) Hold(ctx context.Context, fn func(context.Context) error) error {
	if err := l.Acquire(ctx); err != nil {
		return err
	}
	hctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.renewLoop(hctx, cancel)
	}()
	err := fn(hctx)
	cause := context.Cause(hctx)
	cancel(nil)
	<-done
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer rcancel()
	if rerr := l.Release(rctx); rerr != nil {
		l.log.Error(rerr, "release failed; the lease expires on its own")
	}
	if errors.Is(cause, ErrLeaseLost) {
		return errors.Join(cause, err)
	}
	return err
}

// renewLoop renews the claim whenever nothing was written for half its duration. Failed
// renewals are retried every Duration/8; once the claim has expired without a successful write,
// another driver may hold it, so the claim counts as lost.
func (l *Lease) renewLoop(ctx context.Context, lost context.CancelCauseFunc) {
	retry := time.Duration(0)
	for {
		l.mu.Lock()
		due := l.lastWrite.Add(l.opts.Duration / 2)
		expired := l.lastWrite.Add(l.opts.Duration)
		l.mu.Unlock()
		wait := max(due.Sub(l.opts.Clock.Now()), retry)
		t := l.opts.Clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		err := l.renew(ctx)
		if err == nil {
			retry = 0
			continue
		}
		if !errors.Is(err, ErrLeaseLost) && l.opts.Clock.Now().After(expired) {
			err = fmt.Errorf("%w: no renewal succeeded within %s: %v", ErrLeaseLost, l.opts.Duration, err)
		}
		if errors.Is(err, ErrLeaseLost) {
			l.log.Error(err, "lease lost; stopping")
			lost(err)
			return
		}
		retry = l.opts.Duration / 8
		l.log.Error(err, "lease renewal failed; retrying", "in", retry)
	}
}

// renew writes a new renewal time if the claim is due.
func (l *Lease) renew(ctx context.Context) error {
	defer l.deliver()
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.opts.Clock.Now()
	if !l.held || now.Sub(l.lastWrite) < l.opts.Duration/2 {
		return nil
	}
	_, err := l.write(ctx, func(u *coordinationv1.Lease) {}, now)
	return err
}

// write updates the held lease with edit and a new renewal time, clearing a Control request
// already applied. A conflict means another writer: if it took the lease, the claim is lost;
// if it only left a Control request (canaryctl), the write is made again on the fresh lease (a
// request without LabelControlRequested is queued for deliver then).
func (l *Lease) write(ctx context.Context, edit func(*coordinationv1.Lease), now time.Time) (*coordinationv1.Lease, error) {
	for attempt := 0; ; attempt++ {
		u := l.obj.DeepCopy()
		edit(u)
		clearHandled(u, l.handled)
		u.Spec.RenewTime = ptr.To(metav1.NewMicroTime(now))
		updated, err := l.leases().Update(ctx, u, metav1.UpdateOptions{})
		if apierrors.IsNotFound(err) {
			l.held = false
			return nil, fmt.Errorf("%w: lease %s was deleted", ErrLeaseLost, l.name)
		}
		if apierrors.IsConflict(err) {
			fresh, gerr := l.leases().Get(ctx, l.name, metav1.GetOptions{})
			if gerr != nil {
				return nil, fmt.Errorf("update lease %s: %w", l.name, err)
			}
			if holder := ptr.Deref(fresh.Spec.HolderIdentity, ""); holder != l.opts.Identity {
				l.held = false
				return nil, fmt.Errorf("%w: lease %s is now held by %q", ErrLeaseLost, l.name, holder)
			}
			statusChanged := fresh.Annotations[AnnotationStatusVersion] != l.obj.Annotations[AnnotationStatusVersion]
			l.obj = fresh
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
		l.obj, l.lastWrite = updated, now
		return updated, nil
	}
}

// Load returns the status stored in the lease (the zero Status when none). It reads the
// lease from the API server unless this driver holds it.
func (l *Lease) Load(ctx context.Context, t canary.Target) (canary.Status, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.check(t); err != nil {
		return canary.Status{}, err
	}
	obj := l.obj
	if !l.held {
		cur, err := l.leases().Get(ctx, l.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return canary.Status{}, nil
		}
		if err != nil {
			return canary.Status{}, fmt.Errorf("get lease %s: %w", l.name, err)
		}
		obj = cur
	}
	return statusOf(obj)
}

func statusOf(obj *coordinationv1.Lease) (canary.Status, error) {
	var s canary.Status
	if raw := obj.Annotations[AnnotationStatus]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &s); err != nil {
			return canary.Status{}, fmt.Errorf("lease %s/%s: annotation %s: %w", obj.Namespace, obj.Name, AnnotationStatus, err)
		}
	}
	s.Version = obj.Annotations[AnnotationStatusVersion]
	return s, nil
}

// Save stores s in the lease if s.Version is the stored version, renewing the claim in the
// same write. It fails unless this driver holds the lease.
func (l *Lease) Save(ctx context.Context, t canary.Target, s canary.Status) (canary.Status, error) {
	defer l.deliver()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.check(t); err != nil {
		return canary.Status{}, err
	}
	if !l.held {
		return canary.Status{}, fmt.Errorf("%w: lease %s is not held by %q; acquire it before saving", canary.ErrConflict, l.name, l.opts.Identity)
	}
	cur := l.obj.Annotations[AnnotationStatusVersion]
	if s.Version != cur {
		return canary.Status{}, fmt.Errorf("%w: status of %s saved at version %q, stored version is %q", canary.ErrConflict, t, s.Version, cur)
	}
	n, _ := strconv.Atoi(cur)
	next := strconv.Itoa(n + 1)
	raw, err := json.Marshal(s)
	if err != nil {
		return canary.Status{}, err
	}
	_, err = l.write(ctx, func(u *coordinationv1.Lease) {
		if u.Annotations == nil {
			u.Annotations = map[string]string{}
		}
		u.Annotations[AnnotationStatus] = string(raw)
		u.Annotations[AnnotationStatusVersion] = next
	}, l.opts.Clock.Now())
	if errors.Is(err, ErrLeaseLost) {
		return canary.Status{}, fmt.Errorf("%w: %w", canary.ErrConflict, err)
	}
	if err != nil {
		return canary.Status{}, err
	}
	s.Version = next
	return s, nil
}

func (l *Lease) check(t canary.Target) error {
	if t.Namespace != l.opts.Target.Namespace || t.Name != l.opts.Target.Name {
		return fmt.Errorf("kube: lease for %s used for %s", l.opts.Target, t)
	}
	return nil
}
