package driver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync/atomic"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/mesh"
	"github.com/canarykit/canarykit/metrics"
	"github.com/canarykit/canarykit/webhook"
	"github.com/canarykit/canarykit/webhook/notify"
	"github.com/go-logr/logr"
	specsclient "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/specs/clientset/versioned"
	splitclient "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/split/clientset/versioned"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	gatewayclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"
)

// Router kinds.
const (
	RouterSMI        = "smi"        // SMI TrafficSplit (linkerd-smi), version discovered
	RouterHTTPRoute  = "httproute"  // Gateway API HTTPRoute with the apex Service as parent (Linkerd >= 2.14)
	RouterKubernetes = "kubernetes" // no mesh: blue/green by switching the apex Service's selector
)

// Options configure a Stack. Zero fields mean "default".
type Options struct {
	// Config reaches the cluster. Required.
	Config *rest.Config
	// Router is the route kind: RouterSMI (default), RouterHTTPRoute or RouterKubernetes.
	Router string
	// Prometheus is the Prometheus API address; a manifest's spec.metricsServer overrides it.
	// Required when a manifest has metrics.
	Prometheus string
	// Resources is where a manifest's metric templateRefs and alert providerRefs are looked
	// up. Default: the cluster's Flagger MetricTemplates and AlertProviders
	// (ClusterObjects).
	Resources flagger.Source
	// Identity names this driver in the targets' Leases. Default: host name and a random suffix.
	Identity string
	// LeaseDuration is the drivers' claim without renewal. Default kube.DefaultLeaseDuration.
	LeaseDuration time.Duration
	// WaitForLease makes a Release wait for a target driven by someone else instead of failing.
	WaitForLease bool
	// HookTransport sends the webhooks' requests. Default: the webhook package's.
	HookTransport http.RoundTripper
	// OwnerReferences makes each target the owner of everything created for it (primary,
	// services, route objects), so deleting the target deletes them. Off by default (see
	// kube.WorkloadOptions.OwnerReferences).
	OwnerReferences bool
	// Logger receives every package's logs. Default: discard.
	Logger logr.Logger
	// Clock drives the analysis. Default: the real clock.
	Clock clock.Clock
}

// Stack is the shared part: clients, informer caches, the router, event recording.
type Stack struct {
	opts    Options
	client  kubernetes.Interface
	cluster *kube.Cluster
	router  canary.MeshRouter
	events  *kube.Events
	hooks   *webhook.Client
}

// New connects to the cluster. Close releases the informers and the event recorder.
func New(opts Options) (*Stack, error) {
	if opts.Config == nil {
		return nil, errors.New("stack: Options.Config is required")
	}
	if opts.Logger.GetSink() == nil {
		opts.Logger = logr.Discard()
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	client, err := kubernetes.NewForConfig(opts.Config)
	if err != nil {
		return nil, err
	}
	router, err := newRouter(opts, client)
	if err != nil {
		return nil, err
	}
	cluster, err := kube.New(kube.Options{Client: client, Logger: opts.Logger, Clock: opts.Clock})
	if err != nil {
		return nil, err
	}
	hooks, err := webhook.New(webhook.Options{Transport: opts.HookTransport, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	return &Stack{opts: opts, client: client, cluster: cluster, router: router, events: cluster.Events(kube.EventsOptions{}), hooks: hooks}, nil
}

func newRouter(opts Options, client kubernetes.Interface) (canary.MeshRouter, error) {
	log := opts.Logger.WithName("mesh")
	var owner mesh.OwnerFunc
	if opts.OwnerReferences {
		owner = mesh.DeploymentOwner(client.AppsV1())
	}
	switch opts.Router {
	case "", RouterSMI:
		split, err := splitclient.NewForConfig(opts.Config)
		if err != nil {
			return nil, err
		}
		specs, err := specsclient.NewForConfig(opts.Config)
		if err != nil {
			return nil, err
		}
		return mesh.NewTrafficSplit(mesh.TrafficSplitOptions{Client: split, Specs: specs, Discovery: client.Discovery(), Owner: owner, Logger: log})
	case RouterHTTPRoute:
		gw, err := gatewayclient.NewForConfig(opts.Config)
		if err != nil {
			return nil, err
		}
		return mesh.NewHTTPRoute(mesh.HTTPRouteOptions{Client: gw, Discovery: client.Discovery(), Services: client.CoreV1(), Owner: owner, Logger: log})
	case RouterKubernetes:
		return mesh.NewKubernetes(mesh.KubernetesOptions{Client: client.CoreV1(), Logger: log})
	}
	return nil, fmt.Errorf("stack: unknown router %q (want %s, %s or %s)", opts.Router, RouterSMI, RouterHTTPRoute, RouterKubernetes)
}

// Client returns the stack's Kubernetes client.
func (s *Stack) Client() kubernetes.Interface { return s.client }

// Close stops the informers and the event recorder.
func (s *Stack) Close() {
	s.events.Shutdown()
	s.cluster.Close()
}

// Release is one target's releases: its Rollout and Lease.
type Release struct {
	Manifest *flagger.Canary
	Rollout  *canary.Rollout
	Lease    *kube.Lease
	alerts   *notify.Dispatcher // the manifest's alerts, delivered while Run runs
	running  atomic.Bool
}

// Release builds the Rollout for a Flagger Canary manifest. onEvent, if set, receives every
// event besides the Kubernetes Events recorded on the target. Nothing is touched until Run.
func (s *Stack) Release(m *flagger.Canary, onEvent func(canary.Event)) (*Release, error) {
	wo := workloadOptions(m, s.opts.OwnerReferences)
	workload, err := s.cluster.Workload(wo)
	if err != nil {
		return nil, err
	}
	lease, err := kube.NewLease(kube.LeaseOptions{Client: s.client, Target: m.Target, Identity: s.opts.Identity,
		Duration: s.opts.LeaseDuration, Wait: s.opts.WaitForLease, Logger: s.opts.Logger})
	if err != nil {
		return nil, err
	}
	// the Flagger objects the manifest refers to, and what they need from the cluster
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.resolve(ctx, m); err != nil {
		return nil, err
	}
	spec, err := s.templated(ctx, m)
	if err != nil {
		return nil, err
	}
	alerts, err := s.alerts(ctx, m)
	if err != nil {
		return nil, err
	}
	var notifyEvent func(canary.Event)
	if alerts != nil {
		notifyEvent = alerts.OnEvent(spec)
	}
	var provider canary.MetricProvider
	if slices.ContainsFunc(spec.Metrics, func(met canary.Metric) bool { return met.Provider == nil }) {
		addr := s.opts.Prometheus
		if m.MetricsServer != "" {
			addr = m.MetricsServer
		}
		if provider, err = metrics.NewPrometheus(metrics.PrometheusOptions{Address: addr, Logger: s.opts.Logger}); err != nil {
			return nil, err
		}
	}
	record := s.events.For(m.Target)
	r, err := canary.New(canary.Config{
		Target:   m.Target,
		Spec:     spec,
		Workload: workload,
		Router:   s.router,
		Metrics:  provider,
		Store:    lease,
		Webhooks: s.hooks,
		Builtins: metrics.Linkerd(),
		OnEvent: func(e canary.Event) {
			record(e)
			if notifyEvent != nil {
				notifyEvent(e)
			}
			if onEvent != nil {
				onEvent(e)
			}
		},
		Logger: s.opts.Logger.WithName("rollout"),
		Clock:  s.opts.Clock,
	})
	if err != nil {
		return nil, err
	}
	return &Release{Manifest: m, Rollout: r, Lease: lease, alerts: alerts}, nil
}

// resolve looks up the manifest's templateRefs and alert providerRefs (Options.Resources, or
// the cluster's), at every Release: the objects may have changed since the last.
func (s *Stack) resolve(ctx context.Context, m *flagger.Canary) error {
	if len(m.TemplateRefs) == 0 && len(m.Alerts) == 0 {
		return nil
	}
	src := s.opts.Resources
	if src == nil {
		dyn, err := dynamic.NewForConfig(s.opts.Config)
		if err != nil {
			return err
		}
		src = ClusterObjects(dyn)
	}
	return m.Resolve(ctx, src)
}

// templated returns the manifest's spec with each templated metric bound to its template's
// own Prometheus.
func (s *Stack) templated(ctx context.Context, m *flagger.Canary) (canary.Spec, error) {
	if len(m.TemplateRefs) == 0 {
		return m.Spec, nil
	}
	spec := m.Spec
	spec.Metrics = slices.Clone(m.Spec.Metrics)
	providers := map[string]canary.MetricProvider{}
	for _, ref := range m.TemplateRefs {
		t := ref.Template
		p, ok := providers[t.Key()]
		if !ok {
			var err error
			if p, err = s.templateProvider(ctx, t); err != nil {
				return canary.Spec{}, fmt.Errorf("%s: %w", ref.Path, err)
			}
			providers[t.Key()] = p
		}
		spec.Metrics[ref.Metric].Provider = p
	}
	return spec, nil
}

// alerts builds the notifications of the manifest's alerts: one route per alert, to its
// provider, from its severity on. Nil without alerts.
func (s *Stack) alerts(ctx context.Context, m *flagger.Canary) (*notify.Dispatcher, error) {
	if len(m.Alerts) == 0 {
		return nil, nil
	}
	var routes []notify.Route
	for _, a := range m.Alerts {
		n, err := s.notifier(ctx, *a.Provider)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.Path, err)
		}
		sev, err := notify.ParseSeverity(a.Severity)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.Path, err)
		}
		routes = append(routes, notify.Route{Name: a.Name, Notifier: n, MinSeverity: sev})
	}
	return notify.New(notify.Config{Routes: routes, Logger: s.opts.Logger.WithName("alerts")})
}

// slackPostMessage is where a Slack AlertProvider with a token and no address posts, as in
// Flagger.
const slackPostMessage = "https://slack.com/api/chat.postMessage"

// notifier is the webhook/notify notifier for an AlertProvider, with its secretRef applied.
func (s *Stack) notifier(ctx context.Context, p flagger.AlertProvider) (notify.Notifier, error) {
	p, token, err := withSecret(ctx, s.client, p)
	if err != nil {
		return nil, err
	}
	client := http.DefaultClient
	if p.Proxy != "" {
		u, err := url.Parse(p.Proxy)
		if err != nil {
			return nil, fmt.Errorf("AlertProvider %s: proxy: %w", p.Key(), err)
		}
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = http.ProxyURL(u)
		client = &http.Client{Transport: t}
	}
	if p.Type == "slack" && p.Address == "" && token != "" {
		if p.Channel == "" {
			return nil, fmt.Errorf("AlertProvider %s: spec.channel: required to post with a token (Slack's chat.postMessage)", p.Key())
		}
		p.Address = slackPostMessage
	}
	if p.Address == "" {
		return nil, fmt.Errorf(`AlertProvider %s: neither spec.address nor the "address" key of its secretRef gives the webhook URL`, p.Key())
	}
	switch p.Type {
	case "slack", "rocket": // Rocket.Chat's incoming webhooks take Slack's format
		return notify.NewSlack(notify.SlackConfig{URL: p.Address, Token: token, Channel: p.Channel, Username: p.Username, Client: client})
	case "msteams":
		return notify.NewTeams(notify.TeamsConfig{URL: p.Address, Client: client})
	case "discord":
		return notify.NewDiscord(notify.DiscordConfig{URL: p.Address, Username: p.Username, Client: client})
	}
	return nil, fmt.Errorf("AlertProvider %s: type %q is not supported (%v)", p.Key(), p.Type, flagger.AlertProviderTypes())
}

// templateProvider is a Prometheus client for a MetricTemplate's provider, with the
// credentials of its secretRef read as Flagger reads them.
func (s *Stack) templateProvider(ctx context.Context, t *flagger.MetricTemplate) (canary.MetricProvider, error) {
	o := metrics.PrometheusOptions{Address: t.Provider.Address, Headers: http.Header(t.Provider.Headers),
		InsecureSkipVerify: t.Provider.InsecureSkipVerify, Logger: s.opts.Logger}
	if t.Provider.SecretRef != "" {
		data, err := secretData(ctx, s.client, "MetricTemplate", t.Namespace, t.Name, "spec.provider.secretRef", t.Provider.SecretRef)
		if err != nil {
			return nil, err
		}
		if o.Credentials, err = metrics.SecretCredentials(data); err != nil {
			return nil, fmt.Errorf("MetricTemplate %s: secret %s/%s: %w", t.Key(), t.Namespace, t.Provider.SecretRef, err)
		}
	}
	p, err := metrics.NewPrometheus(o)
	if err != nil {
		return nil, fmt.Errorf("MetricTemplate %s: %w", t.Key(), err)
	}
	return p, nil
}

// Run drives the target's current revision while holding its lease, applying control
// requests (kube.RequestControl) from other processes, and releases the lease at the end.
func (r *Release) Run(ctx context.Context) (canary.Result, error) {
	if !r.running.CompareAndSwap(false, true) {
		return canary.Result{}, fmt.Errorf("%w: release of %s", canary.ErrAlreadyRunning, r.Manifest.Target)
	}
	defer r.running.Store(false)
	if r.alerts != nil {
		// delivered from their own goroutine; what is queued when Run ends gets one timeout
		actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() { _ = r.alerts.Run(actx); close(done) }()
		defer func() { cancel(); <-done }()
	}
	var res canary.Result
	err := r.Lease.Hold(ctx, func(ctx context.Context) error {
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go r.Lease.Controls(cctx, func(c kube.Control) { _ = c.Apply(r.Rollout) })
		var err error
		res, err = r.Rollout.Run(ctx)
		return err
	})
	return res, err
}

// workloadOptions are the kube options for a Canary's target.
func workloadOptions(c *flagger.Canary, ownerReferences bool) kube.WorkloadOptions {
	w := c.Workload
	o := kube.WorkloadOptions{Target: c.Target, Port: w.Port, PortName: w.PortName, AppProtocol: w.AppProtocol,
		Autoscaler: w.Autoscaler, PrimaryMinReplicas: w.PrimaryMinReplicas, PrimaryMaxReplicas: w.PrimaryMaxReplicas,
		OwnerReferences: ownerReferences, PrimaryReadyThreshold: w.PrimaryReadyThreshold, CanaryReadyThreshold: w.CanaryReadyThreshold}
	if w.TargetPort != "" {
		o.TargetPort = intstr.Parse(w.TargetPort)
	}
	return o
}
