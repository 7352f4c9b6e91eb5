package kube

import (
	"context"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// The parts of a Lease that concern its holder lease (Holders): the registration among the
// Leases sharing the Holders, the vouch written on the target lease, and the give-up of a
// vouched claim that could not be released.

// register makes l the Lease of its target among those sharing its Holders; it returns the
// other one if there is one.
func (l *Lease) register() *Lease {
	if l.opts.Holders == nil {
		return nil
	}
	if other, loaded := l.opts.Holders.claims.LoadOrStore(l.key(), l); loaded && other != l {
		return other.(*Lease)
	}
	return nil
}

// unregister ends l's registration, if it has one.
func (l *Lease) unregister() {
	if l.opts.Holders != nil {
		l.opts.Holders.claims.CompareAndDelete(l.key(), l)
	}
}

// stamp sets u's holder and renewal time, and either the vouch of h's holder lease (while its
// claim stands; that holder is returned) or the lease's own duration.
func (l *Lease) stamp(u *coordinationv1.Lease, h *holder, now time.Time) *holder {
	u.Spec.HolderIdentity = &l.opts.Identity
	u.Spec.RenewTime = ptr.To(metav1.NewMicroTime(now))
	if h != nil {
		if name, token, ok := h.vouch(); ok {
			if u.Annotations == nil {
				u.Annotations = map[string]string{}
			}
			u.Annotations[AnnotationHolder], u.Annotations[AnnotationHolderClaim] = name, token
			u.Spec.LeaseDurationSeconds = ptr.To(int32(VouchedLeaseDuration.Seconds()))
			return h
		}
	}
	unvouch(u, l.opts.Duration)
	return nil
}

// unvouch removes the vouch of a holder lease from u, giving it duration d.
func unvouch(u *coordinationv1.Lease, d time.Duration) {
	delete(u.Annotations, AnnotationHolder)
	delete(u.Annotations, AnnotationHolderClaim)
	u.Spec.LeaseDurationSeconds = ptr.To(int32(d.Seconds()))
}

// beingGivenUp reports whether Release left a vouched claim to give up again (giveUpVouched);
// this Lease takes no new claim until that ends.
func (l *Lease) beingGivenUp() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.givingUp
}

// abandon prepares the give-up of a vouched claim whose acquiring write failed but may have
// been made (a timeout): it reports whether a write was attempted, and if so marks the claim
// being given up, as made at l.tried (giveUpVouched then frees it if the lease shows it).
func (l *Lease) abandon(h *holder) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tried.IsZero() {
		return false
	}
	l.vouch, l.acquired, l.givingUp = h, ptr.To(metav1.NewMicroTime(l.tried)), true
	return true
}

// sameInstant reports whether two AcquireTimes are one claim's: equal within the microsecond
// the API server keeps.
func sameInstant(a, b *metav1.MicroTime) bool {
	return a != nil && b != nil && a.Sub(b.Time).Abs() < time.Microsecond
}

// giveUpVouched gives up a vouched claim whose release (or acquiring write) failed: it reads
// the lease and frees it if it still shows this claim, again every eighth of the duration
// until that succeeds or the holder lease is lost (which ends the vouch); then it leaves the
// holder lease.
func (l *Lease) giveUpVouched(h *holder) {
	defer h.hs.leave(h)
	defer func() {
		l.mu.Lock()
		l.givingUp, l.vouch = false, nil
		l.unregister() // with l.mu held: a new claim of l waits for this
		l.mu.Unlock()
	}()
	every := max(l.opts.Duration/8, time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), every)
		l.mu.Lock()
		cur, err := l.leases().Get(ctx, l.name, metav1.GetOptions{})
		if err == nil {
			l.obj = kept(cur)
			err = l.giveUp(ctx)
		}
		l.mu.Unlock()
		cancel()
		if err == nil || apierrors.IsNotFound(err) {
			return
		}
		l.log.Error(err, "release failed; retrying", "in", every)
		t := l.opts.Clock.NewTimer(every)
		select {
		case <-h.lost.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
}
