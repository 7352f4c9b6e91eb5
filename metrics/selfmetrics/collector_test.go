package selfmetrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/canarykit/canarykit/metrics/selfmetrics"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A promotion, event by event as a Rollout emits them: the weight goes through the steps and
// back to the primary, the status is 0 while Progressing and 1 at the end, one success is
// counted, each analysis tick is timed, and the checks' last values are exported in Flagger's
// units next to their thresholds.
func TestPromotion(t *testing.T) {
	c := selfmetrics.New(selfmetrics.Options{Version: "1.2.3", MeshProvider: "linkerd"})
	reg := registry(t, c)
	env := canarytest.NewEnv(podinfo)
	env.Metrics.Set("request-success-rate", canarytest.Constant(99.9))
	env.Metrics.Set("request-duration", canarytest.Constant(120)) // ms
	bootstrap(t, env, spec(), "v1")
	slowQueries(env, 2*time.Second)

	res, rec := release(t, env, spec(), reg, c.For(podinfo, spec()))
	require.Equal(t, canary.PhaseSucceeded, res.Phase)

	assert.Equal(t, []float64{0, 10, 20, 30, 0}, rec.weights, "canary weight through the steps")
	assert.Equal(t, []float64{0, 1}, rec.statuses, "Progressing, then Promoting/Finalising/Succeeded")
	assert.Equal(t, 100.0, mustValue(t, reg, "flagger_canary_weight", lbl("workload", "podinfo-primary", "namespace", "test")))
	assert.Equal(t, 1.0, mustValue(t, reg, "flagger_canary_status", lbl("name", "podinfo", "namespace", "test")))
	assert.Equal(t, 1.0, mustValue(t, reg, "flagger_canary_total", lbl("namespace", "test")))
	assert.Equal(t, 1.0, mustValue(t, reg, "flagger_info", lbl("version", "1.2.3", "mesh_provider", "linkerd")))
	assert.Equal(t, 1.0, mustValue(t, reg, "flagger_canary_successes_total",
		lbl("name", "podinfo", "deployment_strategy", "canary", "analysis_status", "completed")))
	assert.Equal(t, 0.0, mustValue(t, reg, "flagger_canary_failures_total", lbl("name", "podinfo")))

	// ticks: 10 (no checks yet), 20 and 30 (two 2 s queries each), 30 again → promotion (two queries)
	d, ok := find(t, reg, "flagger_canary_duration_seconds", lbl("name", "podinfo", "namespace", "test"))
	require.True(t, ok)
	assert.Equal(t, 4.0, d.value, "analysis ticks timed")
	assert.Equal(t, 12.0, d.sum, "seconds spent in them")

	assert.InDelta(t, 99.9, mustValue(t, reg, "flagger_canary_metric_analysis", lbl("metric", "request-success-rate")), 1e-9)
	assert.InDelta(t, 0.12, mustValue(t, reg, "flagger_canary_metric_analysis", lbl("metric", "request-duration")), 1e-9,
		"Flagger's request-duration in seconds")
	assert.Equal(t, 99.0, mustValue(t, reg, "canarykit_canary_metric_threshold", lbl("metric", "request-success-rate", "bound", "min")))
	assert.Equal(t, 0.5, mustValue(t, reg, "canarykit_canary_metric_threshold", lbl("metric", "request-duration", "bound", "max")))
	// the ticks at 20 and 30 %, and the promotion's (its results go with the Promoting event)
	assert.Equal(t, 3.0, mustValue(t, reg, "canarykit_canary_checks_total", lbl("metric", "request-success-rate", "verdict", "Pass")))
	assert.Equal(t, 1.0, mustValue(t, reg, "canarykit_canary_phase", lbl("phase", "Succeeded")))
	assert.Equal(t, 0.0, mustValue(t, reg, "canarykit_canary_phase", lbl("phase", "Progressing")))
	assert.Equal(t, 0.0, mustValue(t, reg, "canarykit_canary_failed_checks", lbl("name", "podinfo")))
	rd, ok := find(t, reg, "canarykit_canary_release_duration_seconds", lbl("name", "podinfo", "phase", "Succeeded"))
	require.True(t, ok)
	assert.Equal(t, 1.0, rd.value)
	assert.Equal(t, res.Finished.Sub(res.Started).Seconds(), rd.sum, "from the new revision to Succeeded")
}

// A rollback: checks fail until the threshold, the status ends 2 (Failed), the failure is
// counted with its cause, the failed checks and their verdicts show, and traffic is back on
// the primary.
func TestRollback(t *testing.T) {
	c := selfmetrics.New(selfmetrics.Options{})
	reg := registry(t, c)
	env := canarytest.NewEnv(podinfo)
	env.Metrics.Set("request-success-rate", canarytest.Constant(90))
	env.Metrics.Set("request-duration", canarytest.Constant(120))
	bootstrap(t, env, spec(), "v1")

	res, rec := release(t, env, spec(), reg, c.For(podinfo, spec()))
	require.Equal(t, canary.PhaseFailed, res.Phase)

	assert.Equal(t, []float64{0, 10, 0}, rec.weights, "one step, then back to the primary")
	assert.Equal(t, []float64{0, 2}, rec.statuses)
	assert.Equal(t, 2.0, mustValue(t, reg, "flagger_canary_status", lbl("name", "podinfo")))
	assert.Equal(t, 100.0, mustValue(t, reg, "flagger_canary_weight", lbl("workload", "podinfo-primary")))
	assert.Equal(t, 1.0, mustValue(t, reg, "flagger_canary_failures_total",
		lbl("name", "podinfo", "deployment_strategy", "canary", "analysis_status", "completed")))
	assert.Equal(t, 0.0, mustValue(t, reg, "flagger_canary_successes_total", lbl("name", "podinfo")))
	assert.Equal(t, 1.0, mustValue(t, reg, "canarykit_canary_failure_causes_total", lbl("cause", "threshold")))
	assert.Equal(t, 2.0, mustValue(t, reg, "canarykit_canary_failed_checks", lbl("name", "podinfo")))
	assert.Equal(t, 2.0, mustValue(t, reg, "canarykit_canary_checks_total", lbl("metric", "request-success-rate", "verdict", "Fail")))
	assert.Equal(t, 2.0, mustValue(t, reg, "canarykit_canary_checks_total", lbl("metric", "request-duration", "verdict", "Pass")))
	assert.Equal(t, 90.0, mustValue(t, reg, "flagger_canary_metric_analysis", lbl("metric", "request-success-rate")))
	rd, ok := find(t, reg, "canarykit_canary_release_duration_seconds", lbl("phase", "Failed"))
	require.True(t, ok)
	assert.Equal(t, 1.0, rd.value)
	// one tick halted by a failing check, however many Halted events it emitted
	d, _ := find(t, reg, "flagger_canary_duration_seconds", lbl("name", "podinfo"))
	assert.Equal(t, 3.0, d.value, "ticks: step 10, two halts")
}

// The strategy and the analysis status label the counters as Flagger does.
func TestCounterLabels(t *testing.T) {
	for _, tc := range []struct {
		name     string
		spec     func(canary.Spec) canary.Spec
		strategy string
		status   string
	}{
		{"blue-green", func(s canary.Spec) canary.Spec { s.Iterations, s.StepWeight, s.MaxWeight = 2, 0, 0; return s }, "blue-green", "completed"},
		{"ab-testing", func(s canary.Spec) canary.Spec {
			s.Iterations, s.StepWeight, s.MaxWeight = 2, 0, 0
			s.Match = []canary.Match{{Headers: map[string]canary.StringMatch{"x-canary": {Exact: "insider"}}}}
			return s
		}, "ab-testing", "completed"},
		{"skip-analysis", func(s canary.Spec) canary.Spec { s.SkipAnalysis = true; return s }, "canary", "skipped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := selfmetrics.New(selfmetrics.Options{})
			reg := registry(t, c)
			env := canarytest.NewEnv(podinfo)
			env.Metrics.Set("request-success-rate", canarytest.Constant(99.9))
			env.Metrics.Set("request-duration", canarytest.Constant(120))
			s := tc.spec(spec())
			bootstrap(t, env, s, "v1")
			res, _ := release(t, env, s, reg, c.For(podinfo, s))
			require.Equal(t, canary.PhaseSucceeded, res.Phase, res.Reason)
			assert.Equal(t, 1.0, mustValue(t, reg, "flagger_canary_successes_total",
				lbl("deployment_strategy", tc.strategy, "analysis_status", tc.status)))
		})
	}
}

// flagger_canary_status maps phases as Flagger does: only Progressing is 0 and only Failed 2.
func TestStatusOfEachPhase(t *testing.T) {
	want := map[canary.Phase]float64{
		canary.PhaseInitializing: 1, canary.PhaseInitialized: 1, canary.PhaseWaiting: 1, canary.PhaseProgressing: 0,
		canary.PhaseWaitingPromotion: 1, canary.PhasePromoting: 1, canary.PhaseFinalising: 1, canary.PhaseSucceeded: 1,
		canary.PhaseFailed: 2,
	}
	c := selfmetrics.New(selfmetrics.Options{})
	reg := registry(t, c)
	observe := c.For(podinfo, spec())
	for p, v := range want {
		observe(canary.Event{Target: podinfo, Reason: canary.ReasonError, Phase: p})
		assert.Equal(t, v, mustValue(t, reg, "flagger_canary_status", lbl("name", "podinfo")), p)
		assert.Equal(t, 1.0, mustValue(t, reg, "canarykit_canary_phase", lbl("phase", string(p))), p)
		assert.Equal(t, 9, testutil.CollectAndCount(c, "canarykit_canary_phase"), "one series per phase")
	}
}

// NoData and Unavailable checks are counted but leave the last value; check names that are not
// the Spec's become no label value; the events of one tick are counted once.
func TestChecksOfOneTick(t *testing.T) {
	c := selfmetrics.New(selfmetrics.Options{})
	reg := registry(t, c)
	observe := c.For(podinfo, spec())
	at := canarytest.Epoch()
	tick := func(start time.Time, reason canary.Reason, checks ...canary.CheckResult) {
		observe(canary.Event{Target: podinfo, Reason: reason, Phase: canary.PhaseProgressing, Time: start.Add(time.Second),
			TickStarted: start, Checks: checks, Weights: canary.CanaryWeight(10)})
	}
	pass := canary.CheckResult{Name: "request-success-rate", Value: 99.5, Verdict: canary.VerdictPass}
	tick(at, canary.ReasonAdvanced, pass, canary.CheckResult{Name: "request-duration", Value: 250, Verdict: canary.VerdictPass})
	noData := canary.CheckResult{Name: "request-success-rate", Verdict: canary.VerdictNoData}
	unavailable := canary.CheckResult{Name: "request-duration", Verdict: canary.VerdictUnavailable}
	// two NoData/Unavailable events of one tick, plus a check nobody declared
	stranger := canary.CheckResult{Name: "injected\"name", Value: 1, Verdict: canary.VerdictFail}
	tick(at.Add(time.Minute), canary.ReasonNoData, noData, unavailable, stranger)
	tick(at.Add(time.Minute), canary.ReasonUnavailable, noData, unavailable, stranger)

	assert.Equal(t, 99.5, mustValue(t, reg, "flagger_canary_metric_analysis", lbl("metric", "request-success-rate")))
	assert.Equal(t, 0.25, mustValue(t, reg, "flagger_canary_metric_analysis", lbl("metric", "request-duration")))
	assert.Equal(t, 1.0, mustValue(t, reg, "canarykit_canary_checks_total", lbl("metric", "request-success-rate", "verdict", "NoData")))
	assert.Equal(t, 1.0, mustValue(t, reg, "canarykit_canary_checks_total", lbl("metric", "request-duration", "verdict", "Unavailable")))
	assert.Equal(t, 4, testutil.CollectAndCount(c, "canarykit_canary_checks_total"))
	assert.Equal(t, 2, testutil.CollectAndCount(c, "flagger_canary_metric_analysis"), "no series for the undeclared check")
	d, _ := find(t, reg, "flagger_canary_duration_seconds", lbl("name", "podinfo"))
	assert.Equal(t, 2.0, d.value, "two ticks")
	assert.Equal(t, 2.0, d.sum, "a second each")
}

// Forget removes every series of the target and the count; the target's callback records
// nothing afterwards; other targets keep theirs; a target declared again starts afresh.
func TestForget(t *testing.T) {
	c := selfmetrics.New(selfmetrics.Options{})
	reg := registry(t, c)
	env := canarytest.NewEnv(podinfo)
	env.Metrics.Set("request-success-rate", canarytest.Constant(99.9))
	env.Metrics.Set("request-duration", canarytest.Constant(120))
	bootstrap(t, env, spec(), "v1")
	observe := c.For(podinfo, spec())
	other := canary.Target{Namespace: "test", Name: "backend"}
	c.For(other, spec())(canary.Event{Target: other, Reason: canary.ReasonInitialized, Phase: canary.PhaseInitialized,
		Weights: canary.AllPrimary()})
	res, _ := release(t, env, spec(), reg, observe)
	require.Equal(t, canary.PhaseSucceeded, res.Phase)
	assert.Equal(t, 2.0, mustValue(t, reg, "flagger_canary_total", lbl("namespace", "test")))

	c.Forget(podinfo)
	for _, name := range names(t, reg) {
		for _, s := range gather(t, reg, name) {
			assert.NotEqual(t, "podinfo", s.labels["name"], "%s%v after Forget", name, s.labels)
			assert.NotContains(t, []string{"podinfo", "podinfo-primary"}, s.labels["workload"], "%s%v after Forget", name, s.labels)
		}
	}
	assert.Equal(t, 1.0, mustValue(t, reg, "flagger_canary_total", lbl("namespace", "test")))
	assert.Equal(t, 1.0, mustValue(t, reg, "flagger_canary_status", lbl("name", "backend")), "the other target's series stay")

	observe(canary.Event{Target: podinfo, Reason: canary.ReasonError, Phase: canary.PhaseProgressing, Weights: canary.CanaryWeight(10)})
	_, ok := value(t, reg, "flagger_canary_status", lbl("name", "podinfo"))
	assert.False(t, ok, "a late event of a forgotten target records nothing")

	c.Forget(other)
	c.Forget(other) // twice: nothing more
	assert.Equal(t, []string{"flagger_info"}, names(t, reg), "only flagger_info is left: %s", joined(names(t, reg)))

	c.For(podinfo, spec())(canary.Event{Target: podinfo, Reason: canary.ReasonNewRevision, Phase: canary.PhaseProgressing})
	assert.Equal(t, 1.0, mustValue(t, reg, "flagger_canary_total", lbl("namespace", "test")))
	assert.Equal(t, 0.0, mustValue(t, reg, "flagger_canary_status", lbl("name", "podinfo")))
}

// Declaring a target again with another Spec (its Canary edited) keeps one count and drops
// the series of metrics the Spec no longer has.
func TestForAgainFollowsTheSpec(t *testing.T) {
	c := selfmetrics.New(selfmetrics.Options{})
	reg := registry(t, c)
	observe := c.For(podinfo, spec())
	observe(canary.Event{Target: podinfo, Reason: canary.ReasonAdvanced, Phase: canary.PhaseProgressing, Checks: []canary.CheckResult{
		{Name: "request-success-rate", Value: 99.5, Verdict: canary.VerdictPass},
		{Name: "request-duration", Value: 250, Verdict: canary.VerdictPass}}})
	assert.Equal(t, 2, testutil.CollectAndCount(c, "flagger_canary_metric_analysis"))

	edited := spec()
	edited.Metrics = edited.Metrics[:1]
	edited.Metrics[0].ThresholdRange = canary.Between(95, 100)
	edited.Iterations, edited.StepWeight, edited.MaxWeight = 3, 0, 0
	c.For(podinfo, edited)
	assert.Equal(t, 1.0, mustValue(t, reg, "flagger_canary_total", lbl("namespace", "test")), "one target")
	assert.Equal(t, 1, testutil.CollectAndCount(c, "flagger_canary_metric_analysis"))
	assert.Equal(t, 95.0, mustValue(t, reg, "canarykit_canary_metric_threshold", lbl("metric", "request-success-rate", "bound", "min")))
	assert.Equal(t, 100.0, mustValue(t, reg, "canarykit_canary_metric_threshold", lbl("metric", "request-success-rate", "bound", "max")))
	assert.Equal(t, 2, testutil.CollectAndCount(c, "canarykit_canary_metric_threshold"))
	_, ok := value(t, reg, "flagger_canary_successes_total", lbl("deployment_strategy", "blue-green"))
	assert.True(t, ok, "the counters of the new strategy start at zero")
}

// The exposition passes client_golang's lint, but for Flagger's own gauge named *_total.
func TestLint(t *testing.T) {
	c := selfmetrics.New(selfmetrics.Options{})
	c.For(podinfo, spec())(canary.Event{Target: podinfo, Reason: canary.ReasonNewRevision, Phase: canary.PhaseProgressing,
		Weights: canary.AllPrimary()})
	problems, err := testutil.CollectAndLint(c)
	require.NoError(t, err)
	for _, p := range problems {
		if p.Metric == "flagger_canary_total" && strings.Contains(p.Text, `"_total" suffix`) {
			continue // Flagger's name, kept for its users' queries
		}
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// Many targets reporting at once, from their own goroutines.
func TestConcurrentTargets(t *testing.T) {
	c := selfmetrics.New(selfmetrics.Options{})
	reg := registry(t, c)
	const n = 16
	done := make(chan struct{})
	for i := range n {
		tg := canary.Target{Namespace: "ns" + string(rune('a'+i%4)), Name: "app" + string(rune('a'+i))}
		go func() {
			defer func() { done <- struct{}{} }()
			observe := c.For(tg, spec())
			for w := 0; w <= 50; w += 10 {
				observe(canary.Event{Target: tg, Reason: canary.ReasonAdvanced, Phase: canary.PhaseProgressing,
					Weights: canary.CanaryWeight(w), Checks: []canary.CheckResult{{Name: "request-success-rate", Value: 99, Verdict: canary.VerdictPass}}})
			}
			observe(canary.Event{Target: tg, Reason: canary.ReasonSucceeded, Phase: canary.PhaseSucceeded, Weights: canary.AllPrimary()})
			if i%2 == 0 {
				c.Forget(tg)
			}
		}()
	}
	for range n {
		<-done
	}
	total := 0.0
	for _, s := range gather(t, reg, "flagger_canary_total") {
		total += s.value
	}
	assert.Equal(t, float64(n/2), total, "targets left")
	assert.Equal(t, n/2, testutil.CollectAndCount(c, "flagger_canary_status"))
	assert.Equal(t, n, testutil.CollectAndCount(c, "flagger_canary_weight"), "primary and canary per target left")
	for _, s := range gather(t, reg, "flagger_canary_successes_total") {
		if s.labels["deployment_strategy"] == "canary" {
			assert.Equal(t, 1.0, s.value, s.labels)
		}
	}
}

// A process that starts over a target whose last release failed shows it at once from the
// saved status, before any event; an undeclared target's status records nothing.
func TestRestore(t *testing.T) {
	c := selfmetrics.New(selfmetrics.Options{})
	reg := registry(t, c)
	c.Restore(podinfo, canary.Status{Phase: canary.PhaseFailed})
	_, ok := value(t, reg, "flagger_canary_status", lbl("name", "podinfo"))
	assert.False(t, ok, "not declared yet")

	c.For(podinfo, spec())
	c.Restore(podinfo, canary.Status{Phase: canary.PhaseFailed, FailedChecks: 5})
	assert.Equal(t, 2.0, mustValue(t, reg, "flagger_canary_status", lbl("name", "podinfo")))
	assert.Equal(t, 1.0, mustValue(t, reg, "canarykit_canary_phase", lbl("name", "podinfo", "phase", "Failed")))
	assert.Equal(t, 5.0, mustValue(t, reg, "canarykit_canary_failed_checks", lbl("name", "podinfo")))
	assert.Equal(t, 100.0, mustValue(t, reg, "flagger_canary_weight", lbl("workload", "podinfo-primary")))
	assert.Equal(t, 0.0, mustValue(t, reg, "flagger_canary_weight", lbl("workload", "podinfo")))

	c.Restore(podinfo, canary.Status{Phase: canary.PhaseProgressing, CanaryWeight: 40})
	assert.Equal(t, 0.0, mustValue(t, reg, "flagger_canary_status", lbl("name", "podinfo")))
	assert.Equal(t, 40.0, mustValue(t, reg, "flagger_canary_weight", lbl("workload", "podinfo")))
	c.Restore(podinfo, canary.Status{})
	assert.Equal(t, 0.0, mustValue(t, reg, "flagger_canary_status", lbl("name", "podinfo")), "no phase: nothing recorded")
}

// Names that cannot be label values — not UTF-8, too long, empty — are not exported, and
// nothing panics (client_golang panics on an invalid label value).
func TestUnfitNamesAreNotExported(t *testing.T) {
	c := selfmetrics.New(selfmetrics.Options{Version: "v\xff1", MeshProvider: strings.Repeat("m", 300)})
	reg := registry(t, c)
	info := gather(t, reg, "flagger_info")
	require.Len(t, info, 1)
	assert.Equal(t, "v?1", info[0].labels["version"])
	assert.Len(t, info[0].labels["mesh_provider"], selfmetrics.MaxLabelLength)

	for _, tg := range []canary.Target{{Namespace: "test", Name: "bad\xffname"}, {Namespace: strings.Repeat("n", 254), Name: "podinfo"},
		{Namespace: "test"}} {
		observe := c.For(tg, spec())
		assert.NotPanics(t, func() {
			observe(canary.Event{Target: tg, Reason: canary.ReasonSucceeded, Phase: canary.PhaseSucceeded, Weights: canary.AllPrimary()})
		})
	}
	assert.Equal(t, []string{"flagger_info"}, names(t, reg), "no series of unfit targets")

	s := spec()
	s.Metrics = append(s.Metrics, canary.Metric{Name: "latency\xff", ThresholdRange: canary.AtMost(1)},
		canary.Metric{Name: strings.Repeat("x", 254), ThresholdRange: canary.AtMost(1)})
	observe := c.For(podinfo, s)
	assert.NotPanics(t, func() {
		observe(canary.Event{Target: podinfo, Reason: canary.ReasonAdvanced, Phase: canary.PhaseProgressing, Checks: []canary.CheckResult{
			{Name: "latency\xff", Value: 1, Verdict: canary.VerdictPass}, {Name: strings.Repeat("x", 254), Value: 1, Verdict: canary.VerdictPass},
			{Name: "request-success-rate", Value: 99.5, Verdict: canary.VerdictPass}}})
	})
	assert.Equal(t, 1, testutil.CollectAndCount(c, "flagger_canary_metric_analysis"))
	assert.Equal(t, 2, testutil.CollectAndCount(c, "canarykit_canary_metric_threshold"), "the spec's two fit metrics")
}

// A dry-run metric's checks are counted apart: its failures do not look like failed checks in
// canarykit_canary_checks_total, and the release that it would have failed is promoted.
func TestDryRunChecksAreCountedApart(t *testing.T) {
	c := selfmetrics.New(selfmetrics.Options{})
	reg := registry(t, c)
	s := spec()
	s.Metrics[1].DryRun = true
	env := canarytest.NewEnv(podinfo)
	env.Metrics.Set("request-success-rate", canarytest.Constant(99.9))
	env.Metrics.Set("request-duration", canarytest.Constant(900)) // over its 500 ms: fails, dry
	bootstrap(t, env, s, "v1")

	res, _ := release(t, env, s, reg, c.For(podinfo, s))
	require.Equal(t, canary.PhaseSucceeded, res.Phase, res.Reason)

	_, failed := value(t, reg, "canarykit_canary_checks_total", lbl("metric", "request-duration", "verdict", "Fail"))
	assert.False(t, failed, "no failed check of the dry-run metric among the real ones")
	assert.Equal(t, 1, testutil.CollectAndCount(c, "canarykit_canary_checks_total"), "only request-success-rate's Pass")
	// the ticks at 10, 20 and 30 %: the last one's results go with its promotion
	assert.Equal(t, 3.0, mustValue(t, reg, "canarykit_canary_checks_total", lbl("metric", "request-success-rate", "verdict", "Pass")))
	assert.Equal(t, 3.0, mustValue(t, reg, "canarykit_canary_dry_run_checks_total", lbl("metric", "request-duration", "verdict", "Fail")),
		"the dry-run verdicts, three ticks' worth")
	assert.Equal(t, 1, testutil.CollectAndCount(c, "canarykit_canary_dry_run_checks_total"))
	assert.Equal(t, 0.0, mustValue(t, reg, "canarykit_canary_failed_checks", lbl("name", "podinfo")))
	assert.Equal(t, 0.9, mustValue(t, reg, "flagger_canary_metric_analysis", lbl("metric", "request-duration")),
		"the value measured is exported as for any metric")

	c.Forget(podinfo)
	assert.Equal(t, 0, testutil.CollectAndCount(c, "canarykit_canary_dry_run_checks_total"), "forgotten with the target")
}

// A target named like another target's primary shares its weight series: the scrape holds
// that series once, with the last value written, and forgetting either target removes it.
func TestATargetNamedLikeAnotherTargetsPrimary(t *testing.T) {
	c := selfmetrics.New(selfmetrics.Options{})
	reg := registry(t, c)
	primary := canary.Target{Namespace: "test", Name: "podinfo-primary"}
	c.For(podinfo, spec())
	c.For(primary, spec())
	c.Restore(podinfo, canary.Status{Phase: canary.PhaseProgressing, CanaryWeight: 30}) // podinfo-primary 70
	c.Restore(primary, canary.Status{Phase: canary.PhaseProgressing, CanaryWeight: 20}) // podinfo-primary 20
	assert.Equal(t, 20.0, mustValue(t, reg, "flagger_canary_weight", lbl("workload", "podinfo-primary")), "the last value written")
	assert.Equal(t, 30.0, mustValue(t, reg, "flagger_canary_weight", lbl("workload", "podinfo")))
	assert.Equal(t, 80.0, mustValue(t, reg, "flagger_canary_weight", lbl("workload", "podinfo-primary-primary")))

	c.Forget(podinfo)
	_, ok := value(t, reg, "flagger_canary_weight", lbl("workload", "podinfo-primary"))
	assert.False(t, ok, "forgotten with podinfo's primary")
	assert.Equal(t, 80.0, mustValue(t, reg, "flagger_canary_weight", lbl("workload", "podinfo-primary-primary")))
}

// Every cause of failure the engine gives is counted under its own value of the cause label;
// other is for a cause the Collector does not know.
func TestEveryFailureCauseHasItsLabel(t *testing.T) {
	failures := []canary.Cause{canary.CauseThreshold, canary.CauseRollbackHook, canary.CauseAborted,
		canary.CauseProgressDeadline, canary.CauseReverted, canary.CausePromotionFailed, canary.CauseSplitNotFollowed}
	c := selfmetrics.New(selfmetrics.Options{})
	reg := registry(t, c)
	on := c.For(podinfo, spec())
	for _, cause := range append(failures, canary.Cause("unheard-of")) {
		on(canary.Event{Target: podinfo, Reason: canary.ReasonFailed, Phase: canary.PhaseFailed, Cause: cause, Time: time.Now()})
	}
	for _, cause := range failures {
		assert.Equal(t, 1.0, mustValue(t, reg, "canarykit_canary_failure_causes_total", lbl("cause", string(cause))), cause)
	}
	assert.Equal(t, 1.0, mustValue(t, reg, "canarykit_canary_failure_causes_total", lbl("cause", "other")))
}
