package selfmetrics_test

import (
	"fmt"
	"runtime"
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

// BenchmarkFootprint is the heap a Collector keeps per target (B/target) once each of 1,000
// targets has been through a release: a new revision, five weight steps with two checks each,
// the promotion and its success.
func BenchmarkFootprint(b *testing.B) {
	const targets = 1000
	checks := []canary.CheckResult{{Name: "request-success-rate", Value: 99.9, Verdict: canary.VerdictPass},
		{Name: "request-duration", Value: 120, Verdict: canary.VerdictPass}}
	var perTarget float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		c := selfmetrics.New(selfmetrics.Options{})
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := range targets {
			tg := canary.Target{Namespace: fmt.Sprintf("ns-%d", i%10), Name: fmt.Sprintf("app-%d", i)}
			observe := c.For(tg, spec())
			observe(canary.Event{Time: at, Reason: canary.ReasonNewRevision, Phase: canary.PhaseProgressing, Weights: canary.AllPrimary()})
			for w := 10; w <= 50; w += 10 {
				at = at.Add(10 * time.Second)
				observe(canary.Event{Time: at, TickStarted: at.Add(-time.Second), Reason: canary.ReasonAdvanced,
					Phase: canary.PhaseProgressing, Weights: canary.CanaryWeight(w), Checks: checks})
			}
			observe(canary.Event{Time: at, TickStarted: at.Add(-time.Second), Reason: canary.ReasonPromoting,
				Phase: canary.PhaseProgressing, Weights: canary.CanaryWeight(50), Checks: checks})
			observe(canary.Event{Time: at, Reason: canary.ReasonSucceeded, Phase: canary.PhaseSucceeded, Weights: canary.AllPrimary()})
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perTarget = float64(after.HeapAlloc-before.HeapAlloc) / targets
		runtime.KeepAlive(c)
	}
	b.ReportMetric(perTarget, "B/target")
}
