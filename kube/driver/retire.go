package driver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube"
	"github.com/canarykit/canarykit/kube/flagger"
)

// Retirement says how Retire ends the canary delivery of a target.
type Retirement struct {
	// Revert hands the target back as Flagger's spec.revertOnDeletion does: the target scaled
	// up to the primary's replicas, the apex Service selecting the target's pods once they are
	// ready, the route objects made for the target removed, the primary Deployment, its
	// autoscaler, config copies and the primary and canary Services deleted, and the target's
	// Lease (its saved status) deleted; while an apex Service that is not canarykit's (a GitOps
	// tool's copy from Git) selects the primary's pods, Retire fails with an error naming it and
	// keeps the primary, its autoscaler, config copies, Services and the Lease (see
	// kube.Workload.RemoveGenerated). Without Revert the traffic is left on the primary: the
	// route sends everything to it and the target is scaled to zero, as after a rollback; the
	// Lease keeps the status. Revert needs delete permissions kube.RBAC() lacks:
	// kube.RevertRBAC() and the router's delete rule. With Options.CanaryStatus the Canary's
	// phase is Terminating meanwhile, as Flagger's finalizer sets it.
	Revert bool
	// Due, if set, is asked before the lease is taken, every Options.Recheck while Retire
	// waits for it (another driver holds it), and once it is held; false skips the work
	// (another process has done it, the Canary was created again, or another Canary took the
	// target meanwhile), and ends the wait.
	Due func(ctx context.Context) (bool, error)
	// Started, if set, is called once the lease is held and Due said true, before the work:
	// of the processes retiring a target at once, only the one that does the work calls it
	// (a controller's "Terminating canary" Event, recorded once).
	Started func()
}

// ReadyPoll is how often Retire with Revert looks at its caches for the target to be ready
// before it points the apex Service at it.
const ReadyPoll = time.Second

// RouteRemover is a router that can delete its route objects for a target. Retire with Revert
// uses it when Options.Router has it; the SMI and Gateway API routers' objects are deleted by
// the driver itself, and mesh.Istio (VirtualService, DestinationRules) and mesh.NGINX (the
// canary Ingress) implement it. A router without it gets its weights reset to the primary and
// the primary is kept.
type RouteRemover interface {
	Remove(ctx context.Context, t canary.Target) error
}

// Retire ends the canary delivery of c's target, holding its lease (it waits while another
// driver holds it; a Target of the same process must have stopped). Every step is
// idempotent: a Retire interrupted half-way is finished by running it again. A Canary refused
// because the target's objects were made for another Canary of it (kube.CanaryConflictError)
// has nothing to retire: Retire returns at once, without waiting for the lease that Canary's
// driver holds. A target whose
// namespace is being deleted, or is gone, has nothing left to retire: the API server refuses
// the writes there (the Lease's first), and its objects go with the namespace.
func (d *Driver) Retire(ctx context.Context, c *flagger.Canary, r Retirement) error {
	if r.Due != nil {
		// asked before the lease too: a process that finds the work done does not wait for
		// (or create) the lease
		if due, err := r.Due(ctx); err != nil || !due {
			return err
		}
	}
	router, workload, lease, err := d.adapters(c, true)
	if err != nil {
		return err
	}
	defer d.cluster.Retain(c.Target.Namespace)() // the namespace's caches and watches, while it runs
	log := d.opts.Logger.WithValues("target", c.Target.String(), "revert", r.Revert)
	if other, err := workload.OtherCanary(ctx, c.Target); err == nil && other != "" {
		// c was refused (a target has one Canary): it made nothing, and the lease is the other
		// Canary's to hold for as long as that one runs
		log.Info("nothing to retire: the target's objects are another Canary's", "other", other)
		return nil
	}
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stopAsking := d.askDue(wctx, r.Due, cancel)
	err = lease.Hold(wctx, func(ctx context.Context) error {
		stopAsking()
		if errors.Is(context.Cause(wctx), errNotDue) {
			return nil
		}
		if r.Due != nil {
			due, err := r.Due(ctx)
			if err != nil || !due {
				return err
			}
		}
		if r.Started != nil {
			r.Started()
		}
		if r.Revert {
			if err := d.markTerminating(ctx, c, workload, lease); err != nil {
				return err
			}
			return d.revert(ctx, c, router, workload, lease)
		}
		return leaveOnPrimary(ctx, c.Target, router, workload)
	})
	stopAsking()
	if errors.Is(context.Cause(wctx), errNotDue) {
		log.Info("nothing to retire any more: found while waiting for the lease")
		return nil
	}
	if namespaceEnding(err, c.Target.Namespace) {
		log.Info("canary delivery ended: the namespace is being deleted")
		return nil
	}
	if err != nil {
		return canaryError(c, err)
	}
	log.Info("canary delivery ended")
	return nil
}

// errNotDue cancels a retirement's wait for the lease: Retirement.Due said false meanwhile.
var errNotDue = errors.New("retirement no longer due")

// askDue asks due again every Options.Recheck while a retirement waits for the lease, and
// cancels the wait with errNotDue once it says false: the lease may be held for long by a
// driver that took the target meanwhile (another Canary of it), whose hold the retirement
// must not wait out. The returned stop ends the asking and waits for an answer being made,
// so that nothing is cancelled once the lease is held; it may be called more than once. A
// nil due is never asked.
func (d *Driver) askDue(ctx context.Context, due func(context.Context) (bool, error), cancel context.CancelCauseFunc) (stop func()) {
	if due == nil {
		return func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			t := d.opts.Clock.NewTimer(d.opts.Recheck)
			select {
			case <-quit:
				t.Stop()
				return
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C():
			}
			if ok, err := due(ctx); err == nil && !ok {
				cancel(errNotDue)
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(quit) })
		<-done
	}
}

// namespaceEnding reports whether err is the API server's refusal of a write in namespace ns
// because ns is being deleted (the cause NamespaceTerminating) or no longer exists.
func namespaceEnding(err error, ns string) bool {
	if err == nil {
		return false
	}
	if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		return true
	}
	var status apierrors.APIStatus
	if !apierrors.IsNotFound(err) || !errors.As(err, &status) {
		return false
	}
	d := status.Status().Details
	return d != nil && d.Group == "" && d.Kind == "namespaces" && d.Name == ns
}

// leaveOnPrimary routes everything to the primary and scales the target to zero. A target
// never bootstrapped (no primary, or only another Canary's) is left as it is.
func leaveOnPrimary(ctx context.Context, t canary.Target, router canary.MeshRouter, workload *kube.Workload) error {
	bootstrapped, err := workload.HasPrimary(ctx, t)
	if err != nil {
		if canary.IsPermanent(err) {
			return nil // the target is gone: nothing to scale, nothing routed to it
		}
		return err
	}
	if !bootstrapped {
		return nil
	}
	w, err := router.Weights(ctx, t)
	if err != nil && !canary.IsPermanent(err) {
		return err
	}
	if err == nil && w != canary.AllPrimary() {
		if err := router.SetWeights(ctx, t, canary.AllPrimary()); err != nil {
			return err
		}
	}
	return workload.ScaleDown(ctx, t)
}

// markTerminating writes phase Terminating on c's status with Options.CanaryStatus, as
// Flagger's finalizer does before it hands the target back: `kubectl get canary` shows the
// Canary Terminating while it is reverted. The lease is held.
func (d *Driver) markTerminating(ctx context.Context, c *flagger.Canary, workload *kube.Workload, lease *kube.Lease) error {
	if !d.opts.CanaryStatus {
		return nil
	}
	s, ok := d.store(c, workload, lease).(*CanaryStore)
	if !ok {
		return nil
	}
	if err := s.terminating(ctx); err != nil {
		return fmt.Errorf("set phase %s: %w", PhaseTerminating, err)
	}
	return nil
}

// revert hands the target back (see Retirement.Revert).
func (d *Driver) revert(ctx context.Context, c *flagger.Canary, router canary.MeshRouter, workload *kube.Workload, lease *kube.Lease) error {
	t := c.Target
	if _, err := workload.RestoreTarget(ctx, t); err != nil {
		if canary.IsPermanent(err) {
			return nil // the target is gone: nothing to hand back to
		}
		return err
	}
	if err := d.waitReady(ctx, t, workload); err != nil {
		return err
	}
	if err := workload.HandBackApex(ctx, t); err != nil {
		return err
	}
	removed, err := d.removeRoute(ctx, c, router)
	if err != nil {
		return err
	}
	if removed {
		if err := workload.RemoveGenerated(ctx, t); err != nil {
			return err
		}
	}
	err = d.client.CoordinationV1().Leases(t.Namespace).Delete(ctx, lease.Name(), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete lease %s/%s: %w", t.Namespace, lease.Name(), err)
	}
	return nil
}

// waitReady waits until the target's pods are ready, from the caches.
func (d *Driver) waitReady(ctx context.Context, t canary.Target, workload *kube.Workload) error {
	for {
		ws, err := workload.Observe(ctx, t)
		if err != nil {
			return err
		}
		if ws.Canary.Ready {
			return nil
		}
		if ws.Canary.Failed {
			return fmt.Errorf("target %s not ready to take the traffic back: %s", t, ws.Canary.Message)
		}
		timer := d.opts.Clock.NewTimer(ReadyPoll)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C():
		}
	}
}

// removeRoute deletes the route objects canarykit made for c's target (those labelled as
// managed by it and annotated with the target, or with no target as objects made before
// canarykit recorded theirs). It returns false when it could not, having reset the weights to
// the primary instead (a router it cannot remove the objects of).
//
// Every route object of a target routes to its apex Service's primary and canary: when the
// apex Service is canarykit's for another target (a Canary whose service name is another's,
// whose bootstrap was refused), so are they, and none is removed.
func (d *Driver) removeRoute(ctx context.Context, c *flagger.Canary, router canary.MeshRouter) (bool, error) {
	t := c.Target
	owner, err := d.apexOwner(ctx, t)
	if err != nil {
		return false, err
	}
	if owner != "" {
		d.opts.Logger.Info("route objects left alone: the apex service is canarykit's for another target",
			"target", t.String(), "service", t.Namespace+"/"+t.ApexService(), "owner", owner)
		return true, nil
	}
	if d.opts.Router != nil {
		if rr, ok := d.opts.Router.(RouteRemover); ok {
			return true, rr.Remove(ctx, t)
		}
		return false, resetWeights(ctx, t, router)
	}
	var kinds []schema.GroupResource
	switch d.routers.choice(c).Kind {
	case flagger.RouterKubernetes:
		return true, nil // the apex Service was the route, handed back already
	case flagger.RouterSMI:
		kinds = []schema.GroupResource{{Group: "split.smi-spec.io", Resource: "trafficsplits"}, {Group: "specs.smi-spec.io", Resource: "httproutegroups"}}
	case flagger.RouterHTTPRoute:
		kinds = []schema.GroupResource{{Group: "gateway.networking.k8s.io", Resource: "httproutes"}}
	default:
		if rr, ok := router.(RouteRemover); ok {
			return true, rr.Remove(ctx, t)
		}
		return false, resetWeights(ctx, t, router)
	}
	for _, gr := range kinds {
		if err := d.deleteManaged(ctx, d.dyn, gr, t); err != nil {
			return false, err
		}
	}
	return true, nil
}

// apexOwner returns the target t's apex Service is canarykit's for, when that is another
// target; "" when it is t's, no one's (handed back already) or absent.
func (d *Driver) apexOwner(ctx context.Context, t canary.Target) (string, error) {
	svc, err := d.client.CoreV1().Services(t.Namespace).Get(ctx, t.ApexService(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("get apex service %s/%s: %w", t.Namespace, t.ApexService(), err)
	}
	owner := svc.Annotations[canary.AnnotationTarget]
	if svc.Labels[canary.LabelManagedBy] != canary.ManagedBy || owner == t.Name {
		return "", nil
	}
	return owner, nil
}

func resetWeights(ctx context.Context, t canary.Target, router canary.MeshRouter) error {
	if err := router.SetWeights(ctx, t, canary.AllPrimary()); err != nil && !canary.IsPermanent(err) {
		return err
	}
	return nil
}

// deleteAttempts bounds the reads of a route object that keeps changing while it is deleted.
const deleteAttempts = 3

// deleteManaged deletes t's route object of the group's preferred version, named after the
// apex Service, if canarykit manages it for t: labelled as canarykit's and annotated with t's
// name, or with none. The delete has preconditions on the UID and resourceVersion read, so an
// object created again or changed meanwhile is read and judged again. A group the API server
// does not serve, an absent object, or another's (another manager's, or canarykit's for
// another target) is nothing to do.
func (d *Driver) deleteManaged(ctx context.Context, dyn dynamic.Interface, gr schema.GroupResource, t canary.Target) error {
	groups, err := d.client.Discovery().ServerGroups()
	if err != nil {
		return fmt.Errorf("discover %s: %w", gr.Group, err)
	}
	version := ""
	for _, g := range groups.Groups {
		if g.Name == gr.Group {
			version = g.PreferredVersion.Version
		}
	}
	if version == "" {
		return nil
	}
	namespace, name := t.Namespace, t.ApexService()
	res := dyn.Resource(gr.WithVersion(version)).Namespace(namespace)
	for range deleteAttempts {
		obj, err := res.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("get %s %s/%s: %w", gr, namespace, name, err)
		}
		if obj.GetLabels()[canary.LabelManagedBy] != canary.ManagedBy {
			d.opts.Logger.Info("route object not managed by canarykit; left alone", "resource", gr.String(), "name", namespace+"/"+name)
			return nil
		}
		if made := obj.GetAnnotations()[canary.AnnotationTarget]; made != "" && made != t.Name {
			d.opts.Logger.Info("route object made for another target; left alone", "resource", gr.String(), "name", namespace+"/"+name,
				"target", t.Name, "madeFor", made)
			return nil
		}
		uid, rv := obj.GetUID(), obj.GetResourceVersion()
		pre := &metav1.Preconditions{UID: &uid}
		if rv != "" { // the API server always sets it
			pre.ResourceVersion = &rv
		}
		err = res.Delete(ctx, name, metav1.DeleteOptions{Preconditions: pre})
		switch {
		case err == nil, apierrors.IsNotFound(err):
			return nil
		case !apierrors.IsConflict(err):
			return fmt.Errorf("delete %s %s/%s: %w", gr, namespace, name, err)
		}
	}
	return fmt.Errorf("delete %s %s/%s: it changed at each of %d attempts", gr, namespace, name, deleteAttempts)
}
