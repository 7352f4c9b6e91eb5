package metrics

import (
	"context"
	"flag"
	"fmt"
	"hash/fnv"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
)

// The decision-quality benchmark runs a seeded corpus of synthetic canary releases through
// whole Rollouts in virtual time with each method — Flagger's threshold-only Linkerd checks,
// the per-tick judge (20 and 60 samples), the sequential test — and reports how often each
// rolls back, where the regressions were stopped and what they served before, and one summary
// line per method (-quality.only and -quality.class narrow the run):
//
//	go test -run '^$' -bench DecisionQuality -benchtime 1x -timeout 60m ./metrics
var qualityN = flag.Int("quality.n", 1000, "synthetic canaries per class in BenchmarkDecisionQuality")

// class is one kind of release in the corpus.
type class struct {
	name string
	bad  bool // a regression: rolling back is right
	t    traffic
}

// qualityClasses: a service at 200 req/s with 0.5 % errors and a p99 of 350 ms, and the
// releases the issue lists.
func qualityClasses() []class {
	base := traffic{RPS: 200, ErrorRate: 0.005, P99: 350, Sigma: 0.55, ErrorFactor: 1, LatencyFactor: 1}
	with := func(f func(*traffic)) traffic { t := base; f(&t); return t }
	return []class{
		{"good", false, base},
		{"2× error rate", true, with(func(t *traffic) { t.ErrorFactor = 2 })},
		{"+50 % latency", true, with(func(t *traffic) { t.LatencyFactor = 1.5 })},
		{"noisy (good)", false, with(func(t *traffic) { t.Noise, t.Spikes = 0.5, 0.02 })},
		{"low traffic (good, 20 req/s)", false, with(func(t *traffic) { t.RPS = 20 })},
	}
}

// method is how a release is analysed: Flagger's threshold-only checks (success rate ≥ 99 %,
// p99 ≤ 500 ms over 1 m); the judge holding at a weight until each side has `samples` buckets
// of 30 s; or the sequential test on the error counts, holding until its evidence decides (and
// at least `samples` buckets).
type method struct {
	name    string // the column's title
	key     string // the summary line's method=
	samples int
}

var (
	thresholdOnly = method{name: "threshold-only (Flagger)", key: "threshold"}
	judge20       = method{name: "judge, 20 samples", key: "judge", samples: 20}
	judge60       = method{name: "judge, 60 samples", key: "judge", samples: 60}
	sequential20  = method{name: "sequential, 20 samples", key: "sequential", samples: 20}
)

// judgeWindow is how many 30 s buckets the judge compares at least (20 minutes).
const judgeWindow = 40

// benchJudgeMetrics is the judge's configuration in the benchmark: both metrics bad when
// they rise, errors critical, minSamples buckets per side before a verdict (10 minutes of
// canary traffic for 20).
func benchJudgeMetrics(minSamples int) []JudgeMetric {
	return []JudgeMetric{
		{Name: "error-ratio", Direction: DirectionIncrease, Critical: true, MinSamples: minSamples},
		{Name: "latency-p99", Direction: DirectionIncrease, MinSamples: minSamples},
	}
}

// benchSequentialOptions is the sequential test's configuration in the benchmark: the
// defaults (false rollbacks and missed 2× regressions each at most 1 %), and at least
// `samples` buckets of canary traffic before it passes.
func benchSequentialOptions(src CountSource, samples int) SequentialOptions {
	return SequentialOptions{Source: src, MinSamples: samples, LearningRate: *seqEta, Tolerance: *seqTol}
}

var (
	qualityClass = flag.String("quality.class", "", "run only the classes whose name contains this")
	qualityOnly  = flag.String("quality.only", "", "run only this method (threshold, judge, sequential)")
	seqEta       = flag.Float64("quality.eta", 0, "learning rate of the sequential test (0: default)")
	seqTol       = flag.Float64("quality.tol", 0, "tolerance of the sequential test (0: default)")
)

// qualitySpec is the analysis both methods run: the podinfo demo Canary's 5 % steps to 50 %, one tick a
// minute, rollback at 5 failed checks.
func qualitySpec() canary.Spec {
	return canary.Spec{Interval: time.Minute, StepWeight: 5, MaxWeight: 50, Threshold: 5}
}

// outcome is what one release did.
type outcome struct {
	rolledBack bool
	undecided  bool // still analysing after maxRelease: aborted
	maxWeight  int  // the highest canary weight set: where a rolled-back release was stopped
	served     int  // requests the canary served in the release
	duration   time.Duration
}

// maxRelease bounds a release in virtual time (a judge that holds forever would spin).
const maxRelease = 6 * time.Hour

// tracking routes through the Env's router and brings the world up to date before each
// weight change, so every bucket is generated at the weight it had.
type tracking struct {
	canary.MeshRouter
	w *world
}

func (r tracking) SetWeights(ctx context.Context, t canary.Target, w canary.Weights) error {
	r.w.mu.Lock()
	r.w.advance()
	r.w.mu.Unlock()
	return r.MeshRouter.SetWeights(ctx, t, w)
}

// release runs one synthetic release to its end.
func release(ctx context.Context, c class, m method, seed uint64) (outcome, error) {
	env := canarytest.NewEnv(canary.Target{})
	w := newWorld(c.t, seed, env.Clock, func() int {
		wt, _ := env.Router.Current(env.Target)
		return wt.Canary
	})
	spec := qualitySpec()
	cfg := env.Config(spec)
	cfg.Router = tracking{env.Router, w}
	switch m.key {
	case "threshold":
		cfg.Spec.Metrics = []canary.Metric{
			{Name: RequestSuccessRate, ThresholdRange: canary.AtLeast(99), Interval: time.Minute},
			{Name: RequestDuration, ThresholdRange: canary.AtMost(500), Interval: time.Minute},
		}
		cfg.Metrics = w.provider()
	case "judge":
		j, err := NewJudge(JudgeOptions{Source: w.samples(max(judgeWindow, m.samples)), Metrics: benchJudgeMetrics(m.samples)})
		if err != nil {
			return outcome{}, err
		}
		cfg.Spec.Metrics = []canary.Metric{{Name: "canary-judge", OnNoData: canary.NoDataHold}}
		cfg.Checkers = map[string]canary.Checker{"canary-judge": j}
	case "sequential":
		sq, err := NewSequential(benchSequentialOptions(w.counts(), m.samples))
		if err != nil {
			return outcome{}, err
		}
		// the latency judged per tick as by the judge, the errors by the sequential test
		j, err := NewJudge(JudgeOptions{Source: w.samples(max(judgeWindow, m.samples)), Metrics: benchJudgeMetrics(m.samples)[1:]})
		if err != nil {
			return outcome{}, err
		}
		cfg.Spec.Metrics = []canary.Metric{{Name: "error-sequential", OnNoData: canary.NoDataHold}, {Name: "latency-judge", OnNoData: canary.NoDataHold}}
		cfg.Checkers = map[string]canary.Checker{"error-sequential": sq, "latency-judge": j}
	}
	r, err := canary.New(cfg)
	if err != nil {
		return outcome{}, err
	}
	// A judge that held for ever would spin through virtual time: abort after maxRelease.
	start := env.Clock.Now()
	aborted := false
	env.Events.Then = func(canary.Event) {
		if !aborted && env.Clock.Since(start) > maxRelease {
			aborted = true
			r.Abort()
		}
	}
	res, err := releaseV2(ctx, r, env)
	if err != nil {
		return outcome{}, err
	}
	o := outcome{rolledBack: res.Phase == canary.PhaseFailed && !aborted, undecided: aborted, duration: res.Duration(), served: w.canaryRequests()}
	for _, wt := range res.Weights {
		o.maxWeight = max(o.maxWeight, wt)
	}
	return o, nil
}

// tally is one (class, method) cell of the table.
type tally struct {
	n, rolledBack, by10, undecided int
	durations                      []time.Duration
	stoppedAt                      map[int]int // rollbacks by the highest weight the canary had
	served                         []int       // canary requests served by each rolled-back release
}

func (t *tally) rate() float64 { return pct(t.rolledBack, t.n) }

// add counts one release.
func (t *tally) add(o outcome) {
	t.n++
	t.durations = append(t.durations, o.duration)
	if o.rolledBack {
		t.rolledBack++
		if o.maxWeight <= 10 {
			t.by10++
		}
		if t.stoppedAt == nil {
			t.stoppedAt = map[int]int{}
		}
		t.stoppedAt[o.maxWeight]++
		t.served = append(t.served, o.served)
	}
	if o.undecided {
		t.undecided++
	}
}

// quantile is the q-quantile of the requests served before a rollback.
func (t *tally) servedQuantile(q float64) int {
	s := slices.Clone(t.served)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func pct(k, n int) float64 { return float64(k) / float64(max(n, 1)) * 100 }

func (t *tally) medianMinutes() float64 {
	d := slices.Clone(t.durations)
	slices.Sort(d)
	if len(d) == 0 {
		return 0
	}
	return d[len(d)/2].Minutes()
}

// seedFor derives a release's seed from its class and index; both methods see the same world.
func seedFor(c class, i int) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d", c.name, i)
	return h.Sum64()
}

// evaluate runs n releases per class and method, in parallel.
func evaluate(ctx context.Context, classes []class, methods []method, n int) (map[string]map[method]*tally, error) {
	type job struct {
		c class
		m method
		i int
	}
	jobs := make(chan job)
	out := map[string]map[method]*tally{}
	for _, c := range classes {
		out[c.name] = map[method]*tally{}
		for _, m := range methods {
			out[c.name][m] = &tally{}
		}
	}
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				o, err := release(ctx, j.c, j.m, seedFor(j.c, j.i))
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("%s, %s, release %d: %w", j.c.name, j.m.name, j.i, err)
				}
				out[j.c.name][j.m].add(o)
				mu.Unlock()
			}
		}()
	}
	for _, c := range classes {
		for _, m := range methods {
			for i := range n {
				jobs <- job{c, m, i}
			}
		}
	}
	close(jobs)
	wg.Wait()
	return out, firstErr
}

// qualityTable renders the results as markdown: the rollback rate per class and method (a
// detection for a regression, a false rollback for a good release), for the regressions the
// share rolled back before the canary had more than 10 % of the traffic, and the median release
// duration in virtual minutes.
func qualityTable(classes []class, methods []method, res map[string]map[method]*tally) string {
	var b strings.Builder
	b.WriteString("| release class | a rollback is a |")
	for _, m := range methods {
		fmt.Fprintf(&b, " %s |", m.name)
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---|", len(methods)) + "\n")
	for _, c := range classes {
		kind := "false rollback"
		if c.bad {
			kind = "detection"
		}
		fmt.Fprintf(&b, "| %s | %s |", c.name, kind)
		for _, m := range methods {
			t := res[c.name][m]
			fmt.Fprintf(&b, " %.1f %%", t.rate())
			if c.bad {
				fmt.Fprintf(&b, " (%.1f %% by 10 %%)", pct(t.by10, t.n))
			}
			fmt.Fprintf(&b, ", %.0f min", t.medianMinutes())
			if t.undecided > 0 {
				fmt.Fprintf(&b, ", %d undecided", t.undecided)
			}
			b.WriteString(" |")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// stoppedTable renders, for each regression and method, where the rolled-back releases were
// stopped (the share at each highest canary weight, in percent of the releases) and the canary
// requests served before the rollback (median and 90th percentile).
func stoppedTable(classes []class, methods []method, res map[string]map[method]*tally) string {
	var b strings.Builder
	b.WriteString("| regression | method | stopped at weight (share of releases) | canary requests before rollback (median, p90) |\n|---|---|---|---|\n")
	for _, c := range classes {
		if !c.bad {
			continue
		}
		for _, m := range methods {
			t := res[c.name][m]
			var ws []int
			for w := range t.stoppedAt {
				ws = append(ws, w)
			}
			slices.Sort(ws)
			var at []string
			for _, w := range ws {
				at = append(at, fmt.Sprintf("%d %%: %.1f %%", w, pct(t.stoppedAt[w], t.n)))
			}
			if miss := t.n - t.rolledBack; miss > 0 {
				at = append(at, fmt.Sprintf("not stopped: %.1f %%", pct(miss, t.n)))
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %d, %d |\n", c.name, m.name, strings.Join(at, ", "), t.servedQuantile(0.5), t.servedQuantile(0.9))
		}
	}
	return b.String()
}

// summaryLine is a method's figures on one line: the share of 2× error-rate regressions rolled
// back before the canary had more than 10 % of the traffic, and the worst false-rollback rate
// of the good, noisy and low-traffic classes.
func summaryLine(m method, res map[string]map[method]*tally) string {
	t := res[errorClass][m]
	return fmt.Sprintf("decision method=%s detect_before_10pct=%.1f%% false_rollback=%.1f%% samples=%d", m.key, pct(t.by10, t.n), worstFalse(m, res), m.samples)
}

// worstFalse is the highest false-rollback rate of the good classes.
func worstFalse(m method, res map[string]map[method]*tally) float64 {
	worst := 0.0
	for _, c := range qualityClasses() {
		if !c.bad {
			worst = max(worst, res[c.name][m].rate())
		}
	}
	return worst
}

// errorClass is the regression the summary lines are about.
const errorClass = "2× error rate"

func BenchmarkDecisionQuality(b *testing.B) {
	classes := qualityClasses()
	methods := []method{thresholdOnly, judge20, judge60, sequential20}
	if *qualityClass != "" {
		classes = slices.DeleteFunc(classes, func(c class) bool { return !strings.Contains(c.name, *qualityClass) })
	}
	if *qualityOnly != "" {
		methods = slices.DeleteFunc(methods, func(m method) bool { return m.key != *qualityOnly })
	}
	for range b.N {
		res, err := evaluate(context.Background(), classes, methods, *qualityN)
		require.NoError(b, err)
		var lines []string
		for _, m := range methods {
			if len(classes) == len(qualityClasses()) { // the summary needs every class
				lines = append(lines, summaryLine(m, res))
			}
		}
		b.Logf("%d synthetic canaries per class (seeded); cells: rollback rate, median release duration\n\n%s\n%s\n%s",
			*qualityN, qualityTable(classes, methods, res), stoppedTable(classes, methods, res), strings.Join(lines, "\n"))
		for _, m := range methods {
			if len(lines) == 0 {
				break
			}
			unit := fmt.Sprintf("%s%d-", m.key, m.samples)
			b.ReportMetric(pct(res[errorClass][m].by10, res[errorClass][m].n), unit+"detect-2x-err-by10-%")
			b.ReportMetric(worstFalse(m, res), unit+"false-rollback-%")
		}
	}
}

// TestJudgeDecisionQuality runs a small seeded corpus so CI checks the judge's logic: it
// rolls back clear regressions and promotes good canaries.
func TestJudgeDecisionQuality(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 300 releases")
	}
	all := qualityClasses()
	classes := []class{all[0], all[1], all[2]}
	const n = 100
	res, err := evaluate(ctxFor(t, 5*time.Minute), classes, []method{judge20}, n)
	require.NoError(t, err)
	for _, c := range classes {
		tl := res[c.name][judge20]
		if c.bad {
			assert.GreaterOrEqual(t, tl.rolledBack, n-1, "%s: detections out of %d", c.name, n)
		} else {
			assert.LessOrEqual(t, tl.rolledBack, 1, "%s: false rollbacks out of %d", c.name, n)
		}
		assert.Zero(t, tl.undecided, c.name)
	}
}

// TestSequentialDecisionQuality runs a small seeded corpus so CI checks the sequential test's
// goal: 2× error rates rolled back before the canary has more than 10 % of the traffic, good
// and noisy canaries promoted.
func TestSequentialDecisionQuality(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 300 releases")
	}
	all := qualityClasses()
	classes := []class{all[0], all[1], all[3]}
	const n = 100
	res, err := evaluate(ctxFor(t, 10*time.Minute), classes, []method{sequential20}, n)
	require.NoError(t, err)
	for _, c := range classes {
		tl := res[c.name][sequential20]
		if c.bad {
			assert.GreaterOrEqual(t, tl.by10, n-1, "%s: rolled back by 10 %% out of %d", c.name, n)
		} else {
			assert.LessOrEqual(t, tl.rolledBack, 1, "%s: false rollbacks out of %d", c.name, n)
		}
		assert.Zero(t, tl.undecided, c.name)
	}
}
