package kube

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/kedaapi"
	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// WorkloadOptions describes one target: Flagger's targetRef, service and autoscalerRef.
type WorkloadOptions struct {
	// Target is the Deployment or DaemonSet to release. Required.
	Target canary.Target
	// Kind is the target's kind: KindDeployment (the default, "") or KindDaemonSet (see
	// "DaemonSet targets" in the package documentation). A DaemonSet has no autoscaler.
	Kind string
	// Port is the port of the ClusterIP services (Flagger's service.port). Required.
	Port int32
	// TargetPort is the container port or name the services send to. Default: Port.
	TargetPort intstr.IntOrString
	// PortName names the service port. Default "http".
	PortName string
	// AppProtocol is the service port's appProtocol, if any.
	AppProtocol string
	// PortDiscovery adds every port the target's containers declare to the Services, as
	// Flagger's service.portDiscovery does (see servicePorts): named as declared or
	// "tcp-<container>-<index>", each sending to the container port of its number; the mesh
	// proxies' (istio-proxy, envoy) and the one TargetPort names are left out. The Services
	// follow the ports of each new revision (Bootstrap, Promote). Ports that are not valid, or
	// clash with one another or with Port or PortName, are a permanent error naming them; so
	// are more than MaxDiscoveredPorts.
	PortDiscovery bool
	// Autoscaler names the target's autoscaler, if it has one: a HorizontalPodAutoscaler
	// (autoscaling/v2), or with AutoscalerKind KindScaledObject a KEDA ScaledObject. The
	// primary gets a copy, "<name>-primary", re-synced at every promotion.
	Autoscaler string
	// AutoscalerKind is Autoscaler's kind: KindHorizontalPodAutoscaler ("" means it too) or
	// KindScaledObject (keda.sh/v1alpha1, read and written through Options.Dynamic, which it
	// needs). A ScaledObject's copy scales the primary with its triggers' queries rewritten
	// (see PrimaryScalerQueries), and the target's own ScaledObject is paused at zero
	// replicas (KEDA's autoscaling.keda.sh/paused-replicas: "0") while the target is scaled to
	// zero (ScaleDown), and resumed when it is scaled up (ScaleUp, RestoreTarget), as Flagger
	// does. A cluster that does not serve ScaledObjects is a permanent error naming
	// spec.autoscalerRef.
	AutoscalerKind string
	// PrimaryMinReplicas and PrimaryMaxReplicas, if set, override the replica bounds of the
	// primary's autoscaler copy (Flagger's autoscalerRef.primaryScalerReplicas): an HPA's
	// minReplicas and maxReplicas, a ScaledObject's minReplicaCount and maxReplicaCount.
	PrimaryMinReplicas, PrimaryMaxReplicas int32
	// PrimaryScalerQueries, with a ScaledObject, are by trigger name the queries of the
	// primary copy's triggers (Flagger's autoscalerRef.primaryScalerQueries); a name the
	// ScaledObject has no trigger of is a permanent error. Without them, each trigger's query
	// is the target's with "<target>-canary" and "<target>" made "<target>-primary"
	// (kedaapi.PrimaryQuery), as Flagger does. Bounded by kedaapi.QueriesProblems.
	PrimaryScalerQueries map[string]string
	// OwnerReferences makes the target Deployment the owner of everything created for it, so
	// deleting the target deletes them. Off by default: the primary Deployment and the apex
	// Service serve production traffic, and recreating the target (kubectl replace --force, some
	// Helm or GitOps upgrades) would delete them. Created objects are always labelled
	// app.kubernetes.io/managed-by=canarykit and annotated canarykit.dev/target=<target> and
	// canarykit.dev/canary=<Target.CanaryName()>.
	OwnerReferences bool
	// PrimaryReadyThreshold and CanaryReadyThreshold are the percentages of the updated
	// replicas that must be available for the primary or the canary to count as ready
	// (Flagger's analysis.primaryReadyThreshold and canaryReadyThreshold). Default 100.
	PrimaryReadyThreshold, CanaryReadyThreshold int
	// ApexSelectsPrimary says the router routes through its own object (TrafficSplit,
	// HTTPRoute) and never switches the apex Service's selector: the apex then always selects
	// the primary. Bootstrap corrects a drifted apex selector (an outside writer re-applying
	// its copy), and so does ScaleDown before scaling the target to zero, so clients outside
	// the mesh are never left on a side with no pods. Leave it off with a router that switches
	// the apex selector (mesh.Kubernetes).
	ApexSelectsPrimary bool
	// ApexMetadata, PrimaryMetadata and CanaryMetadata are labels and annotations for the
	// apex, primary and canary Services (Flagger's service.apex, primary and canary), written
	// with canary.ApplyMetadata: set at creation and at every sync, and a key removed from
	// them is removed from the Service at its next sync; keys others set are left alone.
	// ApexMetadata is not written on an apex Service canarykit adopted (the user's: see
	// AnnotationAdopted), as Flagger writes metadata only on the Services it creates.
	// canarykit's own keys win: the managed-by label, the app label naming the Service (the
	// target's selector label key, as Flagger sets it) and the canarykit.dev/ annotations
	// (canary.Metadata refuses the managed-by label and canarykit.dev/ keys).
	ApexMetadata, PrimaryMetadata, CanaryMetadata canary.Metadata
	// UnmanagedMetadata lists label and annotation keys others write on the Services (Flagger's
	// service.unmanagedMetadata): a Service that has one keeps its value, even when the
	// Metadata above sets it, and it is never removed.
	UnmanagedMetadata canary.MetadataKeys
	// Headless makes the three Services headless (clusterIP None), as Flagger's
	// service.headless does. A Service's clusterIP cannot change: an existing Service that is
	// not headless while Headless is set, or headless while it is not, is a permanent error
	// naming service.headless (delete the Service, or change the option back).
	Headless bool
	// TrafficDistribution is the Services' spec.trafficDistribution (Flagger's
	// service.trafficDistribution), one of canary.TrafficDistributions. Set at
	// creation, and an existing Service's corrected at every sync; "" leaves the field as it
	// is.
	TrafficDistribution string
}

// Workload drives an apps/v1 Deployment (or DaemonSet: WorkloadOptions.Kind) target and its
// primary for a canary.Rollout: it creates the primary of the target's kind, copies of the
// referenced ConfigMaps and Secrets, the apex, primary and canary Services, and the primary's
// autoscaler; it detects revisions and readiness from the informer caches and promotes by
// copying the target's spec to the primary.
//
// Reads are served from the Cluster's caches: Observe makes no API request, and neither do
// Bootstrap, ScaleDown or Promote when there is nothing to change. Writes use optimistic
// concurrency. Objects it creates carry the label app.kubernetes.io/managed-by=canarykit and the
// annotations canarykit.dev/target=<target> and canarykit.dev/canary=<canary> (and, with
// OwnerReferences, an owner reference to the target); an object of the same name that is not
// managed by canarykit for this target and Canary is never overwritten (a permanent error names
// it), except an apex Service without any managed-by label that selects the target's pods, which
// is adopted (see the package documentation). A target Deployment canarykit made itself is
// refused.
type Workload struct {
	c    *Cluster
	opts WorkloadOptions
	log  logr.Logger

	mu sync.Mutex
	// generations written by this Workload: readiness waits until the cache has seen them,
	// so a read right after a write never reports the previous rollout as ready.
	canaryGen, primaryGen int64
	canaryUID             types.UID // the target object canaryGen is a generation of

	apexNoted bool // noteAdoptedApex said its note

	memo        revisionMemo // the last revision and config checksums
	primaryName string       // opts.Target.PrimaryName(), read on every Observe
	kind        workloadKind // opts.Kind's
}

var _ canary.Workload = (*Workload)(nil)

// Workload returns the Workload for one target. It validates opts and touches nothing.
func (c *Cluster) Workload(opts WorkloadOptions) (*Workload, error) {
	var errs []error
	t := opts.Target
	if t.Namespace == "" || t.Name == "" {
		errs = append(errs, errors.New("targetRef: namespace and name are required"))
	}
	if opts.Port < 1 || opts.Port > 65535 {
		errs = append(errs, fmt.Errorf("service.port: must be 1..65535, got %d", opts.Port))
	}
	if opts.TargetPort.Type == intstr.Int && opts.TargetPort.IntVal == 0 && opts.TargetPort.StrVal == "" {
		opts.TargetPort = intstr.FromInt32(opts.Port)
	}
	if opts.PortName == "" {
		opts.PortName = "http"
	}
	if opts.PrimaryMinReplicas < 0 || opts.PrimaryMaxReplicas < 0 ||
		(opts.PrimaryMaxReplicas > 0 && opts.PrimaryMinReplicas > opts.PrimaryMaxReplicas) {
		errs = append(errs, fmt.Errorf("autoscalerRef.primaryScalerReplicas: want 0 <= minReplicas <= maxReplicas, got %d and %d",
			opts.PrimaryMinReplicas, opts.PrimaryMaxReplicas))
	}
	if opts.Autoscaler == "" && (opts.PrimaryMinReplicas != 0 || opts.PrimaryMaxReplicas != 0) {
		errs = append(errs, errors.New("autoscalerRef.primaryScalerReplicas: needs an autoscalerRef"))
	}
	switch opts.Kind {
	case "":
		opts.Kind = KindDeployment
	case KindDeployment:
	case KindDaemonSet:
		if opts.Autoscaler != "" || opts.AutoscalerKind != "" {
			errs = append(errs, errors.New("autoscalerRef: a DaemonSet runs one pod per node and has no autoscaler"))
		}
	default:
		errs = append(errs, fmt.Errorf("targetRef.kind: must be %s or %s, got %q", KindDeployment, KindDaemonSet, opts.Kind))
	}
	switch opts.AutoscalerKind {
	case "", KindHorizontalPodAutoscaler:
		if len(opts.PrimaryScalerQueries) > 0 {
			errs = append(errs, errors.New("autoscalerRef.primaryScalerQueries: needs a ScaledObject (AutoscalerKind)"))
		}
	case KindScaledObject:
		if opts.Autoscaler == "" {
			errs = append(errs, errors.New("autoscalerRef.kind: ScaledObject needs a name (Autoscaler)"))
		}
		if c.dynamic == nil {
			errs = append(errs, errors.New("autoscalerRef.kind: ScaledObject needs kube.Options.Dynamic"))
		}
		for _, p := range kedaapi.QueriesProblems(opts.PrimaryScalerQueries) {
			field := "autoscalerRef.primaryScalerQueries"
			if p.Key != "" {
				field = canary.FieldPath(field, p.Key)
			}
			errs = append(errs, fmt.Errorf("%s: %s", field, p.Message))
		}
	default:
		errs = append(errs, fmt.Errorf("autoscalerRef.kind: must be %s or %s, got %q", KindHorizontalPodAutoscaler, KindScaledObject, opts.AutoscalerKind))
	}
	for name, v := range map[string]*int{"analysis.primaryReadyThreshold": &opts.PrimaryReadyThreshold, "analysis.canaryReadyThreshold": &opts.CanaryReadyThreshold} {
		switch {
		case *v == 0:
			*v = 100
		case *v < 1 || *v > 100:
			errs = append(errs, fmt.Errorf("%s: must be 1..100, got %d", name, *v))
		}
	}
	for _, p := range slices.Concat(opts.ApexMetadata.Problems("service.apex"), opts.PrimaryMetadata.Problems("service.primary"),
		opts.CanaryMetadata.Problems("service.canary"), opts.UnmanagedMetadata.Problems("service.unmanagedMetadata")) {
		errs = append(errs, p)
	}
	if v := opts.TrafficDistribution; v != "" && !slices.Contains(canary.TrafficDistributions, v) {
		errs = append(errs, fmt.Errorf("service.trafficDistribution: must be one of %s, got %q", strings.Join(canary.TrafficDistributions, ", "), v))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("kube: invalid workload options: %w", err)
	}
	return &Workload{c: c, opts: opts, log: c.log.WithValues("target", t.String()), primaryName: t.PrimaryName(), kind: kindOf(opts.Kind)}, nil
}

// check refuses a target other than the Workload's.
func (w *Workload) check(t canary.Target) error {
	if t.Namespace != w.opts.Target.Namespace || t.Name != w.opts.Target.Name {
		return canary.Permanent(fmt.Errorf("kube: workload for %s called for %s", w.opts.Target, t))
	}
	return nil
}

// target returns the target (a Deployment or DaemonSet) from the cache, confirming a cache
// miss with the API server (a target created a moment ago). A target canarykit made (another
// target's primary) is refused: see generatedTarget.
func (w *Workload) target(ctx context.Context, nc *nsCache) (app, error) {
	t := w.opts.Target
	d, err := w.kind.cached(nc, t.Namespace, t.Name)
	if err != nil && apierrors.IsNotFound(err) { // IsNotFound allocates, even for nil
		d, err = w.kind.fetch(ctx, w.c.client, t.Namespace, t.Name)
		if apierrors.IsNotFound(err) {
			return app{}, canary.Permanent(fmt.Errorf("target %s %s/%s not found", w.kind.resource(), t.Namespace, t.Name))
		}
	}
	if err != nil {
		return app{}, fmt.Errorf("get target %s %s/%s: %w", w.kind.resource(), t.Namespace, t.Name, err)
	}
	if err := generatedTarget(d); err != nil {
		return app{}, err
	}
	return d, nil
}

// lookup checks t and returns its namespace's caches and the target.
func (w *Workload) lookup(ctx context.Context, t canary.Target) (*nsCache, app, error) {
	if err := w.check(t); err != nil {
		return nil, app{}, err
	}
	extras := noExtras
	switch {
	case w.keda():
		extras = kedaScalers
	case w.opts.Autoscaler != "":
		extras = hpaScalers
	}
	if w.opts.Kind == KindDaemonSet {
		extras |= daemonSets
	}
	nc, err := w.c.namespace(ctx, t.Namespace, extras)
	if err != nil {
		return nil, app{}, err
	}
	d, err := w.target(ctx, nc)
	return nc, d, err
}

// Observe reports the target's revision (pod template and tracked configs) and the readiness
// of canary and primary, from the caches.
func (w *Workload) Observe(ctx context.Context, t canary.Target) (canary.WorkloadState, error) {
	nc, d, err := w.lookup(ctx, t)
	if err != nil {
		return canary.WorkloadState{}, err
	}
	tracked, err := nc.trackedConfigs(t.Namespace, &d.Template.Spec, &w.memo)
	if err != nil {
		return canary.WorkloadState{}, err
	}
	w.mu.Lock()
	canaryGen, primaryGen := w.canaryGen, w.primaryGen
	w.mu.Unlock()
	now := w.c.clock.Now()
	st := canary.WorkloadState{Revision: w.memo.revisionOf(d, tracked), Canary: w.kind.readiness(d, canaryGen, now, w.opts.CanaryReadyThreshold)}
	p, err := w.kind.cached(nc, t.Namespace, w.primaryName)
	switch {
	case err == nil:
		st.Primary = w.kind.readiness(p, primaryGen, now, w.opts.PrimaryReadyThreshold)
		st.PrimaryRevision = w.primaryRevision(nc, p, d, tracked, st.Revision)
	case apierrors.IsNotFound(err):
		st.Primary = canary.Readiness{Message: fmt.Sprintf("%s %q does not exist", w.kind.resource(), t.PrimaryName())}
	default:
		return canary.WorkloadState{}, err
	}
	return st, nil
}

// readiness judges a Deployment from its status as the deployment controller reports it
// (Flagger's rules): rolled out, available, or stuck past its progress deadline — either as
// the controller says (ProgressDeadlineExceeded, for rollouts of a new template) or, since the
// controller does not time scale-ups out, unavailable for longer than the deadline. Available
// means threshold percent of the updated replicas (rounded down, as Flagger does).
func readiness(d *appsv1.Deployment, minGeneration int64, now time.Time, threshold int) canary.Readiness {
	notReady := func(format string, args ...any) canary.Readiness {
		return canary.Readiness{Message: fmt.Sprintf(format, args...)}
	}
	replicas := int32(1)
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	s := d.Status
	switch {
	case replicas == 0:
		return notReady("deployment %q is scaled to zero", d.Name)
	case d.Generation < minGeneration || s.ObservedGeneration < d.Generation:
		return notReady("waiting for rollout to finish: observed deployment generation less than desired generation")
	}
	for _, c := range s.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			return canary.Readiness{Failed: true, Message: fmt.Sprintf("deployment %q exceeded its progress deadline", d.Name)}
		}
	}
	var r canary.Readiness
	switch {
	case s.UpdatedReplicas < replicas:
		r = notReady("waiting for rollout to finish: %d out of %d new replicas have been updated", s.UpdatedReplicas, replicas)
	case s.Replicas > s.UpdatedReplicas:
		r = notReady("waiting for rollout to finish: %d old replicas are pending termination", s.Replicas-s.UpdatedReplicas)
	case threshold >= 100 && s.AvailableReplicas < s.UpdatedReplicas:
		r = notReady("waiting for rollout to finish: %d of %d updated replicas are available", s.AvailableReplicas, s.UpdatedReplicas)
	case threshold < 100 && s.AvailableReplicas < s.UpdatedReplicas*int32(threshold)/100:
		r = notReady("waiting for rollout to finish: %d of %d (readyThreshold %d%%) updated replicas are available",
			s.AvailableReplicas, s.UpdatedReplicas*int32(threshold)/100, threshold)
	default:
		return canary.Readiness{Ready: true}
	}
	deadline := 600 * time.Second
	if d.Spec.ProgressDeadlineSeconds != nil {
		deadline = time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second
	}
	for _, c := range s.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionFalse && c.Reason == "MinimumReplicasUnavailable" &&
			now.Sub(c.LastUpdateTime.Time) > deadline {
			r.Failed = true
			r.Message = fmt.Sprintf("deployment %q has been unavailable for longer than its progress deadline (%s): %s", d.Name, deadline, r.Message)
		}
	}
	return r
}

// ScaleUp scales the target from zero: to its own replicas if someone set them, else the
// autoscaler's minimum (an HPA's minReplicas, a ScaledObject's minReplicaCount), else the
// primary's replicas, else 1 (Flagger's rule). A target ScaledObject is resumed first. A
// DaemonSet target loses its ScaleToZeroNodeSelector.
func (w *Workload) ScaleUp(ctx context.Context, t canary.Target) error {
	nc, d, err := w.lookup(ctx, t)
	if err != nil {
		return err
	}
	w.mu.Lock()
	// the generation this Workload's last scale of the target made: a cache older than that
	// write may still show the replicas from before a scale-down (a new revision pushed just
	// before it), which is not "already running"
	stale := d.UID == w.canaryUID && d.Generation < w.canaryGen
	w.mu.Unlock()
	if r := w.kind.replicas(d); r != nil && *r > 0 && !stale {
		if w.keda() { // scaled up before its ScaledObject was resumed (an interrupted call)
			return w.resumeScaledObject(ctx, nc, false)
		}
		return nil // already running (scaled by its owner, or by an earlier call)
	}
	n := int32(1)
	if w.keda() {
		so, err := w.targetScaledObject(nc)
		if err != nil {
			return err
		}
		// resumed first, as Flagger does: paused at zero, KEDA would scale the target back down
		if err := w.resumeScaledObject(ctx, nc, false); err != nil {
			return err
		}
		if m, ok, _ := unstructured.NestedInt64(so.Object, "spec", "minReplicaCount"); ok && m > 1 && m <= math.MaxInt32 {
			n = int32(m)
		}
	} else if w.opts.Autoscaler != "" {
		if h, err := nc.hpa(t.Namespace, w.opts.Autoscaler); err == nil && h.Spec.MinReplicas != nil && *h.Spec.MinReplicas > 1 {
			n = *h.Spec.MinReplicas
		}
	} else if p, err := w.kind.cached(nc, t.Namespace, t.PrimaryName()); err == nil {
		if r := w.kind.replicas(p); r != nil && *r > 0 {
			n = *r
		}
	}
	return w.scale(ctx, n)
}

// ScaleDown scales the target to zero (a DaemonSet with ScaleToZeroNodeSelector). With
// ApexSelectsPrimary it first points a drifted apex Service back at the primary: the target it
// may select is about to have no pods. A target ScaledObject is paused at zero replicas first
// (and whenever it is found resumed).
func (w *Workload) ScaleDown(ctx context.Context, t canary.Target) error {
	nc, d, err := w.lookup(ctx, t)
	if err != nil {
		return err
	}
	if w.opts.ApexSelectsPrimary {
		key, value, err := selectorLabel(d)
		if err != nil {
			return err
		}
		if err := w.syncService(ctx, nc, d, t.ApexService(), key, value+"-primary", false); err != nil {
			return err
		}
	}
	if w.keda() { // paused first, as Flagger does: KEDA would scale the target back up
		if err := w.pauseScaledObject(ctx, nc); err != nil {
			return err
		}
	}
	if r := w.kind.replicas(d); r != nil && *r == 0 {
		return nil
	}
	return w.scale(ctx, 0)
}

func (w *Workload) scale(ctx context.Context, n int32) error {
	t := w.opts.Target
	d, err := w.kind.patch(ctx, w.c.client, t.Namespace, t.Name, w.kind.scalePatch(n))
	if err != nil {
		return fmt.Errorf("scale %s %s/%s to %d: %w", w.kind.resource(), t.Namespace, t.Name, n, err)
	}
	w.mu.Lock()
	w.canaryGen, w.canaryUID = d.Generation, d.UID
	w.mu.Unlock()
	w.log.V(1).Info("scaled target", "replicas", n)
	return nil
}
