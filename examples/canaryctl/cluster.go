package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/progress"
	"github.com/canarykit/canarykit/kube"
	"github.com/canarykit/canarykit/kube/driver"
	"github.com/canarykit/canarykit/kube/flagger"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// config is the cluster's rest.Config: the kubeconfig's (or the tests'), with the request
// timeout applied.
func (c *cli) config(o *options) (*rest.Config, error) {
	cfg := c.cfg
	if cfg == nil {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		rules.ExplicitPath = o.kubeconfig
		var err error
		cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.kubeContext}).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("kubeconfig: %w", err)
		}
	}
	return withRequestTimeout(cfg, o.requestTimeout), nil
}

// withRequestTimeout returns a copy of cfg whose requests fail when the API server has not
// answered them (body included) within d. Watches are exempt: they are meant to stay open, and
// rest.Config.Timeout would cut them. d <= 0 returns cfg unchanged.
func withRequestTimeout(cfg *rest.Config, d time.Duration) *rest.Config {
	if d <= 0 {
		return cfg
	}
	cfg = rest.CopyConfig(cfg)
	wrap := cfg.WrapTransport
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		if wrap != nil {
			rt = wrap(rt)
		}
		return &timeoutTransport{next: rt, timeout: d}
	}
	return cfg
}

type timeoutTransport struct {
	next    http.RoundTripper
	timeout time.Duration
}

func (t *timeoutTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Query().Get("watch") == "true" {
		return t.next.RoundTrip(req)
	}
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && req.Context().Err() == nil {
			return nil, fmt.Errorf("no answer from the API server within %s (--request-timeout): %w", t.timeout, err)
		}
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose ends a request's context once its body is read and closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// loadCanary reads a Flagger Canary manifest.
func loadCanary(file string) (*flagger.Canary, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	m, err := flagger.LoadCanary(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return m, nil
}

// loadObjects reads the -t files of Flagger MetricTemplates and AlertProviders into one set.
func loadObjects(files []string) (*flagger.Objects, error) {
	all := &flagger.Objects{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		rs, err := flagger.LoadObjects(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if err := all.Merge(rs); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
	}
	return all, nil
}

func (c *cli) run(ctx context.Context, o *options, args []string) int {
	if err := noArgs(args); err != nil {
		return c.fail(err)
	}
	if o.file == "" {
		return c.fail(errors.New("-f canary.yaml is required"))
	}
	m, err := loadCanary(o.file)
	if err != nil {
		return c.fail(err)
	}
	cfg, err := c.config(o)
	if err != nil {
		return c.fail(err)
	}
	// Flagger objects: the -t files, then the cluster; nil without files: the driver reads
	// every reference from the cluster
	var resources flagger.Source
	if len(o.objectFiles) > 0 {
		given, err := loadObjects(o.objectFiles)
		if err != nil {
			return c.fail(err)
		}
		dyn, err := dynamic.NewForConfig(cfg)
		if err != nil {
			return c.fail(err)
		}
		resources = flagger.Sources{given, driver.ClusterObjects(dyn)}
	}
	for _, n := range m.Notes {
		fmt.Fprintln(c.stdout, "note:", progress.Printable(n))
	}
	res, err := c.release(ctx, m, o.verbose, driver.Options{Config: cfg, DefaultRouter: flagger.Router{Kind: flagger.RouterKind(o.router)}, Prometheus: o.prometheus, Identity: o.identity,
		WaitForLease: o.wait, Objects: resources})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintf(c.stdout, "canaryctl: stopped at phase %s; run again to resume\n", progress.Printable(string(res.Phase)))
		}
		return c.fail(err)
	}
	switch {
	case !res.Released && res.Phase == canary.PhaseFailed:
		// a CI job that retries must not report a rolled-back revision as a success
		fmt.Fprintf(c.stdout, "canaryctl: %s revision %s was rolled back; push a new revision to release again\n", m.Target, progress.Printable(res.Revision))
		return exitRolledBack
	case !res.Released:
		fmt.Fprintf(c.stdout, "canaryctl: %s is at revision %s: nothing to release\n", m.Target, progress.Printable(res.Revision))
		return exitPromoted
	case res.Phase == canary.PhaseSucceeded:
		fmt.Fprintf(c.stdout, "canaryctl: %s promoted in %s: %s\n", m.Target, res.Duration().Round(time.Second), progress.Printable(res.Reason))
		return exitPromoted
	}
	fmt.Fprintf(c.stdout, "canaryctl: %s rolled back after %s: %s\n", m.Target, res.Duration().Round(time.Second), progress.Printable(res.Reason))
	return exitRolledBack
}

// release runs one release of m with kube/driver, printing its progress. It is all of
// canaryctl that calls the driver.
func (c *cli) release(ctx context.Context, m *flagger.Canary, verbose bool, opts driver.Options) (canary.Result, error) {
	s, err := driver.New(opts)
	if err != nil {
		return canary.Result{}, err
	}
	defer s.Close()
	live := progress.NewLive(c.stdout, progress.Options{Verbose: verbose}) // one redrawn status line on a terminal, plain lines elsewhere
	defer live.Close()
	rel, err := s.Release(ctx, m, live.Handle)
	if err != nil {
		return canary.Result{}, err
	}
	fmt.Fprintf(live, "canaryctl: driving %s (%s strategy, interval %s) as %s\n", m.Target, rel.Rollout.Spec().Strategy(),
		rel.Rollout.Spec().Interval, rel.Lease.Identity())
	return rel.Run(ctx)
}

// clusterTarget is the target a status or control command names, and a client for its cluster.
func (c *cli) clusterTarget(o *options, args []string) (canary.Target, kubernetes.Interface, error) {
	t, err := target(o.file, args)
	if err != nil {
		return canary.Target{}, nil, err
	}
	cfg, err := c.config(o)
	if err != nil {
		return canary.Target{}, nil, err
	}
	client, err := kubernetes.NewForConfig(cfg)
	return t, client, err
}

func (c *cli) status(ctx context.Context, o *options, args []string) int {
	t, client, err := c.clusterTarget(o, args)
	if err != nil {
		return c.fail(err)
	}
	l, err := kube.NewLease(kube.LeaseOptions{Client: client, Target: t})
	if err != nil {
		return c.fail(err)
	}
	st, err := l.Load(ctx, t)
	if err != nil {
		return c.fail(err)
	}
	if st.Phase == "" {
		// a release driven with its status on the Canary object (the Flagger-compatible
		// controller) keeps none of it in the Lease
		if st, err = c.canaryStatus(ctx, o, l, t, st); err != nil {
			return c.fail(err)
		}
	}
	if st.Phase == "" {
		fmt.Fprintf(c.stdout, "%s: no release has run\n", t)
		return exitPromoted
	}
	holder, until, err := l.Holder(ctx)
	if err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout, "%s\n  phase:          %s\n  canary weight:  %d %s\n  iterations:     %d\n  failed checks:  %d\n  revision:       %s (promoted: %s)\n  last change:    %s, %s\n",
		t, progress.Printable(string(st.Phase)), st.CanaryWeight, progress.Bar(st.CanaryWeight), st.Iterations, st.FailedChecks,
		progress.Printable(st.LastAppliedSpec), progress.Printable(st.LastPromotedSpec), st.LastTransitionTime.Format(time.RFC3339), progress.Printable(st.Message))
	if holder != "" {
		fmt.Fprintf(c.stdout, "  driven by:      %s (until %s)\n", progress.Printable(holder), until.Format(time.RFC3339))
	} else {
		fmt.Fprintln(c.stdout, "  driven by:      nobody")
	}
	return exitPromoted
}

// canaryStatus is t's status as kept on its Canary object (driver.LoadCanaryStatus); a
// missing Canary, or one the user may not read, leaves the lease's answer leased.
func (c *cli) canaryStatus(ctx context.Context, o *options, l *kube.Lease, t canary.Target, leased canary.Status) (canary.Status, error) {
	cfg, err := c.config(o)
	if err != nil {
		return canary.Status{}, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return canary.Status{}, err
	}
	st, err := driver.LoadCanaryStatus(ctx, dyn, l, t)
	if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) {
		return leased, nil
	}
	return st, err
}

func (c *cli) control(ctx context.Context, o *options, args []string, ctl string) int {
	t, client, err := c.clusterTarget(o, args)
	if err != nil {
		return c.fail(err)
	}
	if err := kube.RequestControl(ctx, client, t, kube.Control(ctl)); err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout, "canaryctl: %s requested for %s\n", ctl, t)
	return exitPromoted
}
