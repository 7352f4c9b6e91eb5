package selfmetrics

import (
	"maps"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/canarykit/canarykit/canary"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configure New. Zero fields mean defaults.
type Options struct {
	// Version is flagger_info's version label. Default: the canarykit module's version in the
	// program's build information ("devel" when it has none).
	Version string
	// MeshProvider is flagger_info's mesh_provider label: the provider of Canaries that name
	// none (Flagger's -mesh-provider flag). Default "linkerd", the driver's default router.
	MeshProvider string
}

// DefaultMeshProvider is Options.MeshProvider's default.
const DefaultMeshProvider = "linkerd"

// modulePath is canarykit's module, looked up in the build information for the version.
const modulePath = "github.com/canarykit/canarykit"

// Collector exports Flagger's self-metrics (flagger_*) and canarykit's own (canarykit_*) for
// the targets it is given, fed from their Rollouts' events. Register it on a
// prometheus.Registerer; For returns a target's event callback and Forget removes the
// target's series. It is safe for concurrent use by any number of targets.
//
// It keeps each target's state in one small struct (1.4 KB for a target with two metrics
// after a release, BenchmarkFootprint; client_golang's metric vectors, a series object per
// label set, took 15.5 KB) and builds the series at each scrape from a copy taken under its
// lock, so a scrape of many targets does not hold up their events.
type Collector struct {
	mu      sync.Mutex
	targets map[key]*target
	// canaries are the Canary objects declared (For, Refuse), by namespace and Canary name:
	// flagger_canary_total counts them, as Flagger counts Canaries (two of one target twice)
	canaries map[key]declared
	perNS    map[string]int
	// weights holds flagger_canary_weight by namespace and workload: the series of a target's
	// primary ("<name>-primary") is also the canary series of a target of that name, if any,
	// and the last value written wins, as in one vector
	weights map[key]float64

	info prometheus.Metric
	d    descs
}

var _ prometheus.Collector = (*Collector)(nil)

// descs are the descriptions of the Collector's metrics.
type descs struct {
	info, total, status, weight, analysis, duration, successes, failures  *prometheus.Desc
	phase, failedChecks, threshold, checks, dryRunChecks, causes, release *prometheus.Desc
}

func (d *descs) all() []*prometheus.Desc {
	return []*prometheus.Desc{d.info, d.total, d.status, d.weight, d.analysis, d.duration, d.successes, d.failures,
		d.phase, d.failedChecks, d.threshold, d.checks, d.dryRunChecks, d.causes, d.release}
}

func newDescs() descs {
	byTarget := []string{"name", "namespace"}
	byMetric := []string{"name", "namespace", "metric"}
	outcome := []string{"name", "namespace", "deployment_strategy", "analysis_status"}
	desc := prometheus.NewDesc
	return descs{
		info:      desc("flagger_info", "Flagger version and mesh provider information", []string{"version", "mesh_provider"}, nil),
		total:     desc("flagger_canary_total", "Total number of canary object", []string{"namespace"}, nil),
		status:    desc("flagger_canary_status", "Last canary analysis result", byTarget, nil),
		weight:    desc("flagger_canary_weight", "The virtual service destination weight current value", []string{"workload", "namespace"}, nil),
		analysis:  desc("flagger_canary_metric_analysis", "Last canary analysis result per metric", byMetric, nil),
		duration:  desc("flagger_canary_duration_seconds", "Seconds spent performing canary analysis.", byTarget, nil),
		successes: desc("flagger_canary_successes_total", "Total number of canary successes", outcome, nil),
		failures:  desc("flagger_canary_failures_total", "Total number of canary failures", outcome, nil),

		phase: desc("canarykit_canary_phase", "The release's phase: 1 for the current phase, 0 for the others",
			[]string{"name", "namespace", "phase"}, nil),
		failedChecks: desc("canarykit_canary_failed_checks",
			"Failed checks counted in the release under way (the rollback threshold applies to it)", byTarget, nil),
		threshold: desc("canarykit_canary_metric_threshold",
			"A metric's threshold range bound (min or max), in the unit of flagger_canary_metric_analysis",
			[]string{"name", "namespace", "metric", "bound"}, nil),
		checks: desc("canarykit_canary_checks_total",
			"Metric checks run in analysis ticks, by verdict (Pass, Fail, NoData, Inconclusive, Unavailable, Error)",
			[]string{"name", "namespace", "metric", "verdict"}, nil),
		dryRunChecks: desc("canarykit_canary_dry_run_checks_total",
			"Checks of dry-run metrics (reported, never counted against the release) run in analysis ticks, by verdict",
			[]string{"name", "namespace", "metric", "verdict"}, nil),
		causes: desc("canarykit_canary_failure_causes_total",
			"Failed releases by cause (threshold, hook, abort, deadline, reverted, promotion-failed, split, other)",
			[]string{"name", "namespace", "cause"}, nil),
		release: desc("canarykit_canary_release_duration_seconds",
			"Seconds from a new revision detected to its release's end (Succeeded or Failed)",
			[]string{"name", "namespace", "phase"}, nil),
	}
}

// key identifies a target as Flagger's series do: its namespace and workload name (or a
// Canary object, by its namespace and name).
type key struct{ namespace, name string }

// declared is one Canary object the Collector counts: the name of its target ("" when
// unknown: counted, without series) and whether it is refused (not driven).
type declared struct {
	target  string
	refused bool
}

// target is what the Collector knows of one target: everything its series show.
type target struct {
	key      key
	strategy string
	skip     bool           // the Spec skips the analysis: successes are "skipped"
	metrics  []*metricState // the Spec's metrics (fit names, each once): the only metric label values accepted
	gone     bool           // forgotten: its callbacks no longer record anything

	lastTick     time.Time // TickStarted of the last analysis tick recorded
	releaseStart time.Time // when the release under way began (NewRevision, Restarted)

	phase        canary.Phase // "" until a phase is recorded (with the failed checks)
	failedChecks int

	duration *histogram // flagger_canary_duration_seconds, from the first analysis tick timed
	outcomes []outcome  // flagger_canary_successes_total and _failures_total, by label set
	causes   [len(causeLabels)]uint64
	releases []phaseHistogram // canarykit_canary_release_duration_seconds, by phase
}

// metricState is what the Collector knows of one metric of a target's Spec.
type metricState struct {
	name     string
	unit     metricUnit
	value    float64 // flagger_canary_metric_analysis, when hasValue
	hasValue bool
	min, max float64 // canarykit_canary_metric_threshold, when hasMin, hasMax
	hasMin   bool
	hasMax   bool
	checks   [len(verdictLabels)]uint64 // by verdict; a series shows once counted
	dryRun   [len(verdictLabels)]uint64
}

// outcome is one series of flagger_canary_successes_total or flagger_canary_failures_total.
type outcome struct {
	failure          bool
	strategy, status string
	n                uint64
}

// phaseHistogram is one series of canarykit_canary_release_duration_seconds.
type phaseHistogram struct {
	phase canary.Phase
	h     *histogram
}

// histogram counts observations in fixed buckets as client_golang's histograms do: an
// observation goes to the first bucket whose upper bound it does not exceed.
type histogram struct {
	bounds []float64
	counts []uint64 // per bucket, not cumulative; the last one counts what exceeds every bound
	sum    float64
	n      uint64
}

func newHistogram(bounds []float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]uint64, len(bounds)+1)}
}

func (h *histogram) observe(v float64) {
	h.counts[sort.SearchFloat64s(h.bounds, v)]++
	h.sum += v
	h.n++
}

func (h *histogram) clone() *histogram {
	c := *h
	c.counts = slices.Clone(h.counts)
	return &c
}

// metricUnit says how a metric's values are exported.
type metricUnit struct {
	seconds bool // Flagger's built-in request-duration: milliseconds in checks, seconds here
}

// New returns a Collector. Register it before serving /metrics; flagger_info is set at once.
func New(opts Options) *Collector {
	if opts.Version == "" {
		opts.Version = moduleVersion()
	}
	if opts.MeshProvider == "" {
		opts.MeshProvider = DefaultMeshProvider
	}
	opts.Version, opts.MeshProvider = labelValue(opts.Version), labelValue(opts.MeshProvider)
	c := &Collector{targets: map[key]*target{}, canaries: map[key]declared{}, perNS: map[string]int{}, weights: map[key]float64{}, d: newDescs()}
	c.info = prometheus.MustNewConstMetric(c.d.info, prometheus.GaugeValue, 1, opts.Version, opts.MeshProvider)
	return c
}

// ReleaseBuckets are canarykit_canary_release_duration_seconds' buckets: 15 s to about 4 h,
// doubling (a release takes its analysis interval times its steps, minutes to hours).
var ReleaseBuckets = prometheus.ExponentialBuckets(15, 2, 11)

// moduleVersion is canarykit's version in the build information.
func moduleVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if bi.Main.Path == modulePath && bi.Main.Version != "" {
		return bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path == modulePath && d.Version != "" {
			return d.Version
		}
	}
	return "devel"
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.d.all() {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the series of a copy of the targets' state, taken
// under the lock and turned into metrics outside it.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	snapshot := make([]target, 0, len(c.targets))
	for _, tg := range c.targets {
		snapshot = append(snapshot, tg.copy())
	}
	perNS := maps.Clone(c.perNS)
	weights := maps.Clone(c.weights)
	refused := c.refusedTargets()
	c.mu.Unlock()

	ch <- c.info
	for ns, n := range perNS {
		ch <- prometheus.MustNewConstMetric(c.d.total, prometheus.GaugeValue, float64(n), ns)
	}
	for w, v := range weights {
		ch <- prometheus.MustNewConstMetric(c.d.weight, prometheus.GaugeValue, v, w.name, w.namespace)
	}
	for i := range snapshot {
		tg := &snapshot[i]
		if refused[tg.key] {
			tg.phase = "" // its last release's phase is no longer the news: see below
		}
		c.collect(ch, tg)
	}
	for k := range refused {
		ch <- prometheus.MustNewConstMetric(c.d.status, prometheus.GaugeValue, statusValue(canary.PhaseFailed), k.name, k.namespace)
	}
}

// refusedTargets are the targets only refused Canaries declare: their flagger_canary_status
// is Failed's, and their phase series are not shown. c.mu must be held.
func (c *Collector) refusedTargets() map[key]bool {
	var out map[key]bool
	driven := map[key]bool{}
	for ck, dc := range c.canaries {
		if dc.target == "" {
			continue
		}
		k := key{namespace: ck.namespace, name: dc.target}
		switch {
		case !dc.refused:
			driven[k] = true
			delete(out, k)
		case !driven[k]:
			if out == nil {
				out = map[key]bool{}
			}
			out[k] = true
		}
	}
	return out
}

// copy returns a copy of tg that shares nothing it may change.
func (tg *target) copy() target {
	cp := *tg
	cp.metrics = make([]*metricState, len(tg.metrics))
	for i, m := range tg.metrics {
		mc := *m
		cp.metrics[i] = &mc
	}
	if tg.duration != nil {
		cp.duration = tg.duration.clone()
	}
	cp.outcomes = slices.Clone(tg.outcomes)
	cp.releases = slices.Clone(tg.releases)
	for i, r := range cp.releases {
		cp.releases[i].h = r.h.clone()
	}
	return cp
}

// collect sends the series of one target's state.
func (c *Collector) collect(ch chan<- prometheus.Metric, tg *target) {
	d := &c.d
	name, ns := tg.key.name, tg.key.namespace
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	counter := func(desc *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}
	if tg.phase != "" {
		gauge(d.status, statusValue(tg.phase), name, ns)
		for _, q := range phases {
			v := 0.0
			if q == tg.phase {
				v = 1
			}
			gauge(d.phase, v, name, ns, string(q))
		}
		gauge(d.failedChecks, float64(tg.failedChecks), name, ns)
	}
	if tg.duration != nil {
		ch <- tg.duration.metric(d.duration, name, ns)
	}
	for _, o := range tg.outcomes {
		desc := d.successes
		if o.failure {
			desc = d.failures
		}
		counter(desc, o.n, name, ns, o.strategy, o.status)
	}
	for i, n := range tg.causes {
		if n > 0 {
			counter(d.causes, n, name, ns, causeLabels[i])
		}
	}
	for _, r := range tg.releases {
		ch <- r.h.metric(d.release, name, ns, string(r.phase))
	}
	for _, m := range tg.metrics {
		if m.hasValue {
			gauge(d.analysis, m.value, name, ns, m.name)
		}
		if m.hasMin {
			gauge(d.threshold, m.min, name, ns, m.name, "min")
		}
		if m.hasMax {
			gauge(d.threshold, m.max, name, ns, m.name, "max")
		}
		for i := range verdictLabels {
			if m.checks[i] > 0 {
				counter(d.checks, m.checks[i], name, ns, m.name, verdictLabels[i])
			}
			if m.dryRun[i] > 0 {
				counter(d.dryRunChecks, m.dryRun[i], name, ns, m.name, verdictLabels[i])
			}
		}
	}
}

// metric is h as a constant histogram series.
func (h *histogram) metric(desc *prometheus.Desc, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.bounds))
	var cumulative uint64
	for i, b := range h.bounds {
		cumulative += h.counts[i]
		buckets[b] = cumulative
	}
	return prometheus.MustNewConstHistogram(desc, h.n, h.sum, buckets, labels...)
}

// MaxLabelLength bounds the label values taken from targets and Specs (Kubernetes' longest
// object name): a target whose namespace or name is longer, empty or not UTF-8 is not
// exported, nor is a metric whose name is.
const MaxLabelLength = 253

// labelOK reports whether s may be a label value taken from a target or a Spec.
func labelOK(s string) bool { return s != "" && len(s) <= MaxLabelLength && utf8.ValidString(s) }

// labelValue makes s a valid label value of at most MaxLabelLength bytes.
func labelValue(s string) string {
	s = strings.ToValidUTF8(s, "?")
	for len(s) > MaxLabelLength {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// For declares a target and its Canary, t.CanaryName() (counted in flagger_canary_total from
// now on: two Canaries of one target count twice), and returns the callback its Rollouts'
// events go to (canary.Config.OnEvent, or the onEvent of the driver's Release and Target).
// spec is the target's analysis: it gives the deployment strategy of the success and failure
// counters, the thresholds, and the metric names accepted as label values (check results of
// other names are not exported). Calling For again for the same target (its Canary edited)
// updates them and returns another callback for the same series; series of metrics no longer
// in the spec are removed. A Canary declared with Refuse before is driven from now on. A
// target whose namespace or name cannot be a label value (see MaxLabelLength) gets a callback
// that records nothing.
func (c *Collector) For(t canary.Target, spec canary.Spec) func(canary.Event) {
	if !labelOK(t.Namespace) || !labelOK(t.Name) {
		return func(canary.Event) {}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := key{namespace: t.Namespace, name: t.Name}
	tg, ok := c.targets[k]
	if !ok {
		tg = &target{key: k}
		c.targets[k] = tg
	}
	if labelOK(t.CanaryName()) {
		c.declare(key{namespace: t.Namespace, name: t.CanaryName()}, declared{target: t.Name})
	}
	tg.strategy = strategyLabel(spec.Strategy())
	tg.skip = spec.SkipAnalysis
	old := tg.metrics
	tg.metrics = make([]*metricState, 0, len(spec.Metrics))
	for _, m := range spec.Metrics {
		if !labelOK(m.Name) {
			continue
		}
		ms := tg.metric(m.Name)
		if ms == nil {
			// a metric the spec had before keeps its series; thresholds come from the spec anew
			if i := slices.IndexFunc(old, func(o *metricState) bool { return o.name == m.Name }); i >= 0 {
				ms = old[i]
				ms.hasMin, ms.hasMax = false, false
			} else {
				ms = &metricState{name: m.Name}
			}
			tg.metrics = append(tg.metrics, ms)
		}
		ms.unit = metricUnit{seconds: m.Name == builtinDuration && m.Query == ""}
	}
	for _, m := range spec.Metrics {
		ms := tg.metric(m.Name)
		if ms == nil {
			continue
		}
		if m.ThresholdRange.Min != nil {
			ms.min, ms.hasMin = ms.unit.value(*m.ThresholdRange.Min), true
		}
		if m.ThresholdRange.Max != nil {
			ms.max, ms.hasMax = ms.unit.value(*m.ThresholdRange.Max), true
		}
	}
	// counters start at zero, so that increase() sees the first success or failure
	tg.outcome(false, tg.analysisStatus())
	tg.outcome(true, analysisCompleted)
	return func(e canary.Event) { c.observe(tg, e) }
}

// metric returns the state of the Spec's metric of that name, nil if it has none.
func (tg *target) metric(name string) *metricState {
	for _, m := range tg.metrics {
		if m.name == name {
			return m
		}
	}
	return nil
}

// outcome returns the success or failure counter of the target's strategy and the given
// analysis status, created at zero if need be.
func (tg *target) outcome(failure bool, status string) *outcome {
	for i := range tg.outcomes {
		if o := &tg.outcomes[i]; o.failure == failure && o.strategy == tg.strategy && o.status == status {
			return o
		}
	}
	tg.outcomes = append(tg.outcomes, outcome{failure: failure, strategy: tg.strategy, status: status})
	return &tg.outcomes[len(tg.outcomes)-1]
}

// Refuse declares a Canary object that is not driven (it does not load, or cannot be driven):
// t.CanaryName() names it and t.Name its target (spec.targetRef.name, "" when it cannot be
// read). It is counted in flagger_canary_total, and while no Canary declared with For drives
// its target, the target's flagger_canary_status is 2, as for a failed release (its phase
// series are not shown). For (the Canary fixed and driven) or Forget (deleted) ends it. A
// Canary whose namespace or name cannot be a label value is not counted; a target name that
// cannot be one is taken as unknown.
func (c *Collector) Refuse(t canary.Target) {
	if !labelOK(t.Namespace) || !labelOK(t.CanaryName()) {
		return
	}
	target := t.Name
	if !labelOK(target) {
		target = ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.declare(key{namespace: t.Namespace, name: t.CanaryName()}, declared{target: target, refused: true})
}

// declare records Canary ck as dc; the series of a target it declared before and no Canary
// declares any more go. c.mu must be held.
func (c *Collector) declare(ck key, dc declared) {
	prev, ok := c.canaries[ck]
	c.canaries[ck] = dc
	if !ok {
		c.perNS[ck.namespace]++
	} else if prev.target != dc.target {
		c.drop(key{namespace: ck.namespace, name: prev.target})
	}
}

// Forget removes the Canary t.CanaryName() of target t.Name (it was deleted) from
// flagger_canary_total and, unless another Canary declares the target, every series of the
// target, and stops its callbacks from recording: a late event of a Rollout still running
// does not bring them back. Flagger keeps a deleted Canary's series until it restarts;
// canarykit drops them at once. Forgetting what the Collector does not know does nothing. A
// target name that cannot be a label value is taken as unknown, as Refuse takes it.
func (c *Collector) Forget(t canary.Target) {
	target := t.Name
	if !labelOK(target) {
		target = ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ck := key{namespace: t.Namespace, name: t.CanaryName()}
	if dc, ok := c.canaries[ck]; ok && dc.target == target {
		delete(c.canaries, ck)
		if c.perNS[ck.namespace]--; c.perNS[ck.namespace] <= 0 {
			delete(c.perNS, ck.namespace)
		}
	}
	c.drop(key{namespace: t.Namespace, name: t.Name})
}

// drop removes target k's series unless a Canary still declares it. c.mu must be held.
func (c *Collector) drop(k key) {
	for ck, dc := range c.canaries {
		if ck.namespace == k.namespace && dc.target == k.name {
			return
		}
	}
	tg, ok := c.targets[k]
	if !ok {
		return
	}
	tg.gone = true
	delete(c.targets, k)
	delete(c.weights, k)
	delete(c.weights, key{namespace: k.namespace, name: primaryWorkload(k.name)})
}

// value converts a check's value (or threshold) to the exported unit.
func (u metricUnit) value(v float64) float64 {
	if u.seconds {
		return v / 1000
	}
	return v
}

func primaryWorkload(name string) string { return name + "-primary" }
