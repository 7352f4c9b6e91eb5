package progress_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/canarykit/canarykit/canary/progress"
)

// A release shown as it happens. os.Stdout is not a terminal here, so Live prints plain lines;
// on a terminal it would redraw one status line for podinfo.test instead of printing the steps.
func ExampleNewLive() {
	env := canarytest.NewEnv(canary.Target{Namespace: "test", Name: "podinfo"})
	env.Metrics.Set("request-success-rate", canarytest.Sequence(99.9, 97.5, 99.9))
	env.Metrics.Set("request-duration", canarytest.Constant(120))
	r, err := env.New(canary.Spec{
		Interval:   time.Minute,
		Threshold:  2,
		StepWeight: 25,
		MaxWeight:  50,
		Metrics: []canary.Metric{
			{Name: "request-success-rate", ThresholdRange: canary.AtLeast(99)},
			{Name: "request-duration", ThresholdRange: canary.AtMost(500)},
		},
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	_, _ = r.Run(ctx) // bootstrap, before anything is shown

	live := progress.NewLive(os.Stdout, progress.Options{})
	defer live.Close()
	env.Events.Then = live.Handle
	env.Workload.SetRevision("3.1.1")
	res, _ := r.Run(ctx)
	fmt.Fprintln(live, res.Phase)
	// Output:
	// 00:00:00  Normal   New revision detected! Scaling up podinfo.test
	// 00:01:00  Normal   Starting canary analysis for podinfo.test
	// 00:01:00  Normal   Advance podinfo.test canary weight 25  [#####...............]
	// 00:02:00  Normal   Advance podinfo.test canary weight 50  [##########..........]  ✔ request-success-rate 99.90 >= 99  ✔ request-duration 120.00 <= 500
	// 00:03:00  Warning  Halt podinfo.test advancement request-success-rate 97.50 < 99  ✔ request-duration 120.00 <= 500
	// 00:04:00  Normal   Copying podinfo.test template spec to podinfo-primary.test  ✔ request-success-rate 99.90 >= 99  ✔ request-duration 120.00 <= 500
	// 00:05:00  Normal   Routing all traffic to primary  [....................]
	// 00:05:00  Normal   Promotion completed! Scaling down podinfo.test
	// Succeeded
}

// One check of each kind, as a line lists them.
func ExampleCheck() {
	for _, c := range []canary.CheckResult{
		{Name: "request-duration", Value: 111.88, Threshold: canary.AtMost(500), Verdict: canary.VerdictPass},
		{Name: "request-success-rate", Value: 90.69, Threshold: canary.AtLeast(99), Verdict: canary.VerdictFail},
		{Name: "error-rate", Verdict: canary.VerdictNoData},
		{Name: "judge", Value: 62, Verdict: canary.VerdictInconclusive},
	} {
		fmt.Println(progress.Check(c))
	}
	// Output:
	// ✔ request-duration 111.88 <= 500
	// ✘ request-success-rate 90.69 (want >= 99)
	// ? error-rate no data
	// ? judge inconclusive
}
