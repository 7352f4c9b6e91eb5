package kube

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	autoscalinglisters "k8s.io/client-go/listers/autoscaling/v2"
	corelisters "k8s.io/client-go/listers/core/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
)

// Options configures a Cluster. Zero fields mean "default".
type Options struct {
	// Client talks to the API server. Required.
	Client kubernetes.Interface
	// Dynamic reads and writes KEDA ScaledObjects (WorkloadOptions.AutoscalerKind
	// ScaledObject): needed only by targets that have one.
	Dynamic dynamic.Interface
	// WatchDynamic lists and watches ScaledObjects for their caches. Default: Dynamic.
	WatchDynamic dynamic.Interface
	// WatchClient lists and watches for the informer caches and the Lease watch (Controls).
	// Default: Client. client-go sends all the requests of clients with the same TLS
	// settings over one HTTP/2 connection; a WatchClient over a connection of its own keeps
	// the watches' stream of events (every status update of every Deployment of the
	// namespaces) apart from the requests (kube/driver's Driver does this).
	WatchClient kubernetes.Interface
	// Resync is the informers' resync period. Default 0 (no resync: watches keep caches fresh).
	Resync time.Duration
	// Logger receives structured logs. Default: discard.
	Logger logr.Logger
	// Clock judges how long a Deployment has been unavailable. Default: the real clock.
	Clock clock.PassiveClock
	// SyncTimeout bounds the first sync of a namespace's caches. Default 1m.
	SyncTimeout time.Duration
	// MaxBootstraps is how many targets create their objects at once (Workload.Bootstrap: the
	// primary, its configs, three Services, the autoscaler); the others wait their turn. A
	// thousand targets starting together would otherwise send thousands of creations at once,
	// and an API server that times them out (a Service's creation also allocates its cluster
	// IP) is offered them again at every retry. Default DefaultMaxBootstraps; below 0, no
	// limit.
	MaxBootstraps int
	// ReleaseDelay is how long a namespace's caches and watch of control requests outlive its
	// last retention (Retain): a retention taken again meanwhile (the next Release of a CLI
	// run, a Target replaced, a retirement after its Target) keeps them, where stopping at
	// once would list the namespace again. Default DefaultReleaseDelay; below 0, at once.
	ReleaseDelay time.Duration
}

// DefaultReleaseDelay is Options.ReleaseDelay's default.
const DefaultReleaseDelay = time.Minute

// DefaultMaxBootstraps is Options.MaxBootstraps' default.
const DefaultMaxBootstraps = 16

// Cluster holds what every target in a cluster shares: the client and, per namespace, the
// informer caches that serve the reads made on every tick (deployments, services, configmaps,
// secrets, autoscalers; Ingresses for the NGINX router, CachedIngress), and the watch of
// control requests (Controls). Caches for a namespace start on first use and stop with Close,
// or when the last Retain of their namespace is released.
type Cluster struct {
	client      kubernetes.Interface
	watch       kubernetes.Interface // the informers' and the Lease watch's (Options.WatchClient)
	dynamic     dynamic.Interface    // ScaledObjects' (Options.Dynamic); nil: none
	watchDyn    dynamic.Interface    // their informers' (Options.WatchDynamic)
	resync      time.Duration
	log         logr.Logger
	clock       clock.PassiveClock
	syncTimeout time.Duration

	onDeploy atomic.Pointer[[]*deploymentHandler] // OnDeployment's, copied on write

	bootstraps chan struct{} // a token per Bootstrap running; nil: no limit

	mu       sync.Mutex
	caches   map[string]*nsCache
	controls map[string]*controlWatch // per namespace, see Controls
	retained map[string]int           // Retain's count per namespace
	stop     chan struct{}
	closed   bool
	// running counts the Lease watches' and ScaledObjects' informers and the shutdowns of
	// released namespaces' factories (the caches' informers are their factories')
	running sync.WaitGroup
	// releaseDelay is Options.ReleaseDelay; releasing holds, per namespace released and not
	// yet stopped, the timer that stops it
	releaseDelay time.Duration
	releasing    map[string]*time.Timer
}

// nsCache is one namespace's informers and listers.
type nsCache struct {
	stop        chan struct{} // closed when the namespace is released, or by Close
	factory     informers.SharedInformerFactory
	deployments appslisters.DeploymentLister
	services    corelisters.ServiceLister
	configMaps  corelisters.ConfigMapLister
	secrets     corelisters.SecretLister
	hpas        autoscalinglisters.HorizontalPodAutoscalerLister // nil until a target has an autoscaler
	daemonSets  appslisters.DaemonSetLister                      // nil until a target is a DaemonSet
	// scaledObjects are KEDA's ScaledObjects (unstructured), nil until a target has one
	scaledObjects cache.GenericNamespaceLister
	synced        []cache.InformerSynced
	// ingresses are the NGINX router's (CachedIngress), nil until it asks; no read waits for
	// their sync, so they are not in synced
	ingresses       networkinglisters.IngressLister
	ingressesSynced cache.InformerSynced

	mu        sync.Mutex
	watchErrs map[string]string // resource → last list/watch error
}

// New returns a Cluster over opts.Client. It makes no API request until a namespace is used.
func New(opts Options) (*Cluster, error) {
	if opts.Client == nil {
		return nil, fmt.Errorf("kube: Options.Client is required")
	}
	log := opts.Logger
	if log.GetSink() == nil {
		log = logr.Discard()
	}
	clk := opts.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	if opts.SyncTimeout <= 0 {
		opts.SyncTimeout = time.Minute
	}
	if opts.WatchClient == nil {
		opts.WatchClient = opts.Client
	}
	if opts.WatchDynamic == nil {
		opts.WatchDynamic = opts.Dynamic
	}
	c := &Cluster{client: opts.Client, watch: opts.WatchClient, dynamic: opts.Dynamic, watchDyn: opts.WatchDynamic, resync: opts.Resync, log: log, clock: clk, syncTimeout: opts.SyncTimeout,
		caches: map[string]*nsCache{}, controls: map[string]*controlWatch{}, retained: map[string]int{}, stop: make(chan struct{})}
	if opts.MaxBootstraps == 0 {
		opts.MaxBootstraps = DefaultMaxBootstraps
	}
	c.releaseDelay, c.releasing = opts.ReleaseDelay, map[string]*time.Timer{}
	if c.releaseDelay == 0 {
		c.releaseDelay = DefaultReleaseDelay
	}
	if opts.MaxBootstraps > 0 {
		c.bootstraps = make(chan struct{}, opts.MaxBootstraps)
	}
	return c, nil
}

// bootstrapTurn waits until fewer than Options.MaxBootstraps bootstraps run, or ctx ends; done
// gives the turn back.
func (c *Cluster) bootstrapTurn(ctx context.Context) (done func(), err error) {
	if c.bootstraps == nil {
		return func() {}, nil
	}
	select {
	case c.bootstraps <- struct{}{}:
		return func() { <-c.bootstraps }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Client returns the Cluster's client.
func (c *Cluster) Client() kubernetes.Interface { return c.client }

// deploymentHandler is one function given to OnDeployment.
type deploymentHandler struct {
	fn      func(namespace, name string)
	removed atomic.Bool // set by remove: an event given out from an older list skips it
}

// OnDeployment calls fn with the namespace and name of every Deployment added or updated in
// a namespace whose caches run (they start with the first target of the namespace, and a
// namespace started later is included), and of every DaemonSet added or updated in a
// namespace whose DaemonSets are cached (from its first DaemonSet target), until remove is
// called. The calls come from the
// caches' own watches, one goroutine per namespace: fn must not block. It makes no request.
// fn may call back into the Cluster (remove included: no lock is held while it runs); a call
// already under way when remove is called may still end after remove returns, and none starts
// after that.
func (c *Cluster) OnDeployment(fn func(namespace, name string)) (remove func()) {
	h := &deploymentHandler{fn: fn}
	c.mu.Lock()
	defer c.mu.Unlock()
	var list []*deploymentHandler
	if cur := c.onDeploy.Load(); cur != nil {
		list = slices.Clone(*cur)
	}
	list = append(list, h)
	c.onDeploy.Store(&list)
	return func() {
		h.removed.Store(true)
		c.mu.Lock()
		defer c.mu.Unlock()
		cur := c.onDeploy.Load()
		if cur == nil {
			return
		}
		list := slices.DeleteFunc(slices.Clone(*cur), func(x *deploymentHandler) bool { return x == h })
		c.onDeploy.Store(&list)
	}
}

// deploymentChanged gives a Deployment or DaemonSet event of the caches to the OnDeployment
// functions.
func (c *Cluster) deploymentChanged(obj any) {
	list := c.onDeploy.Load()
	if list == nil {
		return
	}
	var m *metav1.ObjectMeta
	switch d := obj.(type) {
	case *appsv1.Deployment:
		m = &d.ObjectMeta
	case *appsv1.DaemonSet:
		m = &d.ObjectMeta
	default:
		return
	}
	for _, h := range *list {
		if !h.removed.Load() {
			h.fn(m.Namespace, m.Name)
		}
	}
}

// Close stops every informer and waits for them to end, their watches with them: it must not
// be called from an informer's handler (an OnDeployment callback, say), which it would wait
// for.
func (c *Cluster) Close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.stop)
		for _, t := range c.releasing {
			t.Stop()
		}
		for _, nc := range c.caches {
			close(nc.stop)
		}
		for _, cw := range c.controls {
			close(cw.stop)
		}
	}
	factories := make([]informers.SharedInformerFactory, 0, len(c.caches))
	for _, nc := range c.caches {
		factories = append(factories, nc.factory)
	}
	c.mu.Unlock()
	for _, f := range factories {
		f.Shutdown()
	}
	c.running.Wait()
}

// extraCaches says which caches a target needs besides the namespace's others (a set of bits).
type extraCaches int

const (
	noExtras    extraCaches = 0
	hpaScalers  extraCaches = 1 << iota // HorizontalPodAutoscalers
	kedaScalers                         // KEDA ScaledObjects
	daemonSets                          // DaemonSets (targets of that kind and their primaries)
)

// namespace returns ns's caches (with the informers extras names), starting them
// and waiting for their first sync, for at most the Cluster's SyncTimeout: an identity that may
// not list or watch one of them gets an error naming it, not a silent wait. The ScaledObjects'
// informer starts after one list has shown that the cluster serves them (see
// probeScaledObjects).
func (c *Cluster) namespace(ctx context.Context, ns string, extras extraCaches) (*nsCache, error) {
	withHPA := extras&hpaScalers != 0
	withKEDA := extras&kedaScalers != 0
	withDS := extras&daemonSets != 0
	if withKEDA {
		c.mu.Lock()
		nc := c.caches[ns]
		started := nc != nil && nc.scaledObjects != nil
		c.mu.Unlock()
		if !started {
			if err := c.probeScaledObjects(ctx, ns); err != nil {
				return nil, err
			}
		}
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, fmt.Errorf("kube: cluster closed")
	}
	nc, ok := c.caches[ns]
	if !ok {
		f := informers.NewSharedInformerFactoryWithOptions(c.watch, c.resync, informers.WithNamespace(ns),
			informers.WithTransform(trimCached))
		nc = &nsCache{
			stop:        make(chan struct{}),
			factory:     f,
			deployments: f.Apps().V1().Deployments().Lister(),
			services:    f.Core().V1().Services().Lister(),
			configMaps:  f.Core().V1().ConfigMaps().Lister(),
			secrets:     f.Core().V1().Secrets().Lister(),
			watchErrs:   map[string]string{},
		}
		nc.watch("deployments", f.Apps().V1().Deployments().Informer())
		_, _ = f.Apps().V1().Deployments().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    c.deploymentChanged,
			UpdateFunc: func(_, obj any) { c.deploymentChanged(obj) },
		})
		nc.watch("services", f.Core().V1().Services().Informer())
		nc.watch("configmaps", f.Core().V1().ConfigMaps().Informer())
		nc.watch("secrets", f.Core().V1().Secrets().Informer())
		c.caches[ns] = nc
	}
	if ok && (!withHPA || nc.hpas != nil) && (!withKEDA || nc.scaledObjects != nil) && (!withDS || nc.daemonSets != nil) && nc.allSynced() {
		c.mu.Unlock() // the common case, on every read: started and synced
		return nc, nil
	}
	if withHPA && nc.hpas == nil {
		nc.hpas = nc.factory.Autoscaling().V2().HorizontalPodAutoscalers().Lister()
		nc.watch("horizontalpodautoscalers", nc.factory.Autoscaling().V2().HorizontalPodAutoscalers().Informer())
	}
	if withDS && nc.daemonSets == nil {
		inf := nc.factory.Apps().V1().DaemonSets()
		nc.daemonSets = inf.Lister()
		nc.watch("daemonsets", inf.Informer())
		_, _ = inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    c.deploymentChanged,
			UpdateFunc: func(_, obj any) { c.deploymentChanged(obj) },
		})
	}
	if withKEDA && nc.scaledObjects == nil {
		inf := dynamicinformer.NewFilteredDynamicInformer(c.watchDyn, scaledObjectsGVR, ns, c.resync,
			cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}, nil)
		_ = inf.Informer().SetTransform(trimCached)
		nc.watch("scaledobjects.keda.sh", inf.Informer())
		nc.scaledObjects = inf.Lister().ByNamespace(ns)
		c.running.Add(1)
		go func() {
			defer c.running.Done()
			inf.Informer().Run(nc.stop)
		}()
	}
	nc.factory.Start(nc.stop) // starts the informers not started yet
	synced := append([]cache.InformerSynced(nil), nc.synced...)
	c.mu.Unlock()
	sctx, cancel := context.WithTimeout(ctx, c.syncTimeout)
	defer cancel()
	if !waitSynced(sctx, nc.stop, synced...) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if isClosed(nc.stop) {
			return nil, fmt.Errorf("kube: caches of namespace %s stopped before they synced (namespace released, or cluster closed)", ns)
		}
		return nil, fmt.Errorf("kube: caches of namespace %s did not sync within %s%s", ns, c.syncTimeout, nc.errors())
	}
	return nc, nil
}

// stripManagedFields drops an object's managedFields before it is cached: no reader uses
// them, and they are a large share of what the caches would hold. An update of a cached object
// carries none, and the API server keeps the live object's.
func stripManagedFields(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil && m.GetManagedFields() != nil {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

// allSynced reports whether every informer of nc has synced; the Cluster's mu is held.
func (nc *nsCache) allSynced() bool {
	for _, synced := range nc.synced {
		if !synced() {
			return false
		}
	}
	return true
}

// watch registers an informer's sync, which every read of the namespace waits for, and records
// its list/watch failures, which a sync that does not come reports.
func (nc *nsCache) watch(resource string, inf cache.SharedIndexInformer) {
	nc.synced = append(nc.synced, inf.HasSynced)
	_ = inf.SetWatchErrorHandler(func(r *cache.Reflector, err error) {
		nc.mu.Lock()
		nc.watchErrs[resource] = err.Error()
		nc.mu.Unlock()
		cache.DefaultWatchErrorHandler(context.Background(), r, err)
	})
}

func (nc *nsCache) errors() string {
	nc.mu.Lock()
	defer nc.mu.Unlock()
	var parts []string
	for _, r := range slices.Sorted(maps.Keys(nc.watchErrs)) {
		parts = append(parts, r+": "+nc.watchErrs[r])
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

// waitSynced waits for the informers' first sync, or for ctx or stop to end the wait.
func waitSynced(ctx context.Context, stop <-chan struct{}, synced ...cache.InformerSynced) bool {
	abort, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(abort)
		select {
		case <-ctx.Done():
		case <-stop:
		case <-done:
		}
	}()
	defer close(done)
	return cache.WaitForCacheSync(abort, synced...)
}

// Cached reads.
func (nc *nsCache) deployment(ns, name string) (*appsv1.Deployment, error) {
	return nc.deployments.Deployments(ns).Get(name)
}

// daemonSet reads a DaemonSet; the namespace's DaemonSets are cached only once one of its
// targets is a DaemonSet (a NotFound error until then).
func (nc *nsCache) daemonSet(ns, name string) (*appsv1.DaemonSet, error) {
	if nc.daemonSets == nil {
		return nil, apierrors.NewNotFound(appsv1.Resource("daemonsets"), name)
	}
	return nc.daemonSets.DaemonSets(ns).Get(name)
}

func (nc *nsCache) service(ns, name string) (*corev1.Service, error) {
	return nc.services.Services(ns).Get(name)
}

func (nc *nsCache) hpa(ns, name string) (*autoscalingv2.HorizontalPodAutoscaler, error) {
	return nc.hpas.HorizontalPodAutoscalers(ns).Get(name)
}
