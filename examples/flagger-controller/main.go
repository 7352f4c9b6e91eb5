package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube"
	"github.com/canarykit/canarykit/kube/driver"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/mesh"
	"github.com/canarykit/canarykit/metrics/selfmetrics"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"
)

// Client rate limits. The driver's client makes a release's writes and the reads its caches
// miss, and runs the informer caches of the targets' namespaces (whose Deployment events also
// kick the Targets): with --kube-api-qps and --kube-api-burst at 0 its limit follows the
// running Canaries (driver.RateLimit of them, never below driver.DefaultQPS, 50/s, burst 100),
// so that a controller of a thousand Canaries does not throttle itself; a value is a fixed
// limit. The watch client (the Canary informer, finalizers, the controller's own Events on
// Canaries: Invalid, Terminating; the releases' Events are the driver's) makes a few requests
// per Canary change: 5/s, burst 10, on its own limiter so that it never waits behind the
// releases.
const (
	watchQPS   = 5
	watchBurst = 10
)

// Options configure the controller. Zero fields mean "default".
type Options struct {
	// Config reaches the cluster. Required. Its QPS, Burst and RateLimiter limit the driver's
	// requests as driver.Options.Config's do: all unset, the limit follows the running
	// Canaries.
	Config *rest.Config
	// Namespace is the namespace watched; "" watches every namespace.
	Namespace string
	// Prometheus is the address of metrics without a MetricTemplate or spec.metricsServer.
	Prometheus string
	// Router is the route kind of Canaries without spec.provider, as Flagger's -mesh-provider
	// sets it: smi, httproute, istio, nginx or kubernetes ("": Linkerd's, smi).
	Router string
	// IngressAnnotationsPrefix is the prefix of the canary annotations of Canaries with
	// provider nginx, as ingress-nginx's --annotations-prefix sets it (default
	// nginx.ingress.kubernetes.io).
	IngressAnnotationsPrefix string
	// Identity names this replica in the targets' Leases. Default: the host name and the
	// process id.
	Identity string
	// LeaseDuration is a replica's claim on a Canary's target without renewal: when a replica
	// dies, its Canaries continue on the others within it. Default kube.DefaultLeaseDuration.
	LeaseDuration time.Duration
	// Recheck is how often idle targets look at their caches for a new revision.
	Recheck time.Duration
	// HTTP1Requests sends the driver's requests over HTTP/1.1 (driver.Options.HTTP1Requests):
	// less CPU per request, up to 100 connections per pool.
	HTTP1Requests bool
	// Events is which Events are written on the Canaries: kube.RecordAll (the default, as
	// Flagger records them), kube.RecordWarnings or kube.RecordNone. The releases' and the
	// controller's own (Terminating, a Canary refused) alike.
	Events kube.EventRecord
	// MetricsAddr, if set, is where /metrics is served (e.g. ":8080").
	MetricsAddr string
	// Registry is where the controller's metrics are registered and served from. Default: a
	// new registry with the Go and process collectors and the client's rate-limiter wait
	// (rest_client_rate_limiter_duration_seconds).
	Registry *prometheus.Registry
	// HookTransport sends the webhooks' requests. Default: the webhook package's.
	HookTransport http.RoundTripper
	// OnEvent, if set, receives every release's events (besides the self-metrics).
	OnEvent func(canary.Event)
	// Adjust, if set, edits every Canary after it is loaded, before it is driven.
	Adjust func(*flagger.Canary)
	Logger logr.Logger

	// finalized, set by tests only, is the Controller's hook of that name
	finalized func(types.UID)
}

func main() {
	var o Options
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file (default: in-cluster, else $KUBECONFIG or ~/.kube/config)")
	flag.StringVar(&o.Namespace, "namespace", "", "namespace to watch (default: all)")
	flag.StringVar(&o.Prometheus, "prometheus", "http://prometheus.linkerd-viz:9090", "Prometheus address of metrics without a MetricTemplate")
	flag.StringVar(&o.Router, "router", "", "route kind of Canaries without spec.provider: smi, httproute, istio, nginx or kubernetes (default: Linkerd's, smi)")
	flag.StringVar(&o.IngressAnnotationsPrefix, "ingress-annotations-prefix", mesh.NGINXAnnotationPrefix, "annotation prefix of ingress-nginx (its --annotations-prefix), for Canaries with provider nginx")
	flag.StringVar(&o.Identity, "identity", "", "this replica's identity in the Leases (default: host name and process id)")
	flag.DurationVar(&o.LeaseDuration, "lease-duration", 0, "a replica's claim on a Canary without renewal, whole seconds under 1h (default 2m)")
	flag.DurationVar(&o.Recheck, "recheck", driver.DefaultRecheck, "how often idle targets look at their caches for new revisions")
	flag.StringVar(&o.MetricsAddr, "metrics-addr", ":8080", "address of the /metrics endpoint (empty: none)")
	qps := flag.Float64("kube-api-qps", 0, "requests per second of the driver's client: 0 follows the running Canaries (driver.RateLimit, at least 50), a value is a fixed limit, below 0 none")
	burst := flag.Int("kube-api-burst", 0, "burst of the driver's client: 0 follows the running Canaries (or, with --kube-api-qps, driver.RateLimit's), a value is a fixed burst")
	flag.BoolVar(&o.HTTP1Requests, "http1-requests", false, "send the driver's requests over HTTP/1.1, up to 100 connections per pool (its watches stay on HTTP/2): less CPU per request")
	events := flag.String("events", string(kube.RecordAll), "which Events are written on the Canaries: all (as Flagger writes them), warnings (what goes wrong or holds a release: a release that goes well writes none) or none")
	logFlush := flag.Duration("log-flush-frequency", DefaultLogFlush, "longest a log line waits in memory before it is written; Warnings and Errors are written at once (0: every line at once)")
	pprofAddr := flag.String("pprof-addr", "", "address of net/http/pprof's /debug/pprof/ on a listener of its own (empty: none)")
	procs := flag.Int("gomaxprocs", DefaultMaxProcs, "threads running Go code at once (runtime.GOMAXPROCS); 0: Go's default (the CPUs, or the container's CPU limit). A GOMAXPROCS variable is kept unless this flag is given")
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "gomaxprocs" })
	n, err := maxProcs(*procs, explicit, os.Getenv("GOMAXPROCS"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "flagger-controller:", err)
		os.Exit(2)
	}
	if n > 0 {
		runtime.GOMAXPROCS(n)
	}
	if o.Events, err = kube.ParseEventRecord(*events); err != nil {
		fmt.Fprintln(os.Stderr, "flagger-controller: --events:", err)
		os.Exit(2)
	}
	if *logFlush < 0 {
		fmt.Fprintf(os.Stderr, "flagger-controller: --log-flush-frequency=%v: want 0 (every line at once) or more\n", *logFlush)
		os.Exit(2)
	}
	logs := newLogBuffer(os.Stderr, *logFlush)
	// fail writes what the log holds, then err, and exits (deferred calls do not run)
	fail := func(code int, err error) {
		logs.Close()
		fmt.Fprintln(os.Stderr, "flagger-controller:", err)
		os.Exit(code)
	}
	defer logs.Close()
	o.Logger = logr.FromSlogHandler(flushingHandler{slog.NewTextHandler(logs, nil), logs})
	if *pprofAddr != "" {
		stopPprof, err := servePprof(*pprofAddr, o.Logger)
		if err != nil {
			fail(2, err)
		}
		defer stopPprof()
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		rules.ExplicitPath = *kubeconfig
		cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	}
	if err != nil {
		fail(2, err)
	}
	cfg.QPS, cfg.Burst, cfg.RateLimiter = float32(*qps), *burst, nil
	o.Config = cfg
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, o); err != nil {
		stop()
		fail(1, err)
	}
}

// DefaultMaxProcs is the controller's --gomaxprocs: one thread runs its Go code. The
// controller's work is waiting on the API server and Prometheus; with two threads on two
// cores the Go scheduler's hand-offs between them (threads woken to look for work, put back
// to sleep) cost more CPU than the second thread gives back. At 1,000 Canaries on the
// 2-core bed (PERFORMANCE.md, "Threads") one thread used a fifth to a third less CPU per
// step and left the API server more of the cores: the step lateness's tail fell with it.
const DefaultMaxProcs = 1

// maxProcs is what to set runtime.GOMAXPROCS to (0: leave it) for --gomaxprocs=flagValue,
// given on the command line or not (explicit), and the GOMAXPROCS variable env: the
// variable is kept unless the flag is given.
func maxProcs(flagValue int, explicit bool, env string) (int, error) {
	if flagValue < 0 {
		return 0, fmt.Errorf("--gomaxprocs=%d: want 0 (Go's default) or more", flagValue)
	}
	if !explicit && env != "" {
		return 0, nil
	}
	return flagValue, nil
}

// DefaultIdentity is the host name and the process id: distinct for replicas on one host.
func DefaultIdentity() string {
	host, _ := os.Hostname()
	return host + "-" + strconv.Itoa(os.Getpid())
}

// Run runs the controller until ctx ends, then stops every Target (releasing their leases)
// and returns nil.
func Run(ctx context.Context, o Options) error {
	if o.Config == nil {
		return errors.New("Options.Config is required")
	}
	if o.Identity == "" {
		o.Identity = DefaultIdentity()
	}
	if o.Logger.GetSink() == nil {
		o.Logger = logr.Discard()
	}
	log := o.Logger.WithValues("identity", o.Identity)
	d, err := driver.New(driver.Options{Config: o.Config, DefaultRouter: flagger.Router{Kind: flagger.RouterKind(o.Router)},
		Prometheus: o.Prometheus, Identity: o.Identity, LeaseDuration: o.LeaseDuration, Recheck: o.Recheck,
		NGINXAnnotationPrefix: o.IngressAnnotationsPrefix, HookTransport: o.HookTransport, HTTP1Requests: o.HTTP1Requests, CanaryStatus: true,
		Events: kube.EventsOptions{Record: o.Events}, Logger: log})
	if err != nil {
		return err
	}
	defer d.Close()
	watchConfig := rest.CopyConfig(o.Config)
	watchConfig.RateLimiter, watchConfig.QPS, watchConfig.Burst = nil, watchQPS, watchBurst
	dyn, err := dynamic.NewForConfig(watchConfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(watchConfig)
	if err != nil {
		return err
	}
	canaries, err := CanaryClient(watchConfig)
	if err != nil {
		return err
	}
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	reg := o.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), clientMetrics())
	}
	meshProvider := selfmetrics.DefaultMeshProvider
	switch flagger.RouterKind(o.Router) {
	case flagger.RouterKubernetes, flagger.RouterIstio, flagger.RouterNGINX:
		meshProvider = o.Router
	case flagger.RouterHTTPRoute:
		meshProvider = "gatewayapi"
	}
	self := selfmetrics.New(selfmetrics.Options{MeshProvider: meshProvider})
	if err := reg.Register(self); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	defer reg.Unregister(self)
	for _, m := range driverMetrics(d) {
		if err := reg.Register(m); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		defer reg.Unregister(m)
	}
	onEvent := func(cn *flagger.Canary) func(canary.Event) {
		record := self.For(cn.Target, cn.Spec)
		return func(e canary.Event) {
			record(e)
			if o.OnEvent != nil {
				o.OnEvent(e)
			}
		}
	}
	if o.MetricsAddr != "" {
		stopMetrics, err := serveMetrics(o.MetricsAddr, reg, log)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	c := &Controller{Driver: d, Canaries: canaries, Dynamic: dyn, Namespace: o.Namespace, Log: log,
		Recorder: recording(o.Events, broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "canarykit-flagger-controller"})),
		OnEvent:  onEvent, Forget: self.Forget, Refuse: self.Refuse, Restore: self.Restore, Adjust: o.Adjust,
		finalized: o.finalized}
	log.Info("watching Canaries", "namespace", o.Namespace)
	return c.Run(ctx)
}

// serveMetrics serves reg on addr's /metrics until the returned func is called.
func serveMetrics(addr string, reg *prometheus.Registry, log logr.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(err, "metrics server stopped")
		}
	}()
	log.Info("serving metrics", "address", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}
