package canarytest_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
)

// A whole release in virtual time: a new revision is promoted after ten steps of 5 %.
func ExampleEnv() {
	env := canarytest.NewEnv(canary.Target{Namespace: "test", Name: "podinfo"})
	env.Metrics.Set("request-success-rate", canarytest.Constant(99.8))
	r, err := env.New(canary.Spec{
		Interval:   30 * time.Second,
		Threshold:  5,
		MaxWeight:  50,
		StepWeight: 5,
		Metrics:    []canary.Metric{{Name: "request-success-rate", ThresholdRange: canary.AtLeast(99)}},
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if _, err := r.Run(ctx); err != nil { // bootstrap: primary created, nothing to release
		panic(err)
	}
	env.Workload.SetRevision("3.1.1") // kubectl set image ...
	res, err := r.Run(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Phase, res.Weights, res.Duration())
	fmt.Println(env.Router.CanaryHistory(env.Target))
	// Output:
	// Succeeded [5 10 15 20 25 30 35 40 45 50 0] 6m0s
	// [0 5 10 15 20 25 30 35 40 45 50 0]
}

// A canary whose success rate drops is rolled back once the failed checks reach the threshold;
// Print shows each event as it happens, with every check's verdict.
func ExampleRecorder() {
	env := canarytest.NewEnv(canary.Target{Namespace: "test", Name: "podinfo"})
	env.Metrics.Set("request-success-rate", canarytest.Sequence(99.9, 99.9, 90))
	r, err := env.New(canary.Spec{
		Interval:   30 * time.Second,
		Threshold:  2,
		StepWeight: 10,
		Metrics:    []canary.Metric{{Name: "request-success-rate", ThresholdRange: canary.AtLeast(99)}},
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	_, _ = r.Run(ctx) // bootstrap
	env.Events.Print = os.Stdout
	env.Workload.SetRevision("3.1.2")
	res, _ := r.Run(ctx)
	fmt.Println(res.Phase, "-", res.Reason)
	// Output:
	// 00:00:00  Normal   New revision detected! Scaling up podinfo.test
	// 00:00:30  Normal   Starting canary analysis for podinfo.test
	// 00:00:30  Normal   Advance podinfo.test canary weight 10  [##..................]
	// 00:01:00  Normal   Advance podinfo.test canary weight 20  [####................]  ✔ request-success-rate 99.90 >= 99
	// 00:01:30  Normal   Advance podinfo.test canary weight 30  [######..............]  ✔ request-success-rate 99.90 >= 99
	// 00:02:00  Warning  Halt podinfo.test advancement request-success-rate 90.00 < 99
	// 00:02:30  Warning  Halt podinfo.test advancement request-success-rate 90.00 < 99
	// 00:03:00  Warning  Rolling back podinfo.test failed checks threshold reached 2  [######..............]
	// 00:03:00  Warning  Canary failed! Scaling down podinfo.test
	// Failed - failed checks threshold reached 2
}

// Gates answer hooks from scripts: here a manual approval arrives on the third ask.
func ExampleGates() {
	env := canarytest.NewEnv(canary.Target{})
	env.Metrics.Set("request-success-rate", canarytest.Constant(100))
	env.Gates.Set("approval", canarytest.OpenAfter(2))
	r, _ := env.New(canary.Spec{
		StepWeight: 50,
		Metrics:    []canary.Metric{{Name: "request-success-rate", ThresholdRange: canary.AtLeast(99)}},
		Webhooks:   []canary.Webhook{{Name: "approval", Type: canary.HookConfirmRollout, URL: "http://gate.example/approve"}},
	})
	_, _ = r.Run(context.Background())
	env.Workload.SetRevision("v2")
	res, _ := r.Run(context.Background())
	fmt.Println(res.Phase, "after", env.Gates.CallsOf("approval"), "asks")
	// Output:
	// Succeeded after 3 asks
}
