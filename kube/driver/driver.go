package driver

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/webhook"
	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
)

// The least client rate limit of a driver whose Options.Config sets none (client-go's own
// default, 5 QPS with a burst of 10, throttles a driver of a few dozen targets at every release
// start): the limit follows the running targets (RateLimit) from there.
const (
	DefaultQPS   = 50
	DefaultBurst = 100
)

// DefaultRecheck is how often a Target looks at its caches for a revision the events it is
// kicked with did not announce (a ConfigMap or Secret the Deployment refers to, say).
const DefaultRecheck = 10 * time.Second

// Options configure a Driver. Zero fields mean "default".
type Options struct {
	// Config reaches the cluster. Required. The Driver works on a copy, whose rate limit is one
	// budget shared by every client the driver builds from it. With QPS, Burst and RateLimiter
	// unset the limit follows the running targets (Targets started and Releases running):
	// RateLimit of them, never below RateLimit(Targets, Interval), logged when it moves by a
	// quarter (RateLog). A QPS or Burst set is a fixed limit (the other one, if 0, from
	// RateLimit(Targets, Interval)); a RateLimiter is kept as it is; a QPS below 0 is no limit.
	// With a fixed limit the driver warns in its log when the running targets' expected load
	// passes RateWarning of its QPS. (*Driver).RateLimit reads the limit.
	Config *rest.Config
	// Targets is how many targets the driver is sized for in advance, and Interval their
	// shortest analysis interval (default 10 s): the least client rate limit when Config sets
	// none (see RateLimit). 0: DefaultQPS and DefaultBurst.
	Targets  int
	Interval time.Duration
	// DefaultRouter is the router of Canaries without spec.provider. Default: Linkerd's, an SMI
	// TrafficSplit (an HTTPRoute when the Canary has gatewayRefs).
	DefaultRouter flagger.Router
	// Router, when set, routes every Canary whatever its spec.provider says: for embedders with
	// a router of their own.
	Router canary.MeshRouter
	// NGINXAnnotationPrefix is the prefix of the canary annotations the NGINX router writes
	// (provider nginx), as ingress-nginx's --annotations-prefix sets it. Default
	// mesh.NGINXAnnotationPrefix, nginx.ingress.kubernetes.io.
	NGINXAnnotationPrefix string
	// Prometheus is the Prometheus API address of metrics without a MetricTemplate; a Canary's
	// spec.metricsServer overrides it. Required when such a Canary has metrics.
	Prometheus string
	// Metrics, when set, answers the metrics without a MetricTemplate instead of Prometheus
	// (Prometheus and spec.metricsServer are then not used): for embedders with a metrics
	// backend of their own, and for tests (kube/kubetest's WeightMetrics).
	Metrics canary.MetricProvider
	// Objects is where a Canary's metric templateRefs and alert providerRefs are looked up.
	// Default: the cluster's Flagger MetricTemplates and AlertProviders (ClusterObjects).
	Objects flagger.Source
	// Identity names this driver in the targets' Leases and in its holder leases (kube.Holders,
	// which renew the claims of its Targets and Releases). Default: the host name and a random suffix
	// (kube.NewIdentity), one per Lease and one for the holder leases.
	Identity string
	// LeaseDuration is a driver's claim on a target without renewal: whole seconds, from 1s
	// to less than kube.VouchedLeaseDuration. A claim not renewed within three quarters of it
	// counts as lost, and the target's release stops. Default kube.DefaultLeaseDuration.
	LeaseDuration time.Duration
	// WaitForLease makes a Release wait for a target driven by someone else instead of
	// failing. Targets always wait.
	WaitForLease bool
	// Recheck is how often an idle Target looks at its caches for a new revision besides its
	// Kicks; it makes no API request. Each recheck waits on to the next whole tenth of Recheck
	// (at most a second) on the wall clock, so that the rechecks of many targets wake the
	// process together. Default DefaultRecheck.
	Recheck time.Duration
	// MaxBootstraps is how many targets create their primary, Services and configs at once;
	// the others wait their turn. Default kube.DefaultMaxBootstraps; below 0, no limit (see
	// kube.Options.MaxBootstraps).
	MaxBootstraps int
	// HookTransport sends the webhooks' requests. Default: the webhook package's.
	HookTransport http.RoundTripper
	// OwnerReferences makes each target the owner of everything created for it (primary,
	// services, route objects), so deleting the target deletes them. Off by default (see
	// kube.WorkloadOptions.OwnerReferences).
	OwnerReferences bool
	// CanaryStatus keeps each target's status on its Flagger Canary object (c.Namespace/c.Name)
	// through the status subresource, as Flagger does, so `kubectl get canaries`, `kubectl wait
	// --for=condition=promoted` and kstatus-based health checks (Flux) see the releases, and a
	// new process resumes a release from there (see CanaryStore). The target's Lease stays the
	// lock. The releases' Kubernetes Events are recorded on the Canary object too, as Flagger
	// records them (reason CanaryEventReason; see Release), instead of on the target
	// Deployment. The Canary object must exist; a Canary loaded from a file has none: leave it
	// off, and the status is kept in the Lease.
	CanaryStatus bool
	// Unstaggered makes every tick of a release due one interval after the one before, from
	// the release's detection. By default the ticks fall on each target's own grid
	// (canary.Config.Stagger): targets released at once (a base image shared by all of them)
	// tick spread over the interval instead of together.
	Unstaggered bool
	// HTTP1Requests sends the driver's requests over HTTP/1.1, one at a time on each of up to
	// 100 connections per pool, instead of HTTP/2 (client-go's choice, one connection for all
	// of a pool's requests); the watches keep HTTP/2. One request after another, a request
	// costs the process about a fifth less CPU; at 1,000 targets on the test bed the saving
	// was within the runs' spread, with up to 259 connections open (PERFORMANCE.md, "The
	// driver's connections"). A Config whose TLSClientConfig.NextProtos is set keeps its protocols for
	// everything, and one without TLS (http://) speaks HTTP/1.1 whatever this says, 100
	// connections a pool too.
	HTTP1Requests bool
	// Events is how the targets' Kubernetes Events are written: their writers, queues, retries
	// and source (kube.EventsOptions; its defaults when zero).
	Events kube.EventsOptions
	// Logger receives every package's logs. Default: discard.
	Logger logr.Logger
	// Clock drives the analyses and the rechecks. Default: the real clock.
	Clock clock.Clock
}

// Driver holds what releases share: the clients, the informer caches, the routers (one per
// kind and version), the Prometheus clients (one per server and credentials), the webhook
// client and event recording. Safe for concurrent use; Close it when done.
type Driver struct {
	opts    Options
	config  *rest.Config // of the clients of custom resources (customConfig)
	conns   *connections // each client's (see connections)
	client  kubernetes.Interface
	cluster *kube.Cluster
	holders *kube.Holders // renew the claims of the Targets and Releases
	events  *kube.Events
	hooks   *webhook.Client
	routers *routers
	objects flagger.Source
	dyn     dynamic.Interface
	// canaries reads Canaries and writes their status as JSON (CanaryStore)
	canaries rest.Interface

	rate    *rateWatch
	limiter *clientLimiter // the clients' rate limit; nil: the embedder's, or none

	mu    sync.Mutex
	proms map[string]canary.MetricProvider // metric providers by promKey or datadogKey
}

// New checks opts and connects the clients; it makes no API request (caches start with the
// first target of a namespace).
func New(opts Options) (*Driver, error) {
	if opts.Config == nil {
		return nil, errors.New("driver: Options.Config is required")
	}
	var errs []error
	if d := opts.LeaseDuration; d != 0 && (d < time.Second || d%time.Second != 0 || d >= kube.VouchedLeaseDuration) {
		errs = append(errs, fmt.Errorf("Options.LeaseDuration %s: want whole seconds, from 1s to less than %s (a Lease declares seconds)",
			d, kube.VouchedLeaseDuration))
	}
	if opts.Targets < 0 {
		errs = append(errs, fmt.Errorf("Options.Targets %d is negative", opts.Targets))
	}
	if opts.Interval < 0 {
		errs = append(errs, fmt.Errorf("Options.Interval %s is negative", opts.Interval))
	}
	if opts.Recheck < 0 {
		errs = append(errs, fmt.Errorf("Options.Recheck %s is negative", opts.Recheck))
	}
	if k := opts.DefaultRouter.Kind; k != flagger.RouterDefault && !knownKind(k) {
		errs = append(errs, fmt.Errorf("Options.DefaultRouter: kind %q is not one canarykit drives", k))
	}
	if _, err := kube.ParseEventRecord(string(opts.Events.Record)); err != nil {
		errs = append(errs, fmt.Errorf("Options.Events.Record: %w", err))
	}
	if p := opts.NGINXAnnotationPrefix; p != "" && len(validation.IsDNS1123Subdomain(p)) > 0 {
		errs = append(errs, fmt.Errorf("Options.NGINXAnnotationPrefix %q is not a DNS subdomain", p))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("driver: %w", errors.Join(errs...))
	}
	if opts.Logger.GetSink() == nil {
		opts.Logger = logr.Discard()
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Recheck == 0 {
		opts.Recheck = DefaultRecheck
	}
	cfg := rest.CopyConfig(opts.Config)
	if opts.Interval == 0 {
		opts.Interval = 10 * time.Second
	}
	limiter, rate := rateLimits(cfg, opts)
	conns := &connections{http1: opts.HTTP1Requests}
	fail := func(err error) (*Driver, error) {
		conns.closeIdle()
		return nil, fmt.Errorf("driver: %w", err)
	}
	builtin := builtinConfig(cfg)
	hc, err := conns.open(builtin, requestPool)
	if err != nil {
		return fail(err)
	}
	client, err := kubernetes.NewForConfigAndClient(builtin, hc)
	if err != nil {
		return fail(err)
	}
	holders, err := kube.NewHolders(kube.HoldersOptions{Client: client, Identity: opts.Identity, Duration: opts.LeaseDuration, Logger: opts.Logger})
	if err != nil {
		return fail(err)
	}
	// the watches on a connection of their own, and without an overall timeout, which would cut
	// each watch short (Config.Timeout bounds every other request)
	watchConfig := rest.CopyConfig(builtin)
	watchConfig.Timeout = 0
	if hc, err = conns.open(watchConfig, watchPool); err != nil {
		return fail(err)
	}
	watch, err := kubernetes.NewForConfigAndClient(watchConfig, hc)
	if err != nil {
		return fail(err)
	}
	// KEDA ScaledObjects' watches (targets whose autoscalerRef is one) on the same connection
	watchDyn, err := dynamic.NewForConfigAndClient(customConfig(watchConfig), hc)
	if err != nil {
		return fail(err)
	}
	hooks, err := webhook.New(webhook.Options{Transport: opts.HookTransport, Logger: opts.Logger})
	if err != nil {
		return fail(err)
	}
	// each client of custom resources (these, and each router's) on a connection of its own
	cfg = customConfig(cfg)
	if hc, err = conns.open(cfg, requestPool); err != nil {
		return fail(err)
	}
	dyn, err := dynamic.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return fail(err)
	}
	if hc, err = conns.open(cfg, requestPool); err != nil {
		return fail(err)
	}
	canaries, err := canaryClient(cfg, hc)
	if err != nil {
		return fail(err)
	}
	cluster, err := kube.New(kube.Options{Client: client, WatchClient: watch, Dynamic: dyn, WatchDynamic: watchDyn, Logger: opts.Logger, Clock: opts.Clock, MaxBootstraps: opts.MaxBootstraps})
	if err != nil {
		return fail(err)
	}
	objects := opts.Objects
	if objects == nil {
		objects = ClusterObjects(dyn)
	}
	events, err := cluster.Events(opts.Events)
	if err != nil {
		cluster.Close()
		return fail(err)
	}
	d := &Driver{opts: opts, config: cfg, conns: conns, client: client, cluster: cluster, holders: holders, hooks: hooks, objects: objects, dyn: dyn, canaries: canaries,
		events: events, proms: map[string]canary.MetricProvider{}, rate: rate, limiter: limiter}
	d.routers = newRouters(d)
	return d, nil
}

// RateLimit returns the client rate limit now: with Options.Config setting none, the one that
// follows the running targets. With Config.RateLimiter of the embedder's: its QPS and
// Config.Burst; with no limit (QPS below 0): Config.QPS and Burst.
func (d *Driver) RateLimit() (qps float32, burst int) {
	if d.limiter != nil {
		return d.limiter.limits()
	}
	if d.config.RateLimiter != nil {
		return d.config.RateLimiter.QPS(), d.config.Burst
	}
	return d.config.QPS, d.config.Burst
}

// Throttled returns how many of the driver's requests have waited for the client rate limit
// (client-side throttling). 0 with Config.RateLimiter of the embedder's, which the driver does
// not see, and with no limit.
func (d *Driver) Throttled() int64 {
	if d.limiter == nil {
		return 0
	}
	return d.limiter.Waited()
}

// EventsDropped returns how many of the targets' Kubernetes Events were not written (see
// kube.Events.Dropped).
func (d *Driver) EventsDropped() int64 { return d.events.Dropped() }

// Client returns the Driver's Kubernetes client.
func (d *Driver) Client() kubernetes.Interface { return d.client }

// OnDeployment calls fn with the namespace and name of every Deployment (and, where a target
// is a DaemonSet, every DaemonSet) added or updated in the namespaces of the Driver's targets,
// from the informer caches the targets read (no watch or decoding of its own), until remove is
// called: a controller kicks its Targets with it.
// fn must not block. See kube.Cluster.OnDeployment.
func (d *Driver) OnDeployment(fn func(namespace, name string)) (remove func()) {
	return d.cluster.OnDeployment(fn)
}

// Close stops the informers and the event recorder, waits for the informers to end, and closes
// the clients' idle connections. Releases and Targets must have returned, and it must not be
// called from an OnDeployment callback (an informer's, which it waits for).
func (d *Driver) Close() {
	d.events.Shutdown()
	d.cluster.Close()
	d.conns.closeIdle()
}
