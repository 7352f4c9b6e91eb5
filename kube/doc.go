// Package kube connects canarykit's engine to a Kubernetes cluster: apps/v1 Deployment targets
// (canary.Workload), the rollout status with a one-driver-per-target lock
// (canary.StatusStore), and Kubernetes Events for every decision.
//
//	cluster, _ := kube.New(kube.Options{Client: client})
//	defer cluster.Close()
//	workload, _ := cluster.Workload(kube.WorkloadOptions{Target: target, Port: 9898, Autoscaler: "podinfo"})
//	lease, _ := kube.NewLease(kube.LeaseOptions{Client: client, Target: target, Identity: podName})
//	events := cluster.Events(kube.EventsOptions{})
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
//     selecting the target's;
//   - with WorkloadOptions.Autoscaler, a copy "<hpa>-primary" of the target's
//     HorizontalPodAutoscaler scaling the primary, re-synced at every promotion;
//   - the Lease podinfo-canarykit, holding the driver's claim, the status and control requests
//     from other processes (RequestControl, watched by Lease.Controls).
//
// Each carries the label app.kubernetes.io/managed-by=canarykit (canary.LabelManagedBy and
// canary.ManagedBy, shared by every package of this module) and the annotation
// canarykit.dev/target naming the target; an object of the same name that canarykit did not
// create for this target is never overwritten: Bootstrap fails with an error naming it. Owner
// references (deleting the target deletes them) are opt-in, WorkloadOptions.OwnerReferences:
// the primary and the apex Service serve production traffic, and recreating the target
// (kubectl replace --force) must not take them down. The Lease has no owner.
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
// # Cost
//
// Everything read on a tick comes from shared informer caches (deployments, services,
// configmaps, secrets, autoscalers of the target's namespace). A weight step costs the engine
// one status write (the Lease update, which also renews the claim) and one Event, besides the
// route write of the mesh router; an idle tick costs nothing. The Lease is renewed on its own
// only after half its Duration without a write. Flagger makes 19 requests per step and 12 per
// idle tick.
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
// (rbac-flagger.yaml) adds reading MetricTemplates, AlertProviders and their Secrets.
package kube
