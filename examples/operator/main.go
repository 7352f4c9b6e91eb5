package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/canarykit/canarykit/kube/driver"
	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Options configure the operator.
type Options struct {
	Config         *rest.Config
	Namespace      string // "" for every namespace
	Prometheus     string
	Router         string
	Identity       string
	LeaseNamespace string // where the leader-election Lease lives
	Recheck        time.Duration
	Logger         logr.Logger
}

func main() {
	var o Options
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file (default: in-cluster, else $KUBECONFIG or ~/.kube/config)")
	flag.StringVar(&o.Namespace, "namespace", "", "namespace to watch (default: all)")
	flag.StringVar(&o.Prometheus, "prometheus", "http://prometheus.linkerd-viz:9090", "Prometheus address")
	flag.StringVar(&o.Router, "router", driver.RouterSMI, "route kind: smi, httproute or kubernetes")
	flag.StringVar(&o.Identity, "identity", os.Getenv("POD_NAME"), "this replica's identity (default $POD_NAME, else the host name)")
	flag.StringVar(&o.LeaseNamespace, "lease-namespace", "default", "namespace of the leader-election Lease")
	flag.DurationVar(&o.Recheck, "recheck", 30*time.Second, "how often idle targets are checked for new revisions")
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
		os.Exit(1)
	}
}

// Run runs the operator until ctx ends: it campaigns for leadership and, while leading, drives
// every annotated Deployment.
func Run(ctx context.Context, o Options) error {
	s, err := driver.New(driver.Options{Config: o.Config, Router: o.Router, Prometheus: o.Prometheus, Identity: o.Identity,
		WaitForLease: true, Logger: o.Logger})
	if err != nil {
		return err
	}
	defer s.Close()
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: "canarykit-operator", Namespace: o.LeaseNamespace},
		Client:     s.Client().CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: o.Identity},
	}
	leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
		Lock:            lock,
		ReleaseOnCancel: true,
		LeaseDuration:   30 * time.Second,
		RenewDeadline:   20 * time.Second,
		RetryPeriod:     5 * time.Second,
		Name:            "canarykit-operator",
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				o.Logger.Info("leading; driving annotated deployments", "identity", o.Identity)
				c := &Controller{Stack: s, Namespace: o.Namespace, Recheck: o.Recheck, Log: o.Logger}
				_ = c.Run(ctx)
			},
			OnStoppedLeading: func() { o.Logger.Info("no longer leading", "identity", o.Identity) },
		},
	})
	return ctx.Err()
}
