// Package driver turns Flagger objects loaded by kube/flagger into releases running on a
// cluster: the clients and informer caches (kube), the router the Canary's spec.provider
// chooses (mesh: SMI TrafficSplit, Gateway API HTTPRoute with the Canary's gatewayRefs as
// parents, its spec.service.apex metadata, timeout and backendTimeout, an Istio VirtualService and
// DestinationRules with the Canary's spec.service (hosts, gateways and Istio fields,
// mesh.Istio.WithService; apex metadata on the VirtualService), the Kubernetes Service switch,
// or the NGINX canary Ingress copied from the Canary's ingressRef, and again at a step when
// the cache of the namespace's Ingresses, kube.Cluster.CachedIngress, shows it edited), the Workload of the
// target with the Services' metadata, headless and trafficDistribution,
// Flagger's built-in checks of the data plane (metrics.Istio for provider istio,
// metrics.NGINX for nginx, metrics.Kubernetes for kubernetes when Options.DefaultRouter is not
// Linkerd's, as Flagger's with another mesh provider, metrics.Linkerd otherwise), Prometheus per metric (a MetricTemplate's own
// server and credentials; a datadog MetricTemplate's metrics.Datadog, with its Secret's
// datadog_api_key and datadog_application_key and Flagger's window of ten of the metric's
// intervals, canary.Metric.EffectiveInterval), webhooks, alerts (webhook/notify), Kubernetes Events and the
// target's Lease. canaryctl, the operator example and the end-to-end tests are built on it.
//
// A Driver is shared by every target of a process: routers are built once per kind and
// version, Prometheus clients once per server and credentials, Datadog clients once per
// server, keys and window. There are two ways to run:
//
//   - Release and Release.Run: one release of the target's current revision, for a CLI or a
//     CI job. Run holds the target's lease, applies control requests (kube.RequestControl),
//     delivers the alerts and returns the result.
//   - Target and Target.Start: a target's releases for as long as ctx lives, for an operator.
//     Start holds the lease, applies control requests, delivers alerts and releases every new
//     revision; Kick it from an informer's events (Driver.OnDeployment gives the events of the
//     Deployments in the caches the targets read, and of the DaemonSets where a target is a
//     DaemonSet). It has the shape of a controller-runtime
//     Runnable. Between releases it reads only its caches, and its lease is renewed
//     with the Driver's holder lease of the namespace (kube.Holders: one write per half
//     lease duration for all the namespace's targets, idle or releasing); it waits for the
//     next kick, control request or recheck without a goroutine of its own (the lease held
//     with kube.Lease.Begin, the loop resumed by the first of them), so a Targets set of
//     1,000 idle targets holds no goroutine per target; the rechecks fall on whole tenths of
//     Options.Recheck (at most a second), so that they wake the process together. With Options.CanaryStatus, the releases after the first of one hold of the
//     lease take the status from what the store last wrote, without reading the Canary; with
//     a router that writes conditionally on the route's generation (mesh.GenerationRouter:
//     the SMI TrafficSplit) they take the route from their last write, without reading it,
//     and a route edited meanwhile fails the next write and is read and adopted again (as
//     is the route of a Canary edited to another apex service or to match conditions).
//
// Control requests reach Releases and Targets through the Driver's one watch per namespace
// of canarykit's Leases (kube.Cluster.Controls): however many targets a namespace holds, the
// Driver keeps one Lease watch there. A namespace's caches and watches run while a Target,
// Release or retirement of it does (kube.Cluster.Retain): a minute after the last of them
// stops, its watches end, so namespaces that come and go (preview environments) leave none behind. An idle target's Lease, vouched for by the holder lease,
// is not written, so it receives nothing; the same watch ends a target's hold at once when its
// Lease is deleted or taken, and finds the Driver's holder lease deleted or taken (its targets
// then write their own claims at once).
//
// A release's status is kept in the target's Lease annotation, or, with Options.CanaryStatus,
// on the Canary object through its status subresource as Flagger keeps it (phase, canaryWeight,
// failedChecks, iterations, lastAppliedSpec, lastPromotedSpec, trackedConfigs,
// lastTransitionTime, the session affinity cookies (sessionAffinityCookie,
// previousSessionAffinityCookie, primarySessionAffinityCookie) and the Promoted condition, plus
// kstatus' Reconciling and Stalled
// conditions, and canarykit's own canarykit.dev/Analysis condition for what Flagger's schema has
// no field for: the analysis' start, a pause, a rollback under way), one request per save
// (carrying only the Canary's name, namespace, uid and resourceVersion besides the status: the
// API server takes nothing else from a status update):
// `kubectl get canaries` and `kubectl wait --for=condition=promoted` follow the release, and a
// new process resumes it from there (see CanaryStore). The Lease stays the lock.
//
// A release's Kubernetes Events (kube.Events) are on the target Deployment, with the engine's
// reasons (Advanced, Halted, RollingBack, ...). With Options.CanaryStatus they are on the
// Canary object instead, as Flagger records them: involvedObject the Canary (with its
// metadata.uid, flagger.Canary.UID, when it was loaded from the cluster), reason Synced
// (CanaryEventReason) whatever the engine's, the type and message unchanged, so `kubectl
// describe canary podinfo` shows the release and what selects Events by
// involvedObject.kind=Canary finds them. Either way the Event's action is the engine's reason,
// and similar events are combined by it (from the tenth of one kind with distinct messages in
// ten minutes), not by the reason they share: a release's Events are written whole. The source
// stays canarykit's. Options.Events.Record writes only the Warnings, or none (they are most of
// a release's API requests); the events still reach the release's alerts, hooks and OnEvent.
// LoadCanaryStatus reads that status from outside the driver (a status command).
//
// A controller keeps one Target per object in a Targets set: Apply starts a key's Target,
// hands it an edited analysis for its next release (Target.Update; spec.suspend applies at
// once: the running analysis paused, no release started until it is cleared), or replaces it
// when the edit binds the target differently (Bound); Stop ends it, and Forget, for a deleted
// Canary, also drops the key from those waiting for a target. A target Deployment has one
// Canary: Apply refuses a key whose target another key's Target drives (ErrTargetTaken, naming
// it) and hands the key to Targets.Requeue once that Target stops; whatever the order of Apply,
// the Canary the target's objects were made for keeps the target (a Target they refuse gives way
// to it); after StopAll, Apply starts nothing (ErrStopped). Retire ends a target's canary
// delivery when its Canary is deleted, holding the target's lease: all traffic to the primary
// and the target scaled to zero, or with Retirement.Revert the target handed back as
// Flagger's spec.revertOnDeletion does (scaled up, the apex Service selecting its pods, the
// route objects and what canarykit generated deleted; this needs kube.RevertRBAC() and the
// router's delete rule on top of kube.RBAC()). Only route objects made for the target are
// deleted (annotated canarykit.dev/target with its name, or with none when made before
// canarykit recorded it), each with preconditions on the UID and resourceVersion read; a
// Canary whose apex Service is canarykit's for another target (its bootstrap was refused)
// removes no route object.
//
// A Canary annotated canarykit.dev/sequential-check (kube/flagger) gets the sequential test of
// its error rate (metrics.Sequential over metrics.PrometheusCounts, on the Canary's Prometheus)
// as the check the annotation adds; canarykit.dev/dry-run-metrics runs the metrics it lists dry.
//
// The client's rate limit is one budget shared by every client the driver builds. When
// Options.Config sets none it follows the running targets (Targets started and Releases
// running): RateLimit of them (12 requests per target and analysis interval, a burst of 16 per
// target so that all may start at once), never below DefaultQPS and DefaultBurst or the size
// Options.Targets and Options.Interval give in advance; the driver logs the limit when it moves
// by a quarter. An embedder's own Config.QPS and Burst, or RateLimiter, are kept as a fixed
// limit, and the driver logs a warning when the running targets' expected load passes 80 % of
// it. (*Driver).RateLimit reads the limit, (*Driver).Throttled counts the requests that waited.
//
// The clients do not share one connection, as client-go's clients of the same TLS settings
// otherwise do (one HTTP/2 connection for all their requests): the watches (the informer
// caches, KEDA ScaledObjects' included, the Lease watch) have one of their own, and so does
// each client of custom resources (each router's, the Canary status', the dynamic client that
// also writes ScaledObjects); Events, Deployments, Services and Leases share another.
// A step's route write then does not wait behind the rest on a busy machine (PERFORMANCE.md, "What
// the driver does at scale"). Each pool is made once per driver (four, and one per router kind and
// version), its transport built as client-go builds one but kept out of client-go's
// process-wide transport cache, so a process that makes and closes drivers keeps nothing of
// them; a client certificate named by file is read again for each new connection and at most
// once a minute before a request, and the connections made with the one before are closed
// when it changed. A pool that may speak HTTP/2 sends its first request alone, the others
// waiting for its answer, so that a burst on a pool with no connection yet (every target
// starting at once) opens one connection rather than a TLS handshake per request (net/http
// learns a server speaks HTTP/2 only once a handshake is done). Close waits for the informers
// to end and closes the idle connections. The
// connections of the driver's own dialer give up on data left unacknowledged for 30 s
// (TCP_USER_TIMEOUT, on Linux). Options.HTTP1Requests puts the requests (not the watches) on
// HTTP/1.1, up to 100 connections a pool: less CPU per request, more connections (see
// PERFORMANCE.md). The driver leaves the Go runtime's settings to its process; one that does little
// besides driving targets spends less CPU with GOMAXPROCS=1 (the example controller's
// default, see its --gomaxprocs). The watches' client has no overall timeout (Config.Timeout would
// cut each watch short); the clients of custom resources speak JSON whatever
// Config.ContentType says. A Config with its own Transport keeps it (its clients share its
// connections, which the driver leaves open).
//
// A Canary canarykit cannot drive (spec.provider appmesh, say; or spec.analysis.mirror with a
// router that cannot copy requests to the canary, such as the default router of a Canary
// without spec.provider when it is not Istio's or an HTTPRoute: canary.ErrMirrorUnsupported;
// or spec.analysis.sessionAffinity with such a router: canary.ErrSessionAffinityUnsupported;
// or, when NGINX routes it, the default router included, what provider nginx needs and it does
// not give, flagger.Canary.CheckNGINX: a spec.ingressRef, as Flagger refuses it without, and
// match conditions ingress-nginx can route, a cookie under the key cookie alone, as Flagger
// reads it) is an error naming the field before anything in the cluster is touched.
//
//	d, err := driver.New(driver.Options{Config: cfg, Prometheus: "http://prometheus.linkerd-viz:9090"})
//	if err != nil {
//		return err
//	}
//	defer d.Close()
//	c, err := flagger.LoadCanary(manifest)
//	if err != nil {
//		return err
//	}
//	rel, err := d.Release(ctx, c, nil)
//	if err != nil {
//		return err
//	}
//	res, err := rel.Run(ctx) // res.Phase: Succeeded, or Failed after a rollback
package driver
