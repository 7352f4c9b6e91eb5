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
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
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
// t's Lease, where the driver's Lease.Controls sees it. It fails with ErrNoDriver when the
// lease is free or expired.
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
		holder := ptr.Deref(l.Spec.HolderIdentity, "")
		if holder == "" || time.Now().After(expiry(l)) {
			return fmt.Errorf("%w: lease %s/%s is free; start a driver (canaryctl run) first", ErrNoDriver, t.Namespace, name)
		}
		if l.Annotations == nil {
			l.Annotations = map[string]string{}
		}
		l.Annotations[AnnotationControl] = string(c) + "@" + strconv.FormatInt(time.Now().UnixNano(), 36)
		_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
		return err
	})
}

// Controls watches the lease for Control requests and calls apply once for each, until ctx
// ends. The request is cleared by this driver's next write of the lease (a status save or a
// renewal). It costs one watch connection and no request per tick.
func (l *Lease) Controls(ctx context.Context, apply func(Control)) {
	leases := l.opts.Client.CoordinationV1().Leases(l.opts.Target.Namespace)
	sel := fields.OneTermEqualSelector("metadata.name", l.name).String()
	lw := &cache.ListWatch{
		ListFunc: func(o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return leases.List(ctx, o)
		},
		WatchFunc: func(o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return leases.Watch(ctx, o)
		},
	}
	inf := cache.NewSharedInformer(lw, &coordinationv1.Lease{}, 0)
	seen := func(obj any) {
		lease, ok := obj.(*coordinationv1.Lease)
		if !ok {
			return
		}
		req := lease.Annotations[AnnotationControl]
		l.mu.Lock()
		fresh := req != "" && req != l.handled
		if fresh {
			l.handled = req
		}
		l.mu.Unlock()
		if fresh {
			c := Control(strings.SplitN(req, "@", 2)[0])
			l.log.Info("control requested", "control", c)
			apply(c)
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    seen,
		UpdateFunc: func(_, obj any) { seen(obj) },
	})
	inf.Run(ctx.Done())
}
