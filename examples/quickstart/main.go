package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/canarykit/canarykit/internal/progress"
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

// seedSpec is the analysis of the seed manifest canary-002-linkerd-canary.yaml.
func seedSpec() canary.Spec {
	return canary.Spec{
		Interval:   30 * time.Second,
		Threshold:  5,
		MaxWeight:  50,
		StepWeight: 5,
		Metrics: []canary.Metric{
			{Name: "request-success-rate", ThresholdRange: canary.AtLeast(99), Interval: time.Minute},
			{Name: "request-duration", ThresholdRange: canary.AtMost(500), Interval: 30 * time.Second},
		},
		Webhooks: []canary.Webhook{
			{Name: "acceptance-test", Type: canary.HookPreRollout, URL: "http://flagger-loadtester.test/", Timeout: 30 * time.Second,
				Metadata: map[string]string{"type": "bash", "cmd": "curl -sd 'test' http://podinfo-canary.test:9898/token | grep token"}},
			{Name: "load-test", Type: canary.HookRollout, URL: "http://flagger-loadtester.test/",
				Metadata: map[string]string{"cmd": "hey -z 2m -q 10 -c 2 http://podinfo-canary.test:9898/"}},
		},
		ProgressDeadline: 60 * time.Second,
	}
}

func run(out io.Writer, pace time.Duration) error {
	env := canarytest.NewEnv(canary.Target{Namespace: "test", Name: "podinfo"})
	env.Workload.SetRevision("3.1.0")
	env.Workload.SetCanaryHealth(canarytest.Health{ReadyAfter: 20 * time.Second})
	env.Metrics.Seed = 2
	env.Metrics.Set("request-success-rate", canarytest.Normal(99.9, 0.05, 0, 100))
	env.Metrics.Set("request-duration", canarytest.Normal(120, 15, 1, 10000))
	env.Events.Then = func(e canary.Event) { fmt.Fprintln(out, progress.Line(env.Clock.Since(canarytest.Epoch), e)) }

	cfg := env.Config(seedSpec())
	cfg.Clock = pacedClock{Clock: env.Clock, pace: pace}
	r, err := canary.New(cfg)
	if err != nil {
		return err
	}
	ctx := context.Background()
	fmt.Fprintln(out, "canarykit quickstart: podinfo.test with the seed's analysis (interval 30s, threshold 5, maxWeight 50, stepWeight 5)")
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
