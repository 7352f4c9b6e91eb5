package canary_test

import (
	"context"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
)

// BenchmarkSimulatedRollout measures the engine's own cost for one whole release: 20 weight
// steps of 5 up to 100, two metrics per tick, through the simulation kit in virtual time.
//
//	go test -run '^$' -bench SimulatedRollout -benchmem ./canary/
func BenchmarkSimulatedRollout(b *testing.B) {
	spec := canary.Spec{
		Interval:   30 * time.Second,
		Threshold:  5,
		MaxWeight:  100,
		StepWeight: 5,
		Metrics: []canary.Metric{
			{Name: "request-success-rate", ThresholdRange: canary.AtLeast(99), Interval: time.Minute},
			{Name: "request-duration", ThresholdRange: canary.AtMost(500), Interval: 30 * time.Second},
		},
	}
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		env := canarytest.NewEnv(canary.Target{})
		env.Metrics.Set("request-success-rate", canarytest.Constant(99.9))
		env.Metrics.Set("request-duration", canarytest.Constant(120))
		r, err := env.New(spec)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.Run(ctx); err != nil {
			b.Fatal(err)
		}
		env.Workload.SetRevision("v1")
		b.StartTimer()
		res, err := r.Run(ctx)
		if err != nil || res.Phase != canary.PhaseSucceeded || len(res.Weights) != 21 {
			b.Fatalf("phase %s, %d steps, err %v", res.Phase, len(res.Weights), err)
		}
	}
}
