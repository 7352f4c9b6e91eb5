package selfmetrics_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/metrics/selfmetrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/exposition.txt from the Collector's output")

// scenario feeds c the events of several targets in two namespaces: promotions, a rollback,
// a skipped analysis, a dry-run metric, an A/B test, spec edits, restores and a forgotten
// target; every series kind of the Collector is in its exposition.
func scenario(c *selfmetrics.Collector) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	next := func(d time.Duration) time.Time { at = at.Add(d); return at }
	pass := func(rate, p99 float64) []canary.CheckResult {
		return []canary.CheckResult{{Name: "request-success-rate", Value: rate, Verdict: canary.VerdictPass},
			{Name: "request-duration", Value: p99, Verdict: canary.VerdictPass}}
	}
	step := func(observe func(canary.Event), tg canary.Target, w int, checks []canary.CheckResult) {
		tick := next(10 * time.Second)
		observe(canary.Event{Target: tg, Time: next(1500 * time.Millisecond), TickStarted: tick, Reason: canary.ReasonAdvanced,
			Phase: canary.PhaseProgressing, Weights: canary.CanaryWeight(w), Checks: checks})
	}
	end := func(observe func(canary.Event), tg canary.Target, r canary.Reason, p canary.Phase, cause canary.Cause) {
		observe(canary.Event{Target: tg, Time: next(time.Second), Reason: r, Phase: p, Weights: canary.AllPrimary(), Cause: cause})
	}

	// a: promoted, then its spec loses request-duration and gains a latency metric
	a := canary.Target{Namespace: "apps", Name: "a"}
	obsA := c.For(a, spec())
	obsA(canary.Event{Target: a, Time: next(time.Second), Reason: canary.ReasonNewRevision, Phase: canary.PhaseProgressing, Weights: canary.AllPrimary()})
	step(obsA, a, 10, nil)
	step(obsA, a, 20, pass(99.9, 120))
	step(obsA, a, 30, pass(99.5, 2500))
	tick := next(10 * time.Second)
	obsA(canary.Event{Target: a, Time: next(700 * time.Millisecond), TickStarted: tick, Reason: canary.ReasonPromoting,
		Phase: canary.PhaseProgressing, Weights: canary.CanaryWeight(30), Checks: pass(99.7, 90)})
	end(obsA, a, canary.ReasonSucceeded, canary.PhaseSucceeded, canary.CausePromoted)
	edited := spec()
	edited.Metrics = []canary.Metric{edited.Metrics[0], {Name: "latency", Query: "q", ThresholdRange: canary.Between(0.1, 0.5)}}
	c.For(a, edited)

	// b: analysis skipped, promoted
	b := canary.Target{Namespace: "apps", Name: "b"}
	skip := spec()
	skip.SkipAnalysis = true
	obsB := c.For(b, skip)
	obsB(canary.Event{Target: b, Time: next(time.Second), Reason: canary.ReasonNewRevision, Phase: canary.PhaseProgressing, Weights: canary.AllPrimary()})
	end(obsB, b, canary.ReasonSucceeded, canary.PhaseSucceeded, canary.CauseAnalysisSkipped)

	// c: an A/B test with a dry-run metric, halted twice and rolled back
	cc := canary.Target{Namespace: "web", Name: "c"}
	ab := spec()
	ab.Iterations, ab.StepWeight, ab.MaxWeight = 3, 0, 0
	ab.Match = []canary.Match{{Headers: map[string]canary.StringMatch{"x-canary": {Exact: "insider"}}}}
	ab.Metrics[1].DryRun = true
	obsC := c.For(cc, ab)
	obsC(canary.Event{Target: cc, Time: next(time.Second), Reason: canary.ReasonNewRevision, Phase: canary.PhaseProgressing, Weights: canary.AllPrimary()})
	for i := range 2 {
		tick := next(10 * time.Second)
		checks := []canary.CheckResult{{Name: "request-success-rate", Value: 80, Verdict: canary.VerdictFail},
			{Name: "request-duration", Value: 900, Verdict: canary.VerdictFail, DryRun: true},
			{Name: "not-in-spec", Value: 1, Verdict: canary.VerdictPass}}
		obsC(canary.Event{Target: cc, Time: next(300 * time.Millisecond), TickStarted: tick, Reason: canary.ReasonHalted,
			Phase: canary.PhaseProgressing, Weights: canary.AllCanary(), FailedChecks: i + 1, Checks: checks, Check: "request-success-rate"})
	}
	tick = next(10 * time.Second)
	obsC(canary.Event{Target: cc, Time: next(time.Second), TickStarted: tick, Reason: canary.ReasonNoData, Phase: canary.PhaseProgressing,
		Weights: canary.AllCanary(), FailedChecks: 2, Checks: []canary.CheckResult{{Name: "request-success-rate", Verdict: canary.VerdictNoData}}})
	obsC(canary.Event{Target: cc, Time: next(time.Second), Reason: canary.ReasonRollingBack, Phase: canary.PhaseProgressing,
		Weights: canary.AllCanary(), FailedChecks: 2, Cause: canary.CauseThreshold})
	end(obsC, cc, canary.ReasonFailed, canary.PhaseFailed, canary.CauseThreshold)

	// d: restored from a saved status by a new process, then a failure whose start it never saw
	d := canary.Target{Namespace: "web", Name: "d"}
	obsD := c.For(d, spec())
	c.Restore(d, canary.Status{Phase: canary.PhaseProgressing, CanaryWeight: 40, FailedChecks: 1})
	obsD(canary.Event{Target: d, Time: next(time.Second), Reason: canary.ReasonFailed, Phase: canary.PhaseFailed,
		Weights: canary.AllPrimary(), Cause: canary.CauseProgressDeadline})

	// e: declared, waiting at a gate, then forgotten with its series
	e := canary.Target{Namespace: "web", Name: "e"}
	obsE := c.For(e, spec())
	obsE(canary.Event{Target: e, Time: next(time.Second), Reason: canary.ReasonWaiting, Phase: canary.PhaseWaiting})
	c.Forget(e)
	obsE(canary.Event{Target: e, Time: next(time.Second), Reason: canary.ReasonSucceeded, Phase: canary.PhaseSucceeded})

	// f: only declared
	c.For(canary.Target{Namespace: "idle", Name: "f"}, spec())
}

// The exposition of a scenario covering every series kind is the one recorded in
// testdata/exposition.txt (go test -run TestExposition -update rewrites it): names, help,
// types, label sets, values and histogram buckets as Flagger's dashboards and alerts read
// them.
func TestExposition(t *testing.T) {
	c := selfmetrics.New(selfmetrics.Options{Version: "1.2.3", MeshProvider: "linkerd"})
	scenario(c)
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var got bytes.Buffer
	for _, mf := range mfs {
		_, err := expfmt.MetricFamilyToText(&got, mf)
		require.NoError(t, err)
	}
	path := filepath.Join("testdata", "exposition.txt")
	if *update {
		require.NoError(t, os.WriteFile(path, got.Bytes(), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(want), got.String())
}
