// Package kube connects canarykit's engine to a Kubernetes cluster: apps/v1 Deployment and
// DaemonSet targets (canary.Workload; see "DaemonSet targets"), the rollout status with a one-driver-per-target lock
// (canary.StatusStore), and Kubernetes Events for every decision (on the target Deployment, or
// with Events.ForObject on another object: a Flagger Canary, as Flagger records them).
//
//	cluster, _ := kube.New(kube.Options{Client: client})
//	defer cluster.Close()
//	workload, _ := cluster.Workload(kube.WorkloadOptions{Target: target, Port: 9898, Autoscaler: "podinfo"})
//	lease, _ := kube.NewLease(kube.LeaseOptions{Client: client, Target: target, Identity: podName})
//	events, _ := cluster.Events(kube.EventsOptions{})
//	defer events.Shutdown()
//	r, _ := canary.New(canary.Config{Target: target, Spec: spec, Workload: workload, Store: lease,
//		OnEvent: events.For(target), Router: router, Metrics: prom, Builtins: metrics.Linkerd()})
//	err := lease.Hold(ctx, func(ctx context.Context) error { _, err := r.Run(ctx); return err })
//
// # What it creates (Flagger's model)
//
// For a target Deployment podinfo whose selector has app: podinfo:
//
//   - podinfo-primary: a Deployment running the promoted pod template, selecting
//     app: podinfo-primary; its ConfigMap/Secret references point at "-primary" copies;
//   - podinfo-primary copies of the tracked ConfigMaps and Secrets (see AnnotationConfigTracking);
//   - Services podinfo (apex) and podinfo-primary selecting the primary's pods, podinfo-canary
//     selecting the target's, on WorkloadOptions.Port and, with WorkloadOptions.PortDiscovery
//     (Flagger's service.portDiscovery), every port of the target's containers as well;
//     headless with WorkloadOptions.Headless, with WorkloadOptions.TrafficDistribution, and
//     labelled and annotated with WorkloadOptions.ApexMetadata, PrimaryMetadata and
//     CanaryMetadata (Flagger's service.apex, primary and canary) besides canarykit's own
//     keys (see "The Services' metadata");
//   - with WorkloadOptions.Autoscaler, a copy "<hpa>-primary" of the target's
//     HorizontalPodAutoscaler scaling the primary, re-synced when the primary is made and
//     at every promotion; or, with WorkloadOptions.AutoscalerKind KindScaledObject, a copy
//     "<name>-primary" of the target's KEDA ScaledObject (keda.sh/v1alpha1, through
//     Options.Dynamic) scaling the primary, its triggers' queries rewritten for the primary
//     or replaced by WorkloadOptions.PrimaryScalerQueries, re-synced likewise (see "KEDA
//     ScaledObjects");
//   - the Lease podinfo-canarykit, holding the driver's claim, the status and control requests
//     from other processes (RequestControl).
//
// The primary and the copies carry their originals' labels but a GitOps tool's marks of its
// own objects (Flux's *.toolkit.fluxcd.io/*, Argo CD's app.kubernetes.io/instance and
// argocd.argoproj.io/*): with them, the tool would prune the copies as objects missing from
// its source. A ConfigMap's copy is never immutable, so that it follows its original at the
// next promotion when an immutable original is made again with new data; a Secret's copy
// whose original was made again with another type (Opaque to kubernetes.io/tls, say), which
// no update can change, is made again at the promotion too: deleted (UID and
// resourceVersion preconditions) and created, which needs delete on secrets (RevertRBAC
// grants it, RBAC does not; without it the promotion fails and its error names the verb).
//
// Each carries the label app.kubernetes.io/managed-by=canarykit (canary.LabelManagedBy and
// canary.ManagedBy, shared by every package of this module), the annotation
// canarykit.dev/target naming the target and the annotation canarykit.dev/canary naming the
// Canary that made it (canary.Target.CanaryName); an object of the same name that canarykit
// did not create for this target and Canary is never overwritten or deleted: Bootstrap fails
// with a permanent error naming it, before it writes anything. So a target has one Canary: a
// second Canary of the same Deployment finds the first one's primary, autoscaler and config
// copies (named after the target) and is refused with an error naming the first; when two
// bootstrap at once, the one whose create finds the other's object a moment old is refused
// the same way. Objects an earlier canarykit made without the canarykit.dev/canary annotation
// are taken as the target's and get it from the next Bootstrap (one write each, once). So
// are the objects Flagger generated for the target's Canary, when canarykit takes over a
// Canary Flagger initialized: an object whose controller owner reference is the flagger.app
// Canary named canary.Target.CanaryName (with canary.Target.CanaryUID when the Target records
// it: kube/flagger sets it for a Canary read from the cluster) gets the label and both
// annotations at the next write, and keeps that owner reference (deleting the Canary deletes
// it, as under Flagger); objects of any other Canary are refused. Flagger's primary records
// no canarykit revision: when its pod template is the target's (but for what Flagger writes
// differently: its flagger-id annotation, Flux's keys, the primary suffix in anti-affinity and
// topology spread selectors) and its config copies hold the originals' data, Observe reports
// the target's revision as the primary's and Bootstrap records it there, so an unchanged
// target is not released again. A target that is itself one of canarykit's objects (another target's primary) is refused by
// every call. One exception, as in Flagger: an apex Service of the target's service name
// without any app.kubernetes.io/managed-by label (one a user keeps in Git) is adopted if it
// selects the target's pods (or the primary's) — it gets the label and the annotations
// (AnnotationAdopted among them, marking it the user's), the primary's selector and canarykit's
// ports; its other labels and annotations stay as they are and no owner reference is added.
// An unlabelled Service without a selector or selecting other pods serves something else and
// is refused, naming its selector; so are an apex Service another tool labels as its own and
// any other object (the primary Deployment included). Owner references (deleting the target
// deletes them) are opt-in, WorkloadOptions.OwnerReferences: the primary and the apex Service
// serve production traffic, and recreating the target (kubectl replace --force) must not take
// them down. The Lease has no owner.
//
// Bootstrap also refuses, before its first write, a target whose Services cannot be named as
// it says (DNS-1035 labels: the apex, service.name or else the target's name, and its
// "-primary" and "-canary" Services); canary.New and kube/flagger refuse such targets at
// their fields already.
//
// Handing a target back (what Flagger's spec.revertOnDeletion does when its Canary is
// deleted; kube/driver's Retire runs it): Workload.RestoreTarget resumes the target's KEDA
// ScaledObject, if any, and scales the target up to the primary's replicas,
// Workload.HandBackApex points the apex Service at the target's pods and drops canarykit's
// label and annotations from it (and, from an apex canarykit created, the apex metadata; an
// adopted one keeps the user's labels and annotations as they are), and
// Workload.RemoveGenerated deletes the primary and canary Services, the primary Deployment, its
// autoscaler (HPA or ScaledObject) and the primary config copies, each only if canarykit
// manages it for this target and Canary (RestoreTarget refuses a primary made for another
// Canary); while an apex Service that is not canarykit's (a GitOps tool's copy from Git, put
// back over canarykit's) selects the primary's pods, it deletes nothing and returns an error
// naming the Service, which would be left without endpoints.
//
// # KEDA ScaledObjects
//
// A target scaled by KEDA (WorkloadOptions.AutoscalerKind KindScaledObject, Flagger's
// autoscalerRef kind ScaledObject) is driven as Flagger drives it. The primary's ScaledObject
// "<name>-primary" is the target's spec with scaleTargetRef naming "<target>-primary",
// minReplicaCount and maxReplicaCount from PrimaryMinReplicas and PrimaryMaxReplicas if set,
// advanced.horizontalPodAutoscalerConfig.name "<its name>-primary" when the target's names
// one (else KEDA names the primary's HPA "keda-hpa-<name>-primary"), and each trigger's
// metadata.query replaced by PrimaryScalerQueries (by trigger name) or, without them,
// rewritten with "<target>-canary" and "<target>" made "<target>-primary"
// (kedaapi.PrimaryQuery); it carries the target's labels and annotations but KEDA's pause
// annotations. Bootstrap creates it (and brings it level when it makes the primary), Promote
// brings it level. The target's own ScaledObject is
// the user's: canarykit only patches the annotation autoscaling.keda.sh/paused-replicas on
// it, "0" in ScaleDown before the target is scaled to zero (KEDA would scale the canary back
// up), removed in ScaleUp before the canary is scaled up and in RestoreTarget. Bootstrap
// refuses, before its first write, a target ScaledObject that is missing, that scales another
// workload, or that has no trigger of a name PrimaryScalerQueries gives; a cluster that does
// not serve scaledobjects.keda.sh/v1alpha1 is a permanent error naming spec.autoscalerRef (one
// list per namespace finds out before the ScaledObjects' cache starts). ScaledObjects are read
// from a cache per namespace (started by the first such target) and written unstructured:
// canarykit does not import KEDA.
//
// # DaemonSet targets
//
// With WorkloadOptions.Kind KindDaemonSet (Flagger's targetRef kind DaemonSet) the target is an
// apps/v1 DaemonSet, driven by the same code as a Deployment through one abstraction of the
// kind (kinds.go): the primary is a DaemonSet "<target>-primary" selecting the primary label
// value, with the target's pod template (labels and config references renamed as for a
// Deployment), update strategy, minReadySeconds and revision history limit, and the target's
// labels; Promote copies them again. A DaemonSet has no replicas: it is scaled to zero by the
// node selector ScaleToZeroNodeSelector (flagger.app/scale-to-zero: "true", Flagger's own key,
// one merge patch of the pod template) and scaled up by removing it (a merge patch setting it
// to null; RestoreTarget, at hand-back, removes it too, so no scale-down key is left on a
// handed-back target). Writing Flagger's key, not one of canarykit's, keeps a Canary movable
// between the two: a DaemonSet Flagger scaled down is seen scaled down (and its revision the
// same) when canarykit takes its Canary over, and one canarykit scaled down is scaled up by
// Flagger's ScaleUp if the Canary goes back to Flagger. The key is no part of the target's
// revision, nor of the primary's template (neither Flagger's nor canarykit's primary has it).
// Readiness follows the daemonset controller's status, as Flagger's does: observedGeneration,
// updatedNumberScheduled against desiredNumberScheduled, and numberAvailable against the ready
// threshold's share of desiredNumberScheduled (a DaemonSet with no node to run on is ready);
// a DaemonSet has no progress deadline condition, so a rollout that never finishes is timed
// out by the analysis' own progress deadline. A DaemonSet target has no autoscaler
// (WorkloadOptions.Autoscaler is refused with it). Bootstrap refuses, before its first write, a
// DaemonSet the primary cannot run beside: update strategy OnDelete (the canary's pods would
// never be replaced) and host ports (a container's hostPort, or any container port with
// hostNetwork: the primary's pod and the canary's run on the same nodes). The target's selector
// follows the Deployment's rule (one of app, name, app.kubernetes.io/name in matchLabels).
// DaemonSets are cached only in the namespaces one of whose targets is a DaemonSet (the cache
// starts with the first of them), so Deployment targets cost no DaemonSet watch; there,
// Cluster.OnDeployment also gives out the DaemonSets' events (a DaemonSet change kicks its
// target as a Deployment's does), and Events.For records on the DaemonSet when no Deployment
// has the target's name.
//
// # The Services' metadata
//
// WorkloadOptions.ApexMetadata, PrimaryMetadata and CanaryMetadata (Flagger's service.apex,
// primary and canary) are written on the Services at their creation and at every Bootstrap
// (and Promote, with PortDiscovery) with canary.ApplyMetadata: their keys are set, and the keys
// an earlier write set from them (recorded in the annotation canary.AnnotationMetadata) that
// they no longer have are removed. Keys canarykit never wrote are left alone — Flagger removes
// every key its Canary does not name, canarykit only its own — and a key listed in
// WorkloadOptions.UnmanagedMetadata (Flagger's service.unmanagedMetadata) that the Service has
// keeps its value, whoever set it, and is never removed. canarykit's own keys win: the
// managed-by label and canarykit.dev/ keys cannot be given, and the label naming the Service
// under the target's selector label key (app=podinfo-primary) stays canarykit's, as it stays
// Flagger's. An adopted apex Service (the user's, marked AnnotationAdopted) gets no apex
// metadata, as Flagger writes metadata only on the Services it created: its labels and
// annotations stay as the user has them, none is set or removed, at any sync or at
// HandBackApex, and the Workload's log says once that ApexMetadata is not written there. An
// apex adopted by an earlier canarykit, which wrote the apex metadata on it unmarked, is told
// from a created one by its age (older than the primary Deployment, and without the target's
// or a Flagger Canary's owner reference): it is marked at its next sync and its
// canary.AnnotationMetadata record dropped, the keys it lists left with their values.
//
// WorkloadOptions.Headless makes all three Services headless (clusterIP None) when they are
// created, as Flagger does. An existing Service's clusterIP cannot change, and Flagger leaves
// it as it is; canarykit refuses instead, before Bootstrap writes anything, a Service whose
// headlessness is not the options' (a permanent error naming service.headless: delete the
// Service to have it made again, or set the option back). WorkloadOptions.TrafficDistribution
// is set on created Services, and corrected on existing ones (Flagger sets it on creation
// only); "" leaves an existing Service's as it is.
//
// # GitOps writers
//
// A GitOps tool may re-apply the target, the route and the apex Service from its own copy at
// any time. canarykit does not fight it: the target's replicas are its owner's during the
// analysis (ScaleUp only scales a target at zero, ScaleDown runs once when a release ends), and
// an idle target makes no write whatever is re-applied, so a target whose replicas come back
// from Git after a release keeps running the promoted revision until the next release (leave
// replicas out of Git, as with Flagger). With WorkloadOptions.ApexSelectsPrimary (routers with
// their own route object; kube/driver sets it for TrafficSplit and HTTPRoute) the apex Service
// always selects the primary: Bootstrap corrects a drifted selector, and ScaleDown does before
// it scales the target to zero, so the apex is not left selecting a side with no pods: one
// write at each of those moments at most, none between releases (a selector re-applied
// between releases stays until the next one); a copy in Git whose selector is "<app>-primary"
// costs none.
//
// # Revisions and readiness
//
// A revision is a hash of the target's pod template and of the data of every ConfigMap and
// Secret it references (volumes, projected volumes, env valueFrom, envFrom, init containers),
// so changing a tracked config starts a release and reverting the template to the promoted one
// does not. Readiness follows the deployment controller's status: rolled out and available (all
// updated replicas, or the share WorkloadOptions.PrimaryReadyThreshold and CanaryReadyThreshold
// give, Flagger's readyThresholds), or failed for good when the Progressing condition says
// ProgressDeadlineExceeded.
//
// # Control requests
//
// RequestControl (canaryctl promote, abort, pause, resume) writes the request on the target's
// Lease, annotation AnnotationControl, with the label LabelControlRequested (for earlier
// drivers, whose watch selects on it). A driver registers the lease it holds with
// Cluster.Controls: the Cluster keeps one watch per namespace of canarykit's leases
// (canary.LabelManagedBy), shared by every registered lease, and hands each request to the
// lease it was made on only. The holder applies a request once, and a write of the lease made
// at once for it (during Hold) removes the annotation and the label. A request no driver
// applied (the holder stopped first) stays, and the next driver to take the lease applies it
// when it registers. The same watch guards each registered claim: a held lease deleted, or
// written with another holder or acquire time, wakes its renewals at once, and their write
// ends the hold with ErrLeaseLost (a lease vouched for by a holder lease would otherwise find
// out only at its next write, up to half an hour later). The watch hands each lease its copies
// without waiting for the lease's lock, which a write of the lease holds across its request:
// the lease applies them in order on a goroutine of its own, so one lease's slow write holds
// up no other lease's requests.
//
// A namespace, not the cluster, is the watch's scope, as for the informer caches: the
// permissions are granted per namespace (RoleBindings of RBAC()), and the watches number one per
// namespace and resource whatever the number of targets. They are the namespaces driven now:
// Cluster.Retain keeps a namespace's caches and watches for a caller (kube/driver's Targets,
// Releases and retirements retain theirs while they run), and a minute after the last
// retention is released (Options.ReleaseDelay) its informers stop and their watches end; a
// namespace only ever used without Retain keeps them until Close (see Cluster.Retain).
//
// # Cost
//
// Everything read on a tick comes from shared informer caches (deployments, services,
// configmaps, secrets, autoscalers and KEDA ScaledObjects of the target's namespace, and for the
// NGINX router its Ingresses, Cluster.CachedIngress), which keep objects without
// their managedFields, and ConfigMaps and Secrets that config tracking leaves out (opted out,
// or a Secret type it does not track) without their data, and autoscalers without their status. A target's revision is encoded again
// only when its Deployment's generation or a tracked config changes. A weight step costs the engine one status write (the Lease update,
// which also renews the claim) and one Event, besides the route write of the mesh router; an
// idle tick costs nothing, and control requests cost one Lease watch per namespace (of
// canarykit's Leases), not one per target. The Lease is renewed on its own
// only after half its Duration without a write. Flagger makes 19 requests per step and 12 per
// idle tick.
//
// # Holder leases
//
// A process driving many targets renews their claims together with Holders
// (LeaseOptions.Holders; kube/driver uses one per Driver): one holder lease per namespace,
// canarykit-holder-<random>, labelled LabelHolder, renewed every half of its duration. A target
// Lease held with it names the holder lease and a claim token drawn when the holder lease was
// claimed (AnnotationHolder, AnnotationHolderClaim) and declares VouchedLeaseDuration (an
// hour), renewed every half hour only: another driver finds it held while that holder lease
// carries the same token, is held and has not expired.
// So the renewals of a thousand targets, idle or releasing, are one write per namespace every
// half duration, and a process that dies frees all its targets when its holder lease expires.
// Until then a vouched claim's renewals wait without a goroutine of their own: they resume on
// the half hour, a Control request to clear, a write that found the claim lost, the end of the
// hold or the loss of the holder lease, whichever comes first.
// A restart under the same identity draws a new token, so it does not inherit the old claims.
// A holder lease lost (not renewed within three quarters of its duration, so while it still
// stands for the others; renewed only after it expired; taken; deleted) makes each lease it
// vouched for renew itself at once, and a failure of that write, or a conflict with another
// driver's claim, is ErrLeaseLost; the lost holder lease is left to expire. Any claim not
// renewed within three quarters of its duration counts as lost, and Hold cancels its fn
// (Begin's Claim, its Context).
// A vouched target Lease is written only every half hour (and by its status saves): one
// registered with Cluster.Controls, as kube/driver registers its Targets' and Releases', is
// guarded by that watch, which finds it deleted or taken at once; one that is not finds out
// at its next write, and another driver may have taken the target meanwhile. A tool that knows nothing
// of holder leases sees the hour the target Lease declares, so it never takes a target from a
// live process (and takes a dead one's only after the hour).
//
// # Flagger objects
//
// Flagger's Canary, MetricTemplate and AlertProvider live in kube/flagger (loading and
// converting, no cluster client); kube/driver wires a loaded Canary to this package, the
// router and Prometheus, and runs its releases.
//
// # Permissions
//
// RBAC() returns the ClusterRole (rbac.yaml) with every permission this package needs and no
// more; the integration tests run under an identity bound to exactly it. FlaggerRBAC()
// (rbac-flagger.yaml) adds reading MetricTemplates, AlertProviders and their Secrets, and
// reading Canaries and writing their status (kube/driver's Options.CanaryStatus). RBAC() has
// no delete verb: RevertRBAC() (rbac-revert.yaml) adds delete on what handing a target back
// removes (kube/driver's Retire with Revert: the primary Deployment or DaemonSet, its autoscaler (HPA or
// ScaledObject), config
// copies, the primary and canary Services, the Lease), to be bound only where targets may be
// reverted; the route objects' delete rules are the router's (mesh).
package kube
