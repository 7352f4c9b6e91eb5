package kube

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	autoscalinglisters "k8s.io/client-go/listers/autoscaling/v2"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
)

// Options configures a Cluster. Zero fields mean "default".
type Options struct {
	// Client talks to the API server. Required.
	Client kubernetes.Interface
	// Resync is the informers' resync period. Default 0 (no resync: watches keep caches fresh).
	Resync time.Duration
	// Logger receives structured logs. Default: discard.
	Logger logr.Logger
	// Clock judges how long a Deployment has been unavailable. Default: the real clock.
	Clock clock.PassiveClock
}

// Cluster holds what every target in a cluster shares: the client and, per namespace, the
// informer caches that serve the reads made on every tick (deployments, services, configmaps,
// secrets, autoscalers). Caches for a namespace start on first use and stop with Close.
type Cluster struct {
	client kubernetes.Interface
	resync time.Duration
	log    logr.Logger
	clock  clock.PassiveClock

	mu     sync.Mutex
	caches map[string]*nsCache
	stop   chan struct{}
	closed bool
}

// nsCache is one namespace's informers and listers.
type nsCache struct {
	factory     informers.SharedInformerFactory
	deployments appslisters.DeploymentLister
	services    corelisters.ServiceLister
	configMaps  corelisters.ConfigMapLister
	secrets     corelisters.SecretLister
	hpas        autoscalinglisters.HorizontalPodAutoscalerLister
	synced      []cache.InformerSynced
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
	return &Cluster{client: opts.Client, resync: opts.Resync, log: log, clock: clk,
		caches: map[string]*nsCache{}, stop: make(chan struct{})}, nil
}

// Client returns the Cluster's client.
func (c *Cluster) Client() kubernetes.Interface { return c.client }

// Close stops every informer.
func (c *Cluster) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		close(c.stop)
	}
}

// namespace returns ns's caches, starting them and waiting for their first sync.
func (c *Cluster) namespace(ctx context.Context, ns string) (*nsCache, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, fmt.Errorf("kube: cluster closed")
	}
	nc, ok := c.caches[ns]
	if !ok {
		f := informers.NewSharedInformerFactoryWithOptions(c.client, c.resync, informers.WithNamespace(ns))
		nc = &nsCache{
			factory:     f,
			deployments: f.Apps().V1().Deployments().Lister(),
			services:    f.Core().V1().Services().Lister(),
			configMaps:  f.Core().V1().ConfigMaps().Lister(),
			secrets:     f.Core().V1().Secrets().Lister(),
			hpas:        f.Autoscaling().V2().HorizontalPodAutoscalers().Lister(),
		}
		for _, inf := range []cache.SharedIndexInformer{
			f.Apps().V1().Deployments().Informer(), f.Core().V1().Services().Informer(),
			f.Core().V1().ConfigMaps().Informer(), f.Core().V1().Secrets().Informer(),
			f.Autoscaling().V2().HorizontalPodAutoscalers().Informer(),
		} {
			nc.synced = append(nc.synced, inf.HasSynced)
		}
		f.Start(c.stop)
		c.caches[ns] = nc
	}
	c.mu.Unlock()
	if !waitSynced(ctx, c.stop, nc.synced...) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("kube: caches of namespace %s did not sync", ns)
	}
	return nc, nil
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

func (nc *nsCache) service(ns, name string) (*corev1.Service, error) {
	return nc.services.Services(ns).Get(name)
}

func (nc *nsCache) hpa(ns, name string) (*autoscalingv2.HorizontalPodAutoscaler, error) {
	return nc.hpas.HorizontalPodAutoscalers(ns).Get(name)
}
