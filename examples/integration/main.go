package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
)

// scenario is a simulated canary: how its metrics behave.
type scenario struct {
	name        string
	successRate canarytest.Signal
	p99         canarytest.Signal
	health      canarytest.Health
}

func scenarios() []scenario {
	return []scenario{
		{"healthy", canarytest.Normal(99.9, 0.05, 0, 100), canarytest.Normal(120, 20, 1, 1e4), canarytest.Health{}},
		{"errors from the third step", canarytest.ByWeight(func(w int) float64 {
			if w >= 30 {
				return 97
			}
			return 99.9
		}), canarytest.Constant(120), canarytest.Health{}},
		{"slow", canarytest.Constant(99.9), canarytest.Normal(450, 30, 1, 1e4), canarytest.Health{}},
		{"quiet for ten minutes", canarytest.After(10*time.Minute, canarytest.NoData(), canarytest.Constant(99.9)),
			canarytest.After(10*time.Minute, canarytest.NoData(), canarytest.Constant(100)), canarytest.Health{}},
		{"never ready", canarytest.Constant(99.9), canarytest.Constant(100), canarytest.Health{Never: true}},
	}
}

// simulate releases a new revision under the policy and returns the result and the largest
// share of traffic the canary got.
func simulate(spec canary.Spec, sc scenario) (canary.Result, int, error) {
	env := canarytest.NewEnv(canary.Target{Namespace: "shop", Name: "checkout"})
	env.Metrics.Seed = 1
	env.Metrics.Set("request-success-rate", sc.successRate)
	env.Metrics.Set("request-duration", sc.p99)
	r, err := env.New(spec)
	if err != nil {
		return canary.Result{}, 0, err
	}
	ctx := context.Background()
	if _, err := r.Run(ctx); err != nil {
		return canary.Result{}, 0, err
	}
	env.Workload.SetCanaryHealth(sc.health)
	env.Workload.SetRevision("v2")
	res, err := r.Run(ctx)
	exposure := 0
	for _, w := range res.Weights {
		exposure = max(exposure, w)
	}
	return res, exposure, err
}

func main() {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "canary\toutcome\tmax weight\tanalysis time\treason")
	for _, sc := range scenarios() {
		res, exposure, err := simulate(Policy(), sc)
		if err != nil {
			fmt.Fprintln(os.Stderr, "integration:", err)
			os.Exit(1)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d%%\t%s\t%s\n", sc.name, res.Phase, exposure, res.Duration(), res.Reason)
	}
	tw.Flush()
}
