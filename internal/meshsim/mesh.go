package meshsim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/canarykit/canarykit/internal/testenv/linkerdexp"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrInvalidOptions: New refused its Options.
	ErrInvalidOptions = errors.New("invalid mesh options")
	// ErrInvalidBehavior: a Behavior is out of range.
	ErrInvalidBehavior = errors.New("invalid behavior")
	// ErrUnknownService: a request named a Service the namespace does not have (in a cluster,
	// the DNS lookup would fail).
	ErrUnknownService = errors.New("no such service")
	// ErrNoPort: the Service has no such port (in a cluster, the connection would be refused).
	ErrNoPort = errors.New("service has no such port")
	// ErrClosed: the mesh is closed.
	ErrClosed = errors.New("mesh closed")
)

// Options configure a Mesh. Config and Namespace are required.
type Options struct {
	// Config reaches the API server whose Services, Deployments, pods and route objects the
	// mesh follows.
	Config *rest.Config
	// Namespace is the namespace the mesh serves: requests to <service>.<Namespace> are routed.
	Namespace string
	// Aliases are other names requests may use for Namespace: with Aliases ["test"], the
	// demo manifests' http://podinfo-canary.test:9898/ reaches the test's own namespace.
	Aliases []string
	// Versions gives the Behavior of app versions, keyed by image tag ("3.1.1") or whole image
	// reference; SetVersion changes them later. Versions not listed are healthy.
	Versions map[string]Behavior
	// Exporter records every request a pod answers, as the pod's Linkerd proxy would; give it
	// the exporter Prometheus scrapes (testenv.SharedPrometheus). Default: a new one.
	Exporter *linkerdexp.Exporter
	// Logger receives route table changes and backend servers starting. Default: discard.
	Logger logr.Logger
}

// Mesh is a simulated Linkerd data plane for one namespace. Safe for concurrent use.
type Mesh struct {
	ns       string
	aliases  map[string]bool
	log      logr.Logger
	exporter *linkerdexp.Exporter
	formats  *formats // Istio's and ingress-nginx's series
	detach   func()   // from the exporter
	versions versions
	meter    meter

	cancel       context.CancelFunc
	factory      informers.SharedInformerFactory
	dynFactory   dynamicinformer.DynamicSharedInformerFactory
	services     corelisters.ServiceNamespaceLister
	pods         corelisters.PodNamespaceLister
	deployments  appslisters.DeploymentNamespaceLister
	routeListers map[string]cache.GenericNamespaceLister // by resource
	ingresses    networkinglisters.IngressNamespaceLister
	ingressPick  sync.Map // pickerKey → *picker, per canary Ingress version
	eps          endpointCache

	tableMu sync.Mutex // serializes rebuilds
	table   atomic.Pointer[routeTable]

	upstream    *http.Transport // to the backend servers
	passthrough *http.Transport // to hosts outside the mesh

	serversMu  sync.Mutex
	closed     bool
	backends   map[string]*loopServer // by Deployment
	extras     map[string]*loopServer // ServeService, by Service name
	listeners  []*loopServer
	loads      []*Load
	background map[string]bool // commands running in the background, by canary and command
	running    sync.WaitGroup  // background commands
	bg         context.Context // ends when the mesh closes: bounds commands
	stopBg     context.CancelFunc
	closeOnce  sync.Once
}

var _ http.RoundTripper = (*Mesh)(nil)

// Start starts a Mesh for one test and closes it when the test ends.
func Start(t testing.TB, opts Options) *Mesh {
	t.Helper()
	if opts.Logger.GetSink() == nil {
		opts.Logger = testr.NewWithInterface(t, testr.Options{})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := New(ctx, opts)
	if err != nil {
		t.Fatalf("start simulated mesh: %v", err)
	}
	t.Cleanup(m.Close)
	return m
}

// New starts a Mesh: it watches the namespace's Services, Deployments and pods, and the route
// objects of whichever API versions the server serves (SMI TrafficSplit and HTTPRouteGroup,
// Gateway API HTTPRoute; a missing CRD means no route objects of that kind), and returns once
// its caches are filled. Install the CRDs before calling New. The caller must Close it.
func New(ctx context.Context, opts Options) (*Mesh, error) {
	var p []string
	if opts.Config == nil {
		p = append(p, "Config is required")
	}
	if opts.Namespace == "" {
		p = append(p, "Namespace is required")
	}
	var vs versions
	for k, b := range opts.Versions {
		if err := vs.set(k, b); err != nil {
			p = append(p, err.Error())
		}
	}
	if len(p) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrInvalidOptions, strings.Join(p, "; "))
	}
	m := &Mesh{
		ns: opts.Namespace, aliases: map[string]bool{opts.Namespace: true}, log: opts.Logger,
		exporter: opts.Exporter, backends: map[string]*loopServer{}, extras: map[string]*loopServer{},
		routeListers: map[string]cache.GenericNamespaceLister{}, background: map[string]bool{},
	}
	m.bg, m.stopBg = context.WithCancel(context.Background())
	m.versions.byKey = vs.byKey
	for _, a := range opts.Aliases {
		m.aliases[a] = true
	}
	if m.log.GetSink() == nil {
		m.log = logr.Discard()
	}
	if m.exporter == nil {
		m.exporter = linkerdexp.New(linkerdexp.Options{})
	}
	m.formats = newFormats(m.ns)
	m.detach = m.exporter.Attach(m.formats)
	m.upstream = &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: 30 * time.Second}
	m.passthrough = http.DefaultTransport.(*http.Transport).Clone()
	m.table.Store(&routeTable{})
	if err := m.watch(ctx, opts.Config); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// watch starts the informers and waits for their caches.
func (m *Mesh) watch(ctx context.Context, cfg *rest.Config) error {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("dynamic client: %w", err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return fmt.Errorf("discovery client: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.factory = informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(m.ns))
	m.dynFactory = dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, m.ns, nil)

	changed := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { m.eps.changes.Add(1) },
		UpdateFunc: func(any, any) { m.eps.changes.Add(1) },
		DeleteFunc: func(any) { m.eps.changes.Add(1) },
	}
	svcs, pods, deps := m.factory.Core().V1().Services(), m.factory.Core().V1().Pods(), m.factory.Apps().V1().Deployments()
	m.ingresses = m.factory.Networking().V1().Ingresses().Lister().Ingresses(m.ns)
	m.services, m.pods, m.deployments = svcs.Lister().Services(m.ns), pods.Lister().Pods(m.ns), deps.Lister().Deployments(m.ns)
	for _, inf := range []cache.SharedIndexInformer{svcs.Informer(), pods.Informer()} {
		if _, err := inf.AddEventHandler(changed); err != nil {
			return fmt.Errorf("watch: %w", err)
		}
	}
	depHandler := changed
	depHandler.DeleteFunc = func(obj any) { m.eps.changes.Add(1); m.deploymentDeleted(obj) }
	if _, err := deps.Informer().AddEventHandler(depHandler); err != nil {
		return fmt.Errorf("watch deployments: %w", err)
	}

	rebuild := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { m.rebuild() },
		UpdateFunc: func(any, any) { m.rebuild() },
		DeleteFunc: func(any) { m.rebuild() },
	}
	for _, r := range []struct{ group, resource string }{{splitGroup, trafficSplits}, {specsGroup, routeGroups}, {gatewayGroup, httpRoutes}, {istioGroup, virtualServices}} {
		version, err := servedVersion(disc, r.group, r.resource)
		if err != nil {
			return err
		}
		if version == "" {
			m.log.Info("route objects not served, not watched", "group", r.group, "resource", r.resource)
			continue
		}
		gen := m.dynFactory.ForResource(schema.GroupVersionResource{Group: r.group, Version: version, Resource: r.resource})
		if _, err := gen.Informer().AddEventHandler(rebuild); err != nil {
			return fmt.Errorf("watch %s: %w", r.resource, err)
		}
		m.routeListers[r.resource] = gen.Lister().ByNamespace(m.ns)
		m.log.Info("watching route objects", "group", r.group, "version", version, "resource", r.resource)
	}
	m.factory.Start(runCtx.Done())
	m.dynFactory.Start(runCtx.Done())
	for typ, ok := range m.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("sync %v cache: %w", typ, context.Cause(ctx))
		}
	}
	for gvr, ok := range m.dynFactory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("sync %v cache: %w", gvr, context.Cause(ctx))
		}
	}
	m.rebuild()
	return nil
}

// servedVersion returns the preferred version in which the server serves group's resource,
// or "" when it does not serve it.
func servedVersion(disc discovery.DiscoveryInterface, group, resource string) (string, error) {
	groups, err := disc.ServerGroups()
	if err != nil {
		return "", fmt.Errorf("discover API groups: %w", err)
	}
	for _, g := range groups.Groups {
		if g.Name != group {
			continue
		}
		versions := []string{g.PreferredVersion.Version}
		for _, v := range g.Versions {
			versions = append(versions, v.Version)
		}
		for _, v := range versions {
			res, err := disc.ServerResourcesForGroupVersion(group + "/" + v)
			if err != nil {
				continue
			}
			for _, r := range res.APIResources {
				if r.Name == resource {
					return v, nil
				}
			}
		}
	}
	return "", nil
}

// rebuild recompiles the route table from the informers' caches.
func (m *Mesh) rebuild() {
	m.tableMu.Lock()
	defer m.tableMu.Unlock()
	list := func(resource string) []*unstructured.Unstructured {
		l := m.routeListers[resource]
		if l == nil {
			return nil
		}
		objs, _ := l.List(labels.Everything())
		out := make([]*unstructured.Unstructured, 0, len(objs))
		for _, o := range objs {
			if u, ok := o.(*unstructured.Unstructured); ok {
				out = append(out, u)
			}
		}
		return out
	}
	t := compileTable(m.ns, list(trafficSplits), list(routeGroups), list(httpRoutes), list(virtualServices), m.table.Load(),
		func(obj *unstructured.Unstructured, err error) {
			m.log.Error(err, "route object ignored in part or whole", "kind", obj.GetKind(), "name", obj.GetName())
		})
	m.table.Store(t)
	m.log.V(1).Info("route table rebuilt", "splits", len(t.splits), "httpRouteParents", len(t.http))
}

// Close stops the loads and commands the mesh runs, its informers and its servers. It is safe
// to call more than once.
func (m *Mesh) Close() {
	m.closeOnce.Do(func() {
		m.serversMu.Lock()
		m.closed = true
		loads := m.loads
		m.serversMu.Unlock()
		m.stopBg()
		for _, l := range loads {
			l.Stop()
		}
		m.running.Wait()
		if m.cancel != nil {
			m.cancel()
			m.factory.Shutdown()
			m.dynFactory.Shutdown()
		}
		m.serversMu.Lock()
		servers := append(append(slicesOf(m.backends), slicesOf(m.extras)...), m.listeners...)
		m.backends, m.extras, m.listeners = map[string]*loopServer{}, map[string]*loopServer{}, nil
		m.serversMu.Unlock()
		for _, s := range servers {
			s.close()
		}
		if m.detach != nil {
			m.detach()
		}
		m.upstream.CloseIdleConnections()
		m.passthrough.CloseIdleConnections()
	})
}

func slicesOf(m map[string]*loopServer) []*loopServer {
	out := make([]*loopServer, 0, len(m))
	for _, s := range m {
		out = append(out, s)
	}
	return out
}

// Namespace is the namespace the mesh serves.
func (m *Mesh) Namespace() string { return m.ns }

// Exporter is the exporter that records the pods' answers.
func (m *Mesh) Exporter() *linkerdexp.Exporter { return m.exporter }

// SetVersion sets the Behavior of an app version, keyed by image tag or whole image
// reference, from the next request on: set it before the release that deploys the version.
func (m *Mesh) SetVersion(key string, b Behavior) error { return m.versions.set(key, b) }

// Client returns an HTTP client whose requests go through the mesh (see RoundTrip). It has
// no timeout: bound requests with their context.
func (m *Mesh) Client() *http.Client { return &http.Client{Transport: m} }

// Traffic returns a snapshot of the request counts so far.
func (m *Mesh) Traffic() Traffic { return m.meter.snapshot(time.Now()) }

// Endpoints returns the ready pods service sends requests to, as the mesh sees them now, and
// whether the Service exists. Tests poll it to wait for pods to become reachable.
func (m *Mesh) Endpoints(service string) ([]Endpoint, bool) {
	eps, ok := m.endpoints(service)
	return append([]Endpoint(nil), eps...), ok
}

// Weights returns the route object version a plain request to service (GET /, no headers)
// follows now and the weight of each backend Service in it (nil with no route object, or a
// rule without backends): what the data plane has seen of the route objects so far. Tests
// poll it to wait for a weight change to arrive.
func (m *Mesh) Weights(service string) (Route, map[string]float64) {
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	rt := m.table.Load().lookup(service, 0, req)
	if rt.picker == nil {
		return rt.route, nil
	}
	w := map[string]float64{}
	for _, b := range rt.picker.declared {
		w[b.service] += float64(b.milli) / 1000
	}
	return rt.route, w
}
