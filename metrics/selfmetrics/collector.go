package selfmetrics

import (
	"runtime/debug"
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
type Collector struct {
	mu      sync.Mutex
	targets map[key]*target
	perNS   map[string]int

	info, total, status, weight, analysis *prometheus.GaugeVec
	duration                              *prometheus.HistogramVec
	successes, failures                   *prometheus.CounterVec

	phase, failedChecks, threshold *prometheus.GaugeVec
	checks, dryRunChecks, causes   *prometheus.CounterVec
	release                        *prometheus.HistogramVec
}

var _ prometheus.Collector = (*Collector)(nil)

// key identifies a target as Flagger's series do: its namespace and workload name.
type key struct{ namespace, name string }

// target is what the Collector knows of one target.
type target struct {
	key      key
	strategy string
	skip     bool                  // the Spec skips the analysis: successes are "skipped"
	metrics  map[string]metricUnit // the Spec's metrics: the only metric label values accepted
	gone     bool                  // forgotten: its callbacks no longer record anything

	lastTick     time.Time // TickStarted of the last analysis tick recorded
	releaseStart time.Time // when the release under way began (NewRevision, Restarted)
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
	byTarget := []string{"name", "namespace"}
	c := &Collector{
		targets: map[key]*target{},
		perNS:   map[string]int{},
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "flagger_info",
			Help: "Flagger version and mesh provider information"}, []string{"version", "mesh_provider"}),
		total: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "flagger_canary_total",
			Help: "Total number of canary object"}, []string{"namespace"}),
		status: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "flagger_canary_status",
			Help: "Last canary analysis result"}, byTarget),
		weight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "flagger_canary_weight",
			Help: "The virtual service destination weight current value"}, []string{"workload", "namespace"}),
		analysis: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "flagger_canary_metric_analysis",
			Help: "Last canary analysis result per metric"}, []string{"name", "namespace", "metric"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "flagger_canary_duration_seconds",
			Help: "Seconds spent performing canary analysis.", Buckets: prometheus.DefBuckets}, byTarget),
		successes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flagger_canary_successes_total",
			Help: "Total number of canary successes"}, []string{"name", "namespace", "deployment_strategy", "analysis_status"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flagger_canary_failures_total",
			Help: "Total number of canary failures"}, []string{"name", "namespace", "deployment_strategy", "analysis_status"}),

		phase: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "canarykit_canary_phase",
			Help: "The release's phase: 1 for the current phase, 0 for the others"}, []string{"name", "namespace", "phase"}),
		failedChecks: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "canarykit_canary_failed_checks",
			Help: "Failed checks counted in the release under way (the rollback threshold applies to it)"}, byTarget),
		threshold: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "canarykit_canary_metric_threshold",
			Help: "A metric's threshold range bound (min or max), in the unit of flagger_canary_metric_analysis"},
			[]string{"name", "namespace", "metric", "bound"}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "canarykit_canary_checks_total",
			Help: "Metric checks run in analysis ticks, by verdict (Pass, Fail, NoData, Inconclusive, Unavailable, Error)"},
			[]string{"name", "namespace", "metric", "verdict"}),
		dryRunChecks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "canarykit_canary_dry_run_checks_total",
			Help: "Checks of dry-run metrics (reported, never counted against the release) run in analysis ticks, by verdict"},
			[]string{"name", "namespace", "metric", "verdict"}),
		causes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "canarykit_canary_failure_causes_total",
			Help: "Failed releases by cause (threshold, hook, abort, deadline, reverted, promotion-failed)"},
			[]string{"name", "namespace", "cause"}),
		release: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "canarykit_canary_release_duration_seconds",
			Help:    "Seconds from a new revision detected to its release's end (Succeeded or Failed)",
			Buckets: ReleaseBuckets}, []string{"name", "namespace", "phase"}),
	}
	c.info.WithLabelValues(opts.Version, opts.MeshProvider).Set(1)
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

func (c *Collector) vecs() []prometheus.Collector {
	return []prometheus.Collector{c.info, c.total, c.status, c.weight, c.analysis, c.duration, c.successes, c.failures,
		c.phase, c.failedChecks, c.threshold, c.checks, c.dryRunChecks, c.causes, c.release}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, v := range c.vecs() {
		v.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, v := range c.vecs() {
		v.Collect(ch)
	}
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

// For declares a target (a Flagger Canary: counted in flagger_canary_total from now on) and
// returns the callback its Rollouts' events go to (canary.Config.OnEvent, or the onEvent of
// the driver's Release and Target). spec is the target's analysis: it gives the deployment
// strategy of the success and failure counters, the thresholds, and the metric names
// accepted as label values (check results of other names are not exported). Calling For again
// for the same target (its Canary edited) updates them and returns another callback for the
// same series; series of metrics no longer in the spec are removed. A target whose
// namespace or name cannot be a label value (see MaxLabelLength) gets a callback that records
// nothing.
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
		c.perNS[k.namespace]++
		c.total.WithLabelValues(k.namespace).Set(float64(c.perNS[k.namespace]))
	}
	tg.strategy = strategyLabel(spec.Strategy())
	tg.skip = spec.SkipAnalysis
	old := tg.metrics
	tg.metrics = make(map[string]metricUnit, len(spec.Metrics))
	for _, m := range spec.Metrics {
		if labelOK(m.Name) {
			tg.metrics[m.Name] = metricUnit{seconds: m.Name == builtinDuration && m.Query == ""}
		}
	}
	for name := range old {
		if _, kept := tg.metrics[name]; !kept {
			c.deleteMetric(k, name)
		}
	}
	c.setThresholds(tg, spec)
	// counters start at zero, so that increase() sees the first success or failure
	c.successes.WithLabelValues(k.name, k.namespace, tg.strategy, tg.analysisStatus())
	c.failures.WithLabelValues(k.name, k.namespace, tg.strategy, analysisCompleted)
	return func(e canary.Event) { c.observe(tg, e) }
}

// Forget removes every series of the target (the Canary was deleted) and stops its callbacks
// from recording: a late event of a Rollout still running does not bring them back. Flagger
// keeps a deleted Canary's series until it restarts; canarykit drops them at once. Forgetting
// a target the Collector does not know does nothing.
func (c *Collector) Forget(t canary.Target) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := key{namespace: t.Namespace, name: t.Name}
	tg, ok := c.targets[k]
	if !ok {
		return
	}
	tg.gone = true
	delete(c.targets, k)
	if c.perNS[k.namespace]--; c.perNS[k.namespace] <= 0 {
		delete(c.perNS, k.namespace)
		c.total.DeleteLabelValues(k.namespace)
	} else {
		c.total.WithLabelValues(k.namespace).Set(float64(c.perNS[k.namespace]))
	}
	c.weight.DeleteLabelValues(k.name, k.namespace)
	c.weight.DeleteLabelValues(primaryWorkload(k.name), k.namespace)
	byTarget := prometheus.Labels{"name": k.name, "namespace": k.namespace}
	for _, v := range []interface {
		DeletePartialMatch(prometheus.Labels) int
	}{c.status, c.analysis, c.duration, c.successes, c.failures, c.phase, c.failedChecks, c.threshold, c.checks, c.dryRunChecks, c.causes, c.release} {
		v.DeletePartialMatch(byTarget)
	}
}

// deleteMetric removes one metric's series of a target.
func (c *Collector) deleteMetric(k key, metric string) {
	l := prometheus.Labels{"name": k.name, "namespace": k.namespace, "metric": metric}
	c.analysis.DeletePartialMatch(l)
	c.threshold.DeletePartialMatch(l)
	c.checks.DeletePartialMatch(l)
	c.dryRunChecks.DeletePartialMatch(l)
}

// setThresholds exports the spec's threshold ranges, replacing the previous ones.
func (c *Collector) setThresholds(tg *target, spec canary.Spec) {
	c.threshold.DeletePartialMatch(prometheus.Labels{"name": tg.key.name, "namespace": tg.key.namespace})
	for _, m := range spec.Metrics {
		u, ok := tg.metrics[m.Name]
		if !ok {
			continue
		}
		if m.ThresholdRange.Min != nil {
			c.threshold.WithLabelValues(tg.key.name, tg.key.namespace, m.Name, "min").Set(u.value(*m.ThresholdRange.Min))
		}
		if m.ThresholdRange.Max != nil {
			c.threshold.WithLabelValues(tg.key.name, tg.key.namespace, m.Name, "max").Set(u.value(*m.ThresholdRange.Max))
		}
	}
}

// value converts a check's value (or threshold) to the exported unit.
func (u metricUnit) value(v float64) float64 {
	if u.seconds {
		return v / 1000
	}
	return v
}

func primaryWorkload(name string) string { return name + "-primary" }
