package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/canarykit/canarykit/internal/progress"
	"github.com/canarykit/canarykit/kube/flagger"
	"k8s.io/utils/clock"
)

func main() {
	pace := flag.Duration("pace", 80*time.Millisecond, "real time per 30s analysis interval (0: no pacing)")
	flag.Parse()
	if err := run(os.Stdout, *pace); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// canaryYAML is the seeds' Canary manifest (seed 002, verbatim): what a Flagger user hands over.
//
//go:embed canary.yaml
var canaryYAML []byte

func run(out io.Writer, pace time.Duration) error {
	m, err := flagger.LoadCanary(canaryYAML)
	if err != nil {
		return err
	}
	env := canarytest.NewEnv(m.Target)
	env.Workload.SetRevision("3.1.0")
	env.Workload.SetCanaryHealth(canarytest.Health{ReadyAfter: 20 * time.Second})
	env.Metrics.Seed = 2
	env.Metrics.Set("request-success-rate", canarytest.Normal(99.9, 0.05, 0, 100))
	env.Metrics.Set("request-duration", canarytest.Normal(120, 15, 1, 10000))
	env.Events.Then = func(e canary.Event) { fmt.Fprintln(out, progress.Line(env.Clock.Since(canarytest.Epoch()), e)) }

	cfg := env.Config(m.Spec) // the seed's acceptance and load tests are answered by env.Gates
	cfg.Clock = pacedClock{Clock: env.Clock, pace: pace}
	r, err := canary.New(cfg)
	if err != nil {
		return err
	}
	ctx := context.Background()
	fmt.Fprintf(out, "canarykit quickstart: %s with the seed's Canary (interval %s, threshold %d, maxWeight %d, stepWeight %d)\n",
		m.Target, m.Spec.Interval, m.Spec.Threshold, m.Spec.MaxWeight, m.Spec.StepWeight)
	if _, err := r.Run(ctx); err != nil {
		return err
	}

	fmt.Fprintln(out, "\n$ kubectl -n test set image deployment/podinfo podinfod=stefanprodan/podinfo:3.1.1")
	env.Workload.SetRevision("3.1.1")
	good, err := r.Run(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "=> %s %s in %s of analysis: %s\n", good.Revision, good.Phase, good.Duration(), good.Reason)

	fmt.Fprintln(out, "\n$ kubectl -n test set image deployment/podinfo podinfod=stefanprodan/podinfo:3.1.2   # returns 500s")
	env.Workload.SetRevision("3.1.2")
	env.Metrics.Set("request-success-rate", canarytest.FromCall(2, canarytest.Normal(99.9, 0.05, 0, 100), canarytest.Normal(90, 0.5, 0, 100)))
	bad, err := r.Run(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "=> %s %s in %s of analysis: %s\n", bad.Revision, bad.Phase, bad.Duration(), bad.Reason)

	if good.Phase != canary.PhaseSucceeded || bad.Phase != canary.PhaseFailed {
		return fmt.Errorf("unexpected outcomes: 3.1.1 %s (want Succeeded), 3.1.2 %s (want Failed)", good.Phase, bad.Phase)
	}
	if p := env.Workload.PrimaryRevision(); p != "3.1.1" {
		return fmt.Errorf("primary runs %s, want 3.1.1", p)
	}
	fmt.Fprintln(out, "\nprimary runs 3.1.1; 3.1.2 was rolled back and got no more than 5 % of the traffic")
	return nil
}

// pacedClock is the virtual clock slowed down for people: each analysis interval also takes
// pace of real time, so the progression can be watched.
type pacedClock struct {
	*canarytest.Clock
	pace time.Duration
}

func (p pacedClock) NewTimer(d time.Duration) clock.Timer {
	if p.pace > 0 {
		time.Sleep(time.Duration(float64(p.pace) * d.Seconds() / 30))
	}
	return p.Clock.NewTimer(d)
}

func (p pacedClock) After(d time.Duration) <-chan time.Time { return p.NewTimer(d).C() }
