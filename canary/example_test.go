package canary_test

import (
	"context"
	"fmt"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
)

// New wires a Rollout to its adapters; Run takes the target's current revision through the
// analysis. Here the adapters are canarytest's doubles sharing one virtual clock, so the
// release, two and a half minutes of analysis, runs in no real time.
func ExampleNew() {
	env := canarytest.NewEnv(canary.Target{Namespace: "test", Name: "podinfo"})
	env.Metrics.Set("request-success-rate", canarytest.Constant(99.7))
	r, err := canary.New(canary.Config{
		Target: env.Target,
		Spec: canary.Spec{
			Interval:   30 * time.Second,
			Threshold:  3,
			MaxWeight:  30,
			StepWeight: 10,
			Metrics: []canary.Metric{
				{Name: "request-success-rate", ThresholdRange: canary.AtLeast(99), Interval: time.Minute},
			},
		},
		Workload: env.Workload,
		Router:   env.Router,
		Metrics:  env.Metrics,
		Builtins: canarytest.Builtins(), // the check's query is its name
		Store:    env.Store,
		Clock:    env.Clock,
		OnEvent:  func(e canary.Event) { fmt.Printf("%-12s %s\n", e.Reason, e.Message) },
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	res, err := r.Run(ctx) // the first Run creates the primary: nothing to release yet
	if err != nil {
		panic(err)
	}
	fmt.Println("->", res.Phase, res.Cause)

	env.Workload.SetRevision("6.1.0") // a new image on the target
	res, err = r.Run(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println("->", res.Phase, res.Cause, res.Weights, res.Duration())
	// Output:
	// Initializing Initializing podinfo.test: waiting for podinfo-primary.test to become ready
	// Initialized  Initialization done! podinfo.test
	// -> Initialized nothing-to-release
	// NewRevision  New revision detected! Scaling up podinfo.test
	// Started      Starting canary analysis for podinfo.test
	// Advanced     Advance podinfo.test canary weight 10
	// Advanced     Advance podinfo.test canary weight 20
	// Advanced     Advance podinfo.test canary weight 30
	// Promoting    Copying podinfo.test template spec to podinfo-primary.test
	// Shifted      Routing all traffic to primary
	// Succeeded    Promotion completed! Scaling down podinfo.test
	// -> Succeeded promoted [10 20 30 0] 2m30s
}

// A failing canary is rolled back once its failed checks reach the threshold; the Result says
// why in its typed Cause.
func ExampleRollout_Run() {
	env := canarytest.NewEnv(canary.Target{Namespace: "test", Name: "podinfo"})
	env.Metrics.Set("request-success-rate", canarytest.Sequence(99.9, 97.5))
	cfg := env.Config(canary.Spec{
		Interval:   time.Minute,
		Threshold:  2,
		StepWeight: 20,
		Metrics:    []canary.Metric{{Name: "request-success-rate", ThresholdRange: canary.AtLeast(99)}},
	})
	cfg.OnEvent = nil
	r, err := canary.New(cfg)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if _, err := r.Run(ctx); err != nil {
		panic(err)
	}
	env.Workload.SetRevision("6.1.1")
	res, err := r.Run(ctx)
	if err != nil {
		panic(err)
	}
	w, _ := env.Router.Current(env.Target)
	fmt.Println(res.Phase, res.Cause, "after", res.FailedChecks, "failed checks:", res.Reason)
	fmt.Println("weights set:", res.Weights, "route now:", w)
	// Output:
	// Failed threshold after 2 failed checks: failed checks threshold reached 2
	// weights set: [20 40 0] route now: primary=100 canary=0
}
