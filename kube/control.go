package kube

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/canarykit/canarykit/canary"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// Control is a request to the process driving a target's release, made from another process
// (`canaryctl promote`): the Rollout's Promote, Abort, Pause or Resume.
type Control string

// Controls.
const (
	ControlPromote Control = "promote"
	ControlAbort   Control = "abort"
	ControlPause   Control = "pause"
	ControlResume  Control = "resume"
)

// AnnotationControl on a target's Lease carries a pending Control request ("<control>@<id>").
const AnnotationControl = "canarykit.dev/control"

// LabelControlRequested ("true") marks a Lease that carries a pending Control request. The
// shared watch of this version (Cluster.Controls) selects canarykit's leases whatever their
// requests; earlier drivers select on this label, so RequestControl still sets it. The holder
// removes it with the request it applied: Hold writes the lease at once for that.
const LabelControlRequested = "canarykit.dev/control-requested"

// ErrNoDriver: no process holds the target's lease, so nobody would act on a request.
var ErrNoDriver = errors.New("no driver holds the lease")

func (c Control) valid() bool {
	switch c {
	case ControlPromote, ControlAbort, ControlPause, ControlResume:
		return true
	}
	return false
}

// Apply applies c to r.
func (c Control) Apply(r *canary.Rollout) error {
	switch c {
	case ControlPromote:
		r.Promote()
	case ControlAbort:
		r.Abort()
	case ControlPause:
		r.Pause()
	case ControlResume:
		r.Resume()
	default:
		return fmt.Errorf("unknown control %q (want promote, abort, pause or resume)", c)
	}
	return nil
}

// RequestControl asks the process driving t's release to apply c: it writes the request on
// t's Lease (AnnotationControl, and LabelControlRequested for the drivers' shared watch, see
// Cluster.Controls). It fails with ErrNoDriver when the lease is free or expired. The request
// is applied once, by the driver holding the lease, or by the next one to take it if the
// holder stops first.
func RequestControl(ctx context.Context, client kubernetes.Interface, t canary.Target, c Control) error {
	if !c.valid() {
		return fmt.Errorf("unknown control %q (want promote, abort, pause or resume)", c)
	}
	leases := client.CoordinationV1().Leases(t.Namespace)
	name := t.Name + "-canarykit"
	return retryOnConflict(func() error {
		l, err := leases.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("%w: lease %s/%s does not exist (no release of %s has run)", ErrNoDriver, t.Namespace, name, t)
		}
		if err != nil {
			return err
		}
		if ptr.Deref(l.Spec.HolderIdentity, "") == "" {
			return fmt.Errorf("%w: lease %s/%s is free; start a driver (canaryctl run) first", ErrNoDriver, t.Namespace, name)
		}
		until, err := claimUntil(ctx, leases.Get, l)
		if err != nil {
			return err
		}
		if !time.Now().Before(until) {
			return fmt.Errorf("%w: lease %s/%s is free; start a driver (canaryctl run) first", ErrNoDriver, t.Namespace, name)
		}
		if l.Annotations == nil {
			l.Annotations = map[string]string{}
		}
		if l.Labels == nil {
			l.Labels = map[string]string{}
		}
		l.Annotations[AnnotationControl] = string(c) + "@" + strconv.FormatInt(time.Now().UnixNano(), 36)
		l.Labels[LabelControlRequested] = "true"
		_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
		return err
	})
}

// requested is obj's pending Control request, "" if none, and whether it carries
// LabelControlRequested (a request without it was written by an older canaryctl).
func requested(obj *coordinationv1.Lease) (req string, labelled bool) {
	if obj == nil {
		return "", false
	}
	return obj.Annotations[AnnotationControl], obj.Labels[LabelControlRequested] == "true"
}

// clearHandled removes from u the request this driver applied, and the label once no request
// is left: the lease then leaves the shared watch's selection.
func clearHandled(u *coordinationv1.Lease, handled string) {
	if req := u.Annotations[AnnotationControl]; req != "" && req == handled {
		delete(u.Annotations, AnnotationControl)
	}
	if u.Annotations[AnnotationControl] == "" {
		delete(u.Labels, LabelControlRequested)
	}
}

// take marks req handled and returns its Control if it is a request this lease has not applied
// and a driver registered for it (Cluster.Controls); Hold's renewals then clear it with a write
// (a vouched lease makes no other). l.mu must be held.
func (l *Lease) take(req string) (Control, func(Control), bool) {
	if req == "" || req == l.handled || l.apply == nil {
		return "", nil, false
	}
	l.handled = req
	l.nudge()
	c := Control(strings.SplitN(req, "@", 2)[0])
	l.log.Info("control requested", "control", c)
	return c, l.apply, true
}

// watched is a copy of a lease from the namespace's Lease watch (Cluster.Controls): its
// request to notice, and its claim to observe (gone: deleted, or out of the selection).
type watched struct {
	obj             *coordinationv1.Lease
	notice, observe bool
	gone            bool
}

// fromWatch hands w to l without waiting for l.mu, which a write of l holds across its
// request (up to a quarter of the lease's duration on a slow API server): the namespace's
// one watch goes on to the other leases, and holder leases, at once. The copies are applied
// in the order given, by one goroutine at a time, started here when none is running; it ends
// when none is left.
func (l *Lease) fromWatch(w watched) {
	l.inboxMu.Lock()
	l.inbox = append(l.inbox, w)
	start := !l.draining
	l.draining = true
	l.inboxMu.Unlock()
	if start {
		go l.drainWatch()
	}
}

// drainWatch applies the watch's copies of l in order until none is left.
func (l *Lease) drainWatch() {
	for {
		l.inboxMu.Lock()
		if len(l.inbox) == 0 {
			l.inbox, l.draining = nil, false
			l.inboxMu.Unlock()
			return
		}
		w := l.inbox[0]
		l.inbox[0] = watched{}
		l.inbox = l.inbox[1:]
		l.inboxMu.Unlock()
		if w.notice {
			l.notice(w.obj)
		}
		if w.observe {
			l.observe(w.obj, w.gone)
		}
	}
}

// notice applies obj's request if it is new to this lease.
func (l *Lease) notice(obj *coordinationv1.Lease) {
	req, _ := requested(obj)
	l.applyMu.Lock()
	defer l.applyMu.Unlock()
	l.mu.Lock()
	c, apply, ok := l.take(req)
	l.mu.Unlock()
	if ok {
		apply(c)
	}
}

// observe checks the watch's copy of l's lease (gone: deleted, or out of the watch's
// selection): while l holds its claim, a copy of this object whose holder or acquire time is
// not this claim's, or its deletion, wakes the renewals at once, and their write finds the
// loss. A copy older than the claim (the echo of an earlier write) costs one renewal write.
func (l *Lease) observe(obj *coordinationv1.Lease, gone bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.held || l.obj == nil || obj.UID != l.obj.UID {
		return // not held, or another object of the name (the watch lags behind a new one)
	}
	if gone || ptr.Deref(obj.Spec.HolderIdentity, "") != l.opts.Identity || !sameInstant(obj.Spec.AcquireTime, l.acquired) {
		l.nudge()
	}
}

// deliver applies the requests found while writing (l.mu held then); l.mu must not be held.
func (l *Lease) deliver() {
	l.applyMu.Lock()
	defer l.applyMu.Unlock()
	l.mu.Lock()
	queued, apply := l.queued, l.apply
	l.queued = nil
	l.mu.Unlock()
	for _, c := range queued {
		if apply != nil {
			apply(c)
		}
	}
}
