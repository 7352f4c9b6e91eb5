package driver

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/webhook/notify"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Release is one release of a target: its Rollout, built from a Canary, and the target's Lease.
type Release struct {
	// Canary is what the release was built from (its references resolved).
	Canary *flagger.Canary
	// Rollout drives the release.
	Rollout *canary.Rollout
	// Lease is the target's lease: who drives it, and its saved status (without
	// Options.CanaryStatus).
	Lease *kube.Lease
	// Store is where the release's status is kept: Lease, or with Options.CanaryStatus a
	// *CanaryStore on the Canary object.
	Store canary.StatusStore

	alerts  *notify.Dispatcher // the Canary's alerts, delivered while Run runs
	cluster *kube.Cluster      // its watch of control requests, shared by the Driver's targets
	rate    *rateWatch         // counts the release as a target while Run runs
	running atomic.Bool
}

// Release builds the Rollout of a Flagger Canary: it chooses the router (spec.provider, or the
// Driver's default), resolves the Canary's metric templates and alert providers (ctx bounds the
// reads) and binds each metric to its Prometheus. onEvent, if set, receives every event besides
// the Kubernetes Events recorded on the target (on the Canary with Options.CanaryStatus) and
// the alerts. Nothing in the cluster is changed until Run; a Canary that cannot be driven is an
// error naming its field.
func (d *Driver) Release(ctx context.Context, c *flagger.Canary, onEvent func(canary.Event)) (*Release, error) {
	if c.Suspend {
		return nil, canaryError(c, fmt.Errorf("%w: spec.suspend is true: nothing is driven until it is false", canary.ErrInvalidSpec))
	}
	router, workload, lease, err := d.adapters(c, d.opts.WaitForLease)
	if err != nil {
		return nil, err
	}
	return d.build(ctx, c, router, workload, lease, d.store(c, workload, lease), onEvent)
}

// store is where c's status is kept: on the Canary object with Options.CanaryStatus, else in
// the lease.
func (d *Driver) store(c *flagger.Canary, workload *kube.Workload, lease *kube.Lease) canary.StatusStore {
	if !d.opts.CanaryStatus {
		return lease
	}
	s := newCanaryStore(restCanaries{client: d.canaries, namespace: c.Namespace}, c.Name, c.Target, lease, workload.TrackedConfigs, d.opts.Clock)
	s.kind = c.Workload.Kind
	return s
}

// CanaryEventReason is the reason of every Event the driver records on a Canary object
// (Options.CanaryStatus), as Flagger's.
const CanaryEventReason = "Synced"

// recorder records c's events as Kubernetes Events. With Options.CanaryStatus they are on the
// Canary object (with its UID when c has it), each with reason CanaryEventReason, as Flagger
// records them: `kubectl describe canary` shows the release, and what selects Events by
// involvedObject.kind=Canary finds them. Else they are on the target Deployment, under the
// engine's reasons. Either way their action is the engine's reason (kube.Events).
func (d *Driver) recorder(c *flagger.Canary) func(canary.Event) {
	if !d.opts.CanaryStatus {
		return d.events.For(c.Target)
	}
	obj := corev1.ObjectReference{APIVersion: CanaryGVR.GroupVersion().String(), Kind: "Canary",
		Namespace: c.Namespace, Name: c.Name, UID: types.UID(c.UID)}
	return d.events.ForObject(c.Target, obj, CanaryEventReason)
}

// adapters are what drives c's target: the router its provider chooses, its workload and its
// lease (waiting for another holder when wait is set; renewed with the Driver's holder leases
// while held). Nothing in the cluster is touched.
func (d *Driver) adapters(c *flagger.Canary, wait bool) (canary.MeshRouter, *kube.Workload, *kube.Lease, error) {
	router, err := d.routers.forCanary(c)
	if err != nil {
		return nil, nil, nil, canaryError(c, err)
	}
	workload, err := d.cluster.Workload(workloadOptions(c, d.opts.OwnerReferences))
	if err != nil {
		return nil, nil, nil, canaryError(c, err)
	}
	if d.opts.CanaryStatus && (c.Namespace == "" || c.Name == "") {
		return nil, nil, nil, canaryError(c, errors.New("Options.CanaryStatus needs the Canary object's namespace and name"))
	}
	lease, err := d.lease(c.Target, wait)
	if err != nil {
		return nil, nil, nil, canaryError(c, err)
	}
	return router, workload, lease, nil
}

// canaryError names the Canary an error is about.
func canaryError(c *flagger.Canary, err error) error {
	name := c.Name
	if name == "" {
		name = c.Target.Name
	}
	return fmt.Errorf("canary %s/%s: %w", c.Namespace, name, err)
}

func (d *Driver) lease(t canary.Target, wait bool) (*kube.Lease, error) {
	return kube.NewLease(kube.LeaseOptions{Client: d.client, Target: t, Identity: d.opts.Identity,
		Duration: d.opts.LeaseDuration, Wait: wait, Holders: d.holders, Logger: d.opts.Logger})
}

// build resolves c's references and assembles its Rollout over the given router, workload and
// lease. It only reads from the cluster.
func (d *Driver) build(ctx context.Context, c *flagger.Canary, router canary.MeshRouter, workload canary.Workload, lease *kube.Lease,
	store canary.StatusStore, onEvent func(canary.Event)) (*Release, error) {
	if len(c.TemplateRefs) > 0 || len(c.Alerts) > 0 {
		// the objects may have changed since the last release: resolved every time
		if err := c.Resolve(ctx, d.objects); err != nil {
			return nil, canaryError(c, err)
		}
	}
	spec, provider, err := d.templated(ctx, c)
	if err != nil {
		return nil, canaryError(c, err)
	}
	checkers, err := d.checkers(c, provider)
	if err != nil {
		return nil, canaryError(c, err)
	}
	alerts, err := d.alerts(ctx, c)
	if err != nil {
		return nil, canaryError(c, err)
	}
	var notifyEvent func(canary.Event)
	if alerts != nil {
		notifyEvent = alerts.OnEvent(spec)
	}
	record := d.recorder(c)
	r, err := canary.New(canary.Config{
		Target:   c.Target,
		Spec:     spec,
		Workload: workload,
		Router:   router,
		Metrics:  provider,
		Store:    store,
		Webhooks: d.hooks,
		Builtins: d.routers.builtins(c),
		Checkers: checkers,
		Split:    d.splitQueries(c, spec, provider),
		OnEvent: func(e canary.Event) {
			record(e)
			if notifyEvent != nil {
				notifyEvent(e)
			}
			if onEvent != nil {
				onEvent(e)
			}
		},
		Logger:  d.opts.Logger.WithName("rollout"),
		Clock:   d.opts.Clock,
		Stagger: !d.opts.Unstaggered,
	})
	if err != nil {
		return nil, canaryError(c, err)
	}
	return &Release{Canary: c, Rollout: r, Lease: lease, Store: store, alerts: alerts, cluster: d.cluster, rate: d.rate}, nil
}

// Run drives the target's current revision while holding its lease, applying control
// requests (kube.RequestControl) from other processes, seen through the Driver's one watch per
// namespace (kube.Cluster.Controls), and releases the lease at the end. The
// alerts the release raised are delivered before Run returns (each within the alert timeout).
func (r *Release) Run(ctx context.Context) (canary.Result, error) {
	if !r.running.CompareAndSwap(false, true) {
		return canary.Result{}, fmt.Errorf("%w: release of %s", canary.ErrAlreadyRunning, r.Canary.Target)
	}
	defer r.running.Store(false)
	r.rate.add(r.Canary.Spec.Interval, 1)
	defer r.rate.add(r.Canary.Spec.Interval, -1)
	defer r.cluster.Retain(r.Canary.Target.Namespace)() // the namespace's caches and watches, while it runs
	var res canary.Result
	err := r.Lease.Hold(ctx, func(ctx context.Context) error {
		stop, err := r.cluster.Controls(ctx, r.Lease, func(c kube.Control) { _ = c.Apply(r.Rollout) })
		if err != nil {
			return err
		}
		defer stop()
		res, err = r.run(ctx)
		return err
	})
	return res, err
}

// run runs the Rollout with the alerts delivered from their own goroutine; what is queued when
// the Rollout returns gets one alert timeout.
func (r *Release) run(ctx context.Context) (canary.Result, error) {
	if r.alerts != nil {
		actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() { _ = r.alerts.Run(actx); close(done) }()
		defer func() { cancel(); <-done }()
	}
	return r.Rollout.Run(ctx)
}

// workloadOptions are the kube options for a Canary's target.
func workloadOptions(c *flagger.Canary, ownerReferences bool) kube.WorkloadOptions {
	w := c.Workload
	o := kube.WorkloadOptions{Target: c.Target, Kind: w.Kind, Port: w.Port, PortName: w.PortName, AppProtocol: w.AppProtocol, PortDiscovery: w.PortDiscovery,
		Autoscaler: w.Autoscaler, AutoscalerKind: w.AutoscalerKind, PrimaryScalerQueries: w.PrimaryScalerQueries, PrimaryMinReplicas: w.PrimaryMinReplicas, PrimaryMaxReplicas: w.PrimaryMaxReplicas,
		OwnerReferences: ownerReferences, PrimaryReadyThreshold: w.PrimaryReadyThreshold, CanaryReadyThreshold: w.CanaryReadyThreshold,
		ApexMetadata: w.ApexMetadata, PrimaryMetadata: w.PrimaryMetadata, CanaryMetadata: w.CanaryMetadata,
		UnmanagedMetadata: w.UnmanagedMetadata, Headless: w.Headless, TrafficDistribution: w.TrafficDistribution}
	if w.TargetPort != "" {
		o.TargetPort = intstr.Parse(w.TargetPort)
	}
	// only the mesh-less router switches the apex selector; the others route through their own object
	o.ApexSelectsPrimary = c.Router.Kind != flagger.RouterKubernetes
	return o
}
