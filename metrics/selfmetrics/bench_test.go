package selfmetrics_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/metrics/selfmetrics"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkObserve is the cost of one analysis event (two checks) for one of 100 targets.
func BenchmarkObserve(b *testing.B) {
	c := selfmetrics.New(selfmetrics.Options{})
	observers := make([]func(canary.Event), 100)
	for i := range observers {
		observers[i] = c.For(canary.Target{Namespace: "test", Name: fmt.Sprintf("app-%d", i)}, spec())
	}
	checks := []canary.CheckResult{{Name: "request-success-rate", Value: 99.9, Verdict: canary.VerdictPass},
		{Name: "request-duration", Value: 120, Verdict: canary.VerdictPass}}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		at = at.Add(time.Second)
		observers[i%len(observers)](canary.Event{Time: at, TickStarted: at.Add(-time.Millisecond), Reason: canary.ReasonAdvanced,
			Phase: canary.PhaseProgressing, Weights: canary.CanaryWeight(i % 50), Checks: checks})
	}
}

// BenchmarkGather is the cost of one scrape of 100 targets' series.
func BenchmarkGather(b *testing.B) {
	c := selfmetrics.New(selfmetrics.Options{})
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 100 {
		observe := c.For(canary.Target{Namespace: "test", Name: fmt.Sprintf("app-%d", i)}, spec())
		observe(canary.Event{Time: at, TickStarted: at.Add(-time.Millisecond), Reason: canary.ReasonAdvanced, Phase: canary.PhaseProgressing,
			Weights: canary.CanaryWeight(10), Checks: []canary.CheckResult{{Name: "request-success-rate", Value: 99.9, Verdict: canary.VerdictPass},
				{Name: "request-duration", Value: 120, Verdict: canary.VerdictPass}}})
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
