package selfmetrics_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/canarykit/canarykit/metrics/selfmetrics"
	"github.com/prometheus/client_golang/prometheus"
)

// A release in virtual time with the Collector on its events; then what a scrape shows of
// Flagger's status, weights and counters.
func Example() {
	m := selfmetrics.New(selfmetrics.Options{Version: "v1.0.0"})
	reg := prometheus.NewRegistry()
	reg.MustRegister(m) // serve reg with promhttp.HandlerFor(reg, promhttp.HandlerOpts{})

	env := canarytest.NewEnv(canary.Target{Namespace: "test", Name: "podinfo"})
	env.Metrics.Set("request-success-rate", canarytest.Constant(99.9))
	spec := canary.Spec{Interval: 30 * time.Second, MaxWeight: 20, StepWeight: 10,
		Metrics: []canary.Metric{{Name: "request-success-rate", ThresholdRange: canary.AtLeast(99)}}}
	cfg := env.Config(spec)
	cfg.OnEvent = m.For(env.Target, spec)
	r, _ := canary.New(cfg)
	_, _ = r.Run(context.Background()) // bootstrap
	env.Workload.SetRevision("v2")
	res, _ := r.Run(context.Background())
	fmt.Println("release:", res.Phase)

	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		switch mf.GetName() {
		case "flagger_canary_status", "flagger_canary_weight", "flagger_canary_successes_total", "flagger_canary_metric_analysis":
			for _, s := range mf.GetMetric() {
				var labels []string
				for _, l := range s.GetLabel() {
					labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
				}
				v := s.GetGauge().GetValue() + s.GetCounter().GetValue()
				fmt.Printf("%s{%s} %g\n", mf.GetName(), strings.Join(labels, ","), v)
			}
		}
	}
	// Output:
	// release: Succeeded
	// flagger_canary_metric_analysis{metric="request-success-rate",name="podinfo",namespace="test"} 99.9
	// flagger_canary_status{name="podinfo",namespace="test"} 1
	// flagger_canary_successes_total{analysis_status="completed",deployment_strategy="canary",name="podinfo",namespace="test"} 1
	// flagger_canary_weight{namespace="test",workload="podinfo"} 0
	// flagger_canary_weight{namespace="test",workload="podinfo-primary"} 100
}
