package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/canarykit/canarykit/kube/driver"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// errLostLeadership is returned by Run when another replica took the lead: the process must
// exit and be restarted (its targets' leases are released by then).
var errLostLeadership = errors.New("lost leadership")

// Options configure the operator.
type Options struct {
	Config    *rest.Config
	Namespace string // "" for every namespace
	// Prometheus is the address of metrics without a MetricTemplate.
	Prometheus string
	// Router is the route kind of Canaries without spec.provider: smi, httproute or
	// kubernetes ("": Linkerd's, smi).
	Router         string
	Identity       string
	LeaseNamespace string // where the leader-election Lease lives
	// Recheck is how often idle targets look at their caches for a new revision.
	Recheck time.Duration
	// LeaderLease, RenewDeadline and RetryPeriod time the leader election. Defaults 30s, 20s
	// and 5s.
	LeaderLease, RenewDeadline, RetryPeriod time.Duration
	Logger                                  logr.Logger
}

func main() {
	var o Options
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file (default: in-cluster, else $KUBECONFIG or ~/.kube/config)")
	flag.StringVar(&o.Namespace, "namespace", "", "namespace to watch (default: all)")
	flag.StringVar(&o.Prometheus, "prometheus", "http://prometheus.linkerd-viz:9090", "Prometheus address")
	flag.StringVar(&o.Router, "router", "", "route kind of targets: smi, httproute or kubernetes (default: Linkerd's, smi)")
	flag.StringVar(&o.Identity, "identity", os.Getenv("POD_NAME"), "this replica's identity (default $POD_NAME, else the host name)")
	flag.StringVar(&o.LeaseNamespace, "lease-namespace", "default", "namespace of the leader-election Lease")
	flag.DurationVar(&o.Recheck, "recheck", driver.DefaultRecheck, "how often idle targets look at their caches for new revisions")
	flag.Parse()
	if o.Identity == "" {
		o.Identity, _ = os.Hostname()
	}
	o.Logger = logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := rest.InClusterConfig()
	if err != nil {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		rules.ExplicitPath = *kubeconfig
		cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "operator:", err)
		os.Exit(2)
	}
	o.Config = cfg
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "operator:", err)
		os.Exit(1) // a supervisor restarts the process, which campaigns again
	}
}

// Run runs the operator until ctx ends (then it returns nil): it campaigns for leadership and,
// while leading, drives every annotated Deployment. Losing the lead stops every target and
// returns an error.
func Run(ctx context.Context, o Options) error {
	d, err := driver.New(driver.Options{Config: o.Config, DefaultRouter: flagger.Router{Kind: flagger.RouterKind(o.Router)},
		Prometheus: o.Prometheus, Identity: o.Identity, Recheck: o.Recheck, Logger: o.Logger})
	if err != nil {
		return err
	}
	defer d.Close()
	// The lock has a client of its own, with its own rate limiter: its renewals never wait
	// behind the requests of the targets it protects.
	lockConfig := rest.CopyConfig(o.Config)
	lockConfig.RateLimiter, lockConfig.QPS, lockConfig.Burst = nil, 5, 10
	lockClient, err := kubernetes.NewForConfig(lockConfig)
	if err != nil {
		return err
	}
	leading := make(chan context.Context, 1)
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Name: "canarykit-operator", Namespace: o.LeaseNamespace},
			Client:     lockClient.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: o.Identity},
		},
		ReleaseOnCancel: true,
		LeaseDuration:   orDefault(o.LeaderLease, 30*time.Second),
		RenewDeadline:   orDefault(o.RenewDeadline, 20*time.Second),
		RetryPeriod:     orDefault(o.RetryPeriod, 5*time.Second),
		Name:            "canarykit-operator",
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) { leading <- lctx },
			OnStoppedLeading: func() { o.Logger.Info("not leading", "identity", o.Identity) },
		},
	})
	if err != nil {
		return err
	}
	elected := make(chan struct{})
	go func() { defer close(elected); le.Run(ctx) }()
	select {
	case lctx := <-leading:
		// lctx ends when the elector stops leading (lost, or ctx ended)
		o.Logger.Info("leading; driving annotated deployments", "identity", o.Identity)
		c := &Controller{Driver: d, Namespace: o.Namespace, Log: o.Logger}
		_ = c.Run(lctx)
		<-elected
	case <-elected:
	}
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("%w: %s no longer holds %s/canarykit-operator", errLostLeadership, o.Identity, o.LeaseNamespace)
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
