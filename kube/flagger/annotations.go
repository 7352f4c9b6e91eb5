package flagger

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/canarykit/canarykit/canary"
)

// Annotations of a Canary that canarykit reads and Flagger ignores: the Canary stays a valid
// Flagger object, and Flagger, if it ran it, would run the analysis without them.
const (
	// AnnotationSequentialCheck adds a sequential test of the canary's error rate against the
	// primary's to the analysis (metrics.Sequential in kube/driver). Its value is a YAML
	// mapping, every field optional:
	//
	//	name: sequential-error-rate # the check's name in events (not one of analysis.metrics)
	//	interval: 1m                # the step of the counts (and their {{ interval }})
	//	alpha: 0.01                 # bound on false rollbacks over the release
	//	beta: 0.01                  # bound on passing a canary with `regression` × the errors
	//	regression: 2               # the error-rate ratio, canary / primary, to catch
	//	tolerance: 1.25             # the ratio that is no regression
	//	learningRate: 0.33          # the power each step's evidence is raised to, in (0, 1]
	//	minSamples: 0               # steps with canary traffic before it may pass
	//	requestsQuery: ...          # requests and failed requests of {{ target }} over
	//	errorsQuery: ...            #   {{ interval }} (both or neither; default Linkerd's)
	//
	// The check holds the canary at its weight until the evidence decides (OnNoData hold).
	AnnotationSequentialCheck = "canarykit.dev/sequential-check"
	// AnnotationDryRunMetrics lists, comma-separated, the analysis metrics (or the sequential
	// check's name) to run dry (canary.Metric.DryRun): evaluated and reported every tick, never
	// counted.
	AnnotationDryRunMetrics = "canarykit.dev/dry-run-metrics"
	// AnnotationSplitCheck sets what a weighted release does when the canary gets far less
	// traffic than its weight (canary.Spec.SplitCheck): warn, hold, fail or off. Absent: hold.
	AnnotationSplitCheck = "canarykit.dev/split-check"
)

// maxAnnotationBytes bounds the annotations canarykit parses.
const maxAnnotationBytes = 4096

// defaultSequentialTolerance is metrics.DefaultSequentialTolerance (this package does not
// import metrics).
const defaultSequentialTolerance = 1.25

// DefaultSequentialCheckName is the sequential check's name when the annotation gives none.
const DefaultSequentialCheckName = "sequential-error-rate"

// SequentialCheck is the sequential test a Canary's AnnotationSequentialCheck asks for. Zero
// fields mean the checker's defaults.
type SequentialCheck struct {
	// Metric is the index in Spec.Metrics of the check it runs as (its name and interval).
	Metric int
	// Alpha, Beta, Regression, Tolerance, LearningRate and MinSamples are the test's settings.
	Alpha, Beta, Regression, Tolerance, LearningRate float64
	MinSamples                                       int
	// RequestsQuery and ErrorsQuery are the count queries; empty: Linkerd's.
	RequestsQuery, ErrorsQuery string
	// Path is the annotation's path, for errors.
	Path string
}

// decodeAnnotations applies canarykit's annotations to a decoded Canary; problems go to d.
func decodeAnnotations(d *decoder, ann map[string]string, path string, m *Canary) {
	for _, key := range []string{AnnotationSequentialCheck, AnnotationDryRunMetrics, AnnotationSplitCheck} {
		if v, ok := ann[key]; ok && len(v) > maxAnnotationBytes {
			d.fail(canary.FieldPath(path, key), "must be at most %d bytes, got %d", maxAnnotationBytes, len(v))
			delete(ann, key)
		}
	}
	if v, ok := ann[AnnotationSplitCheck]; ok {
		m.Spec.SplitCheck = decodeSplitCheck(d, v, canary.FieldPath(path, AnnotationSplitCheck))
	}
	if v, ok := ann[AnnotationSequentialCheck]; ok {
		decodeSequential(d, v, canary.FieldPath(path, AnnotationSequentialCheck), m)
	}
	if v, ok := ann[AnnotationDryRunMetrics]; ok {
		p := canary.FieldPath(path, AnnotationDryRunMetrics)
		seen := map[string]bool{}
		for i, name := range strings.Split(v, ",") {
			name = strings.TrimSpace(name)
			at := fmt.Sprintf("%s[%d]", p, i)
			switch {
			case name == "":
				d.fail(at, "empty metric name")
				continue
			case seen[name]:
				d.fail(at, "metric %s listed twice", shown(name))
				continue
			}
			seen[name] = true
			found := false
			for j := range m.Spec.Metrics {
				if m.Spec.Metrics[j].Name == name {
					m.Spec.Metrics[j].DryRun, found = true, true
				}
			}
			if !found {
				d.fail(at, "no metric %s in the analysis (or the sequential check)", shown(name))
			}
		}
	}
}

// sequentialKeys are AnnotationSequentialCheck's fields.
var sequentialKeys = []string{"name", "interval", "alpha", "beta", "regression", "tolerance", "learningRate", "minSamples", "requestsQuery", "errorsQuery"}

// decodeSequential reads AnnotationSequentialCheck's YAML and adds its check to the analysis.
func decodeSequential(d *decoder, value, path string, m *Canary) {
	tree, err := parseYAML([]byte(value))
	if err != nil {
		d.fail(path, "must be a YAML mapping: %s", shown(err.Error()))
		return
	}
	if tree == nil {
		tree = map[string]any{}
	}
	o := d.object(tree, path)
	if o.m == nil {
		return
	}
	sc := &SequentialCheck{Path: path, Metric: len(m.Spec.Metrics)}
	met := canary.Metric{Name: o.name("name", false), Interval: o.interval("interval"), OnNoData: canary.NoDataHold}
	if met.Name == "" {
		met.Name = DefaultSequentialCheckName
	}
	for _, x := range m.Spec.Metrics {
		if x.Name == met.Name {
			d.fail(o.at("name"), "%s is already a metric of the analysis; the sequential check needs a name of its own", shown(met.Name))
		}
	}
	prob := func(key string) float64 {
		v := o.float(key)
		if o.has(key) && !(v > 0 && v <= 0.5) {
			d.fail(o.at(key), "must be in (0, 0.5], got %v", v)
		}
		return v
	}
	sc.Alpha, sc.Beta = prob("alpha"), prob("beta")
	sc.Tolerance = o.float("tolerance")
	if o.has("tolerance") && sc.Tolerance < 1 {
		d.fail(o.at("tolerance"), "must be at least 1 (an error-rate ratio, canary / primary), got %v", sc.Tolerance)
	}
	sc.Regression = o.float("regression")
	tol := sc.Tolerance
	if tol == 0 {
		tol = defaultSequentialTolerance
	}
	if o.has("regression") && !(sc.Regression > tol) {
		d.fail(o.at("regression"), "must be above the tolerance (%v), got %v", tol, sc.Regression)
	}
	sc.LearningRate = o.float("learningRate")
	if o.has("learningRate") && !(sc.LearningRate > 0 && sc.LearningRate <= 1) {
		d.fail(o.at("learningRate"), "must be in (0, 1], got %v", sc.LearningRate)
	}
	sc.MinSamples = int(o.intIn("minSamples", 0, 10_000))
	sc.RequestsQuery, sc.ErrorsQuery = canary.CompactQuery(o.str("requestsQuery")), canary.CompactQuery(o.str("errorsQuery"))
	if (sc.RequestsQuery == "") != (sc.ErrorsQuery == "") {
		d.fail(path, "set both requestsQuery and errorsQuery, or neither")
	}
	for _, key := range []string{"requestsQuery", "errorsQuery"} {
		if q := o.str(key); q != "" {
			if err := canary.CheckQuery(q); err != nil {
				d.fail(o.at(key), "%v", err)
			}
		}
	}
	for _, k := range o.keys() {
		if !slices.Contains(sequentialKeys, k) {
			d.fail(o.at(k), "unknown field; known: %s", strings.Join(sequentialKeys, ", "))
		}
	}
	if met.Interval == 0 {
		met.Interval = time.Minute
	}
	m.Spec.Metrics = append(m.Spec.Metrics, met)
	m.Sequential = sc
}

// decodeSplitCheck reads AnnotationSplitCheck's value.
func decodeSplitCheck(d *decoder, value, path string) canary.SplitPolicy {
	policies := canary.SplitPolicies()
	if slices.Contains(policies, canary.SplitPolicy(value)) {
		return canary.SplitPolicy(value)
	}
	names := make([]string, len(policies))
	for i, p := range policies {
		names[i] = string(p)
	}
	d.fail(path, "must be one of %s, got %s", strings.Join(names, ", "), shown(value))
	return ""
}
