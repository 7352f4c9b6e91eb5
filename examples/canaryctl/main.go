package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/progress"
	"github.com/canarykit/canarykit/kube"
	"github.com/canarykit/canarykit/kube/driver"
	"github.com/canarykit/canarykit/kube/flagger"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Exit codes.
const (
	exitPromoted   = 0
	exitRolledBack = 1
	exitError      = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(Main(ctx, os.Args[1:], os.Stdout, os.Stderr, nil))
}

// Main runs one canaryctl command and returns its exit code. cfg, if set, replaces the
// kubeconfig (tests pass the test bed's).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, cfg *rest.Config) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return exitError
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("canaryctl "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("f", "", "Flagger Canary manifest (YAML)")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	kubeContext := fs.String("context", "", "kubeconfig context")
	prom := fs.String("prometheus", "http://localhost:9090", "Prometheus address (a manifest's spec.metricsServer wins)")
	router := fs.String("router", "", "route kind of a Canary without spec.provider: smi, httproute or kubernetes (default: Linkerd's, smi, or httproute with gatewayRefs)")
	identity := fs.String("identity", "", "driver identity in the target's lease (default: host name and a random suffix)")
	wait := fs.Bool("wait", false, "wait for a target driven by another process instead of failing")
	var templateFiles []string
	fs.Func("t", "Flagger MetricTemplates and AlertProviders (YAML, repeatable); what the Canary refers to and they lack is read from the cluster",
		func(f string) error { templateFiles = append(templateFiles, f); return nil })
	if err := fs.Parse(args); err != nil {
		return exitError
	}
	if cfg == nil {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		rules.ExplicitPath = *kubeconfig
		var err error
		cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: *kubeContext}).ClientConfig()
		if err != nil {
			fmt.Fprintln(stderr, "canaryctl: kubeconfig:", err)
			return exitError
		}
	}
	c := &cli{cfg: cfg, stdout: stdout, stderr: stderr}
	switch cmd {
	case "run":
		m, err := c.manifest(*file)
		if err != nil {
			return c.fail(err)
		}
		resources, err := c.resources(templateFiles)
		if err != nil {
			return c.fail(err)
		}
		return c.run(ctx, m, driver.Options{Config: cfg, DefaultRouter: flagger.Router{Kind: flagger.RouterKind(*router)}, Prometheus: *prom,
			Identity: *identity, WaitForLease: *wait, Objects: resources})
	case "status":
		t, err := c.target(*file, fs.Args())
		if err != nil {
			return c.fail(err)
		}
		return c.status(ctx, t)
	case "promote", "abort", "pause", "resume":
		t, err := c.target(*file, fs.Args())
		if err != nil {
			return c.fail(err)
		}
		return c.control(ctx, t, kube.Control(cmd))
	}
	fmt.Fprintf(stderr, "canaryctl: unknown command %q\n%s\n", cmd, usage)
	return exitError
}

const usage = `usage:
  canaryctl run -f canary.yaml [-t flagger-objects.yaml ...] [--prometheus URL] [--router smi|httproute|kubernetes] [--identity ID] [--wait]
  canaryctl status (-f canary.yaml | NAMESPACE/NAME)
  canaryctl promote|abort|pause|resume (-f canary.yaml | NAMESPACE/NAME)`

type cli struct {
	cfg            *rest.Config
	stdout, stderr io.Writer
}

func (c *cli) fail(err error) int {
	fmt.Fprintln(c.stderr, "canaryctl:", err)
	return exitError
}

func (c *cli) manifest(file string) (*flagger.Canary, error) {
	if file == "" {
		return nil, errors.New("-f canary.yaml is required")
	}
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

// resources reads the -t files of Flagger MetricTemplates and AlertProviders; references they
// do not hold are read from the cluster. Nil without files: the driver reads every reference
// from the cluster.
func (c *cli) resources(files []string) (flagger.Source, error) {
	if len(files) == 0 {
		return nil, nil
	}
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
	dyn, err := dynamic.NewForConfig(c.cfg)
	if err != nil {
		return nil, err
	}
	return flagger.Sources{all, driver.ClusterObjects(dyn)}, nil
}

// target is the manifest's target, or NAMESPACE/NAME.
func (c *cli) target(file string, args []string) (canary.Target, error) {
	if file != "" {
		m, err := c.manifest(file)
		if err != nil {
			return canary.Target{}, err
		}
		return m.Target, nil
	}
	if len(args) == 1 {
		if ns, name, ok := strings.Cut(args[0], "/"); ok && ns != "" && name != "" {
			return canary.Target{Namespace: ns, Name: name}, nil
		}
	}
	return canary.Target{}, errors.New("give -f canary.yaml or NAMESPACE/NAME")
}

func (c *cli) run(ctx context.Context, m *flagger.Canary, opts driver.Options) int {
	for _, n := range m.Notes {
		fmt.Fprintln(c.stdout, "note:", n)
	}
	s, err := driver.New(opts)
	if err != nil {
		return c.fail(err)
	}
	defer s.Close()
	start := time.Now()
	rel, err := s.Release(ctx, m, func(e canary.Event) { fmt.Fprintln(c.stdout, progress.Line(time.Since(start), e)) })
	if err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout, "canaryctl: driving %s (%s strategy, interval %s) as %s\n", m.Target, rel.Rollout.Spec().Strategy(),
		rel.Rollout.Spec().Interval, rel.Lease.Identity())
	res, err := rel.Run(ctx)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintf(c.stdout, "canaryctl: stopped at phase %s; run again to resume\n", res.Phase)
		}
		return c.fail(err)
	}
	switch {
	case !res.Released && res.Phase == canary.PhaseFailed:
		// a CI job that retries must not report a rolled-back revision as a success
		fmt.Fprintf(c.stdout, "canaryctl: %s revision %s was rolled back; push a new revision to release again\n", m.Target, res.Revision)
		return exitRolledBack
	case !res.Released:
		fmt.Fprintf(c.stdout, "canaryctl: %s is at revision %s: nothing to release\n", m.Target, res.Revision)
		return exitPromoted
	case res.Phase == canary.PhaseSucceeded:
		fmt.Fprintf(c.stdout, "canaryctl: %s promoted in %s: %s\n", m.Target, res.Duration().Round(time.Second), res.Reason)
		return exitPromoted
	}
	fmt.Fprintf(c.stdout, "canaryctl: %s rolled back after %s: %s\n", m.Target, res.Duration().Round(time.Second), res.Reason)
	return exitRolledBack
}

func (c *cli) status(ctx context.Context, t canary.Target) int {
	client, err := kubernetes.NewForConfig(c.cfg)
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
		fmt.Fprintf(c.stdout, "%s: no release has run\n", t)
		return exitPromoted
	}
	holder, until, err := l.Holder(ctx)
	if err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout, "%s\n  phase:          %s\n  canary weight:  %d %s\n  iterations:     %d\n  failed checks:  %d\n  revision:       %s (promoted: %s)\n  last change:    %s, %s\n",
		t, st.Phase, st.CanaryWeight, progress.Bar(st.CanaryWeight), st.Iterations, st.FailedChecks,
		st.LastAppliedSpec, st.LastPromotedSpec, st.LastTransitionTime.Format(time.RFC3339), st.Message)
	if holder != "" {
		fmt.Fprintf(c.stdout, "  driven by:      %s (until %s)\n", holder, until.Format(time.RFC3339))
	} else {
		fmt.Fprintln(c.stdout, "  driven by:      nobody")
	}
	return exitPromoted
}

func (c *cli) control(ctx context.Context, t canary.Target, ctl kube.Control) int {
	client, err := kubernetes.NewForConfig(c.cfg)
	if err != nil {
		return c.fail(err)
	}
	if err := kube.RequestControl(ctx, client, t, ctl); err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout, "canaryctl: %s requested for %s\n", ctl, t)
	return exitPromoted
}
