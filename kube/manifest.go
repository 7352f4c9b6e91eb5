package kube

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/canarykit/canarykit/canary"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// CanaryManifest is a Flagger Canary in canarykit's terms: what to release (Target), how to
// analyse it (Spec) and how to drive the Deployment (Workload).
type CanaryManifest struct {
	// Name and Namespace of the Canary object.
	Name, Namespace string
	Target          canary.Target
	Spec            canary.Spec
	Workload        WorkloadOptions
	// Provider is spec.provider (empty: the mesh the caller wires), MetricsServer
	// spec.metricsServer (empty: the caller's Prometheus).
	Provider      string
	MetricsServer string
	// TemplateRefs are the metrics that name a Flagger MetricTemplate; their queries are empty
	// until Resolve fills them in.
	TemplateRefs []MetricTemplateRef
	// Alerts are analysis.alerts: AlertProviders to notify, each from a severity on; their
	// providers are nil until Resolve fills them in.
	Alerts []AlertRef
	// Notes are conversions worth knowing (e.g. a deprecated autoscaler apiVersion read as
	// autoscaling/v2, legacy scalar thresholds turned into ranges).
	Notes []string
}

// LoadCanary converts a Flagger Canary manifest (flagger.app/v1beta1 with `analysis`, or the
// legacy v1alpha3 with `canaryAnalysis` and scalar metric thresholds) into a CanaryManifest.
// Fields canarykit does not support are reported by path, every one of them, never dropped;
// the result is validated as canary.New would validate it. Errors wrap canary.ErrInvalidSpec.
func LoadCanary(data []byte) (*CanaryManifest, error) {
	var root map[string]any
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%w: canary manifest is not valid YAML: %v", canary.ErrInvalidSpec, err)
	}
	d := &decoder{}
	m := &CanaryManifest{}
	doc := d.object(root, "")
	apiVersion := doc.str("apiVersion")
	if kind := doc.str("kind"); kind != "Canary" {
		d.fail("kind", "must be Canary, got %q", kind)
	}
	legacy := false
	switch apiVersion {
	case "flagger.app/v1beta1":
	case "flagger.app/v1alpha3", "flagger.app/v1alpha2", "flagger.app/v1alpha1":
		legacy = true
	default:
		d.fail("apiVersion", "must be flagger.app/v1beta1 (or the legacy v1alpha3), got %q", apiVersion)
	}
	meta := doc.obj("metadata")
	m.Name, m.Namespace = meta.str("name"), meta.str("namespace")
	meta.ignore(objectMetaFields...)
	meta.done()
	doc.ignore("status")

	spec := doc.obj("spec")
	ref := spec.obj("targetRef")
	if k := ref.str("kind"); k != "Deployment" {
		d.fail(ref.at("kind"), "canarykit drives Deployments; got %q", k)
	}
	if v := ref.str("apiVersion"); v != "" && v != "apps/v1" {
		d.fail(ref.at("apiVersion"), "must be apps/v1, got %q", v)
	}
	m.Target = canary.Target{Namespace: m.Namespace, Name: ref.str("name")}
	if m.Name != m.Target.Name {
		m.Target.Canary = m.Name // Flagger names the release after the Canary object
	}
	ref.done()
	if spec.has("autoscalerRef") {
		as := spec.obj("autoscalerRef")
		if k := as.str("kind"); k != "HorizontalPodAutoscaler" {
			d.fail(as.at("kind"), "canarykit supports HorizontalPodAutoscaler; got %q", k)
		}
		if v := as.str("apiVersion"); v != "autoscaling/v2" {
			m.Notes = append(m.Notes, fmt.Sprintf("spec.autoscalerRef.apiVersion %s is read as autoscaling/v2", v))
		}
		m.Workload.Autoscaler = as.str("name")
		if as.has("primaryScalerReplicas") {
			psr := as.obj("primaryScalerReplicas")
			m.Workload.PrimaryMinReplicas, m.Workload.PrimaryMaxReplicas = int32(psr.int("minReplicas")), int32(psr.int("maxReplicas"))
			if mn, mx := m.Workload.PrimaryMinReplicas, m.Workload.PrimaryMaxReplicas; mn < 0 || mx < 0 || (mx > 0 && mn > mx) {
				d.fail(psr.path, "want 0 <= minReplicas <= maxReplicas, got %d and %d", mn, mx)
			}
			psr.done()
		}
		as.unsupported("primaryScalerQueries")
		as.done()
	}
	m.Spec.ProgressDeadline = time.Duration(spec.int("progressDeadlineSeconds")) * time.Second
	m.Spec.SkipAnalysis = spec.bool("skipAnalysis")
	m.Provider, m.MetricsServer = spec.str("provider"), spec.str("metricsServer")
	decodeService(d, spec.obj("service"), m)
	key := "analysis"
	if legacy && spec.has("canaryAnalysis") {
		key = "canaryAnalysis"
	}
	decodeAnalysis(d, spec.obj(key), m, legacy)
	spec.unsupported("ingressRef", "upstreamRef", "routeRef", "revertOnDeletion", "suspend")
	spec.done()
	doc.done()

	m.Workload.Target = m.Target
	if err := d.err(); err != nil {
		return nil, err
	}
	if err := m.Spec.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

func decodeService(d *decoder, svc *object, m *CanaryManifest) {
	m.Target.Service = svc.str("name")
	m.Workload.Port = int32(svc.int("port"))
	if svc.has("targetPort") {
		switch v := svc.m["targetPort"].(type) {
		case float64:
			m.Workload.TargetPort = intstr.FromInt32(int32(v))
		case string:
			m.Workload.TargetPort = intstr.Parse(v)
		default:
			d.fail(svc.at("targetPort"), "must be a port number or name")
		}
		svc.seen["targetPort"] = true
	}
	m.Workload.PortName = svc.str("portName")
	m.Workload.AppProtocol = svc.str("appProtocol")
	svc.ignore("meshName") // Linkerd needs none
	svc.unsupported("portDiscovery", "headless", "hosts", "gateways", "trafficPolicy", "match", "rewrite", "retries",
		"headers", "corsPolicy", "timeout", "mirror", "apex", "primary", "canary", "backends", "delegation", "trafficDistribution")
	svc.done()
}

func decodeAnalysis(d *decoder, a *object, m *CanaryManifest, legacy bool) {
	s := &m.Spec
	s.Interval = a.duration("interval")
	s.Threshold = a.int("threshold")
	s.MaxWeight = a.int("maxWeight")
	s.StepWeight = a.int("stepWeight")
	s.StepWeights = a.ints("stepWeights")
	s.StepWeightPromotion = a.int("stepWeightPromotion")
	s.Iterations = a.int("iterations")
	for _, mo := range a.list("match") {
		mt := canary.Match{Headers: map[string]canary.StringMatch{}}
		hs := mo.obj("headers")
		for _, name := range hs.keys() {
			h := hs.obj(name)
			mt.Headers[name] = canary.StringMatch{Exact: h.str("exact"), Prefix: h.str("prefix"), Suffix: h.str("suffix"), Regex: h.str("regex")}
			h.done()
		}
		hs.done()
		mo.unsupported("uri", "method", "queryParams", "sourceLabels", "authority", "scheme", "ignoreUriCase", "withoutHeaders", "port", "name")
		mo.done()
		s.Match = append(s.Match, mt)
	}
	for _, mo := range a.list("metrics") {
		// Flagger queries Prometheus with the whitespace collapsed; a query written over many
		// lines is one line in canarykit's events too
		met := canary.Metric{Name: mo.str("name"), Interval: mo.duration("interval"), Query: canary.CompactQuery(mo.str("query"))}
		if mo.has("thresholdRange") {
			tr := mo.obj("thresholdRange")
			if tr.has("min") {
				v := tr.float("min")
				met.ThresholdRange.Min = &v
			}
			if tr.has("max") {
				v := tr.float("max")
				met.ThresholdRange.Max = &v
			}
			tr.done()
		}
		if mo.has("threshold") {
			v := mo.float("threshold")
			if !legacy {
				d.fail(mo.at("threshold"), "scalar threshold is the legacy v1alpha3 form; use thresholdRange with apiVersion flagger.app/v1beta1")
			}
			// v1alpha3: a minimum for the success rate, a maximum for durations and custom queries
			if met.Name == "request-success-rate" {
				met.ThresholdRange = canary.AtLeast(v)
			} else {
				met.ThresholdRange = canary.AtMost(v)
			}
			m.Notes = append(m.Notes, fmt.Sprintf("%s: legacy threshold %v read as thresholdRange %s", mo.path, v, met.ThresholdRange))
		}
		if mo.has("templateVariables") {
			met.Variables = mo.strMap("templateVariables")
		}
		if mo.has("templateRef") {
			ref := mo.obj("templateRef")
			r := MetricTemplateRef{Metric: len(s.Metrics), Name: ref.str("name"), Namespace: ref.str("namespace"), Path: ref.path}
			if r.Namespace == "" {
				r.Namespace = m.Namespace // Flagger's default: the Canary's namespace
			}
			if r.Name == "" {
				d.fail(ref.at("name"), "required")
			}
			if met.Query != "" {
				d.fail(mo.at("templateRef"), "set query or templateRef, not both")
			}
			ref.done()
			m.TemplateRefs = append(m.TemplateRefs, r)
		}
		mo.done()
		s.Metrics = append(s.Metrics, met)
	}
	for _, wo := range a.list("webhooks") {
		s.Webhooks = append(s.Webhooks, canary.Webhook{
			Name: wo.str("name"), Type: canary.HookType(wo.str("type")), URL: wo.str("url"), Timeout: wo.duration("timeout"),
			Retries: wo.int("retries"), Metadata: wo.strMap("metadata"), MuteAlert: wo.bool("muteAlert"),
			DisableTLS: wo.bool("disableTLS"),
		})
		wo.done()
	}
	decodeAlerts(d, a, m)
	for key, v := range map[string]*int{"primaryReadyThreshold": &m.Workload.PrimaryReadyThreshold, "canaryReadyThreshold": &m.Workload.CanaryReadyThreshold} {
		if a.has(key) {
			if *v = a.int(key); *v < 1 || *v > 100 {
				d.fail(a.at(key), "must be 1..100 (percent of the updated replicas), got %d", *v)
			}
		}
	}
	a.unsupported("mirror", "mirrorWeight", "sessionAffinity")
	a.done()
}

// objectMetaFields are metadata's fields besides name and namespace: they mean nothing to
// canarykit's reading of a manifest.
var objectMetaFields = []string{"generateName", "selfLink", "uid", "resourceVersion", "generation", "creationTimestamp",
	"deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences", "finalizers", "managedFields"}

// decoder walks a manifest's generic tree, converting known fields and collecting a problem for
// every unsupported or mistyped one, with its path.
type decoder struct {
	kind     string // the document's kind, for messages; default Canary
	problems []canary.FieldError
}

func (d *decoder) fail(path, format string, args ...any) {
	d.problems = append(d.problems, canary.FieldError{Field: path, Message: fmt.Sprintf(format, args...)})
}

func (d *decoder) err() error {
	if len(d.problems) == 0 {
		return nil
	}
	return &canary.ValidationError{Problems: d.problems}
}

// object is one mapping of the tree and the keys read from it so far.
type object struct {
	d    *decoder
	m    map[string]any
	path string
	seen map[string]bool
}

func (d *decoder) object(v any, path string) *object {
	m, ok := v.(map[string]any)
	if !ok && v != nil {
		d.fail(path, "must be a mapping")
	}
	return &object{d: d, m: m, path: path, seen: map[string]bool{}}
}

func (o *object) at(key string) string {
	if o.path == "" {
		return key
	}
	return o.path + "." + key
}

func (o *object) has(key string) bool { _, ok := o.m[key]; return ok }

func (o *object) get(key string) (any, bool) {
	o.seen[key] = true
	v, ok := o.m[key]
	return v, ok && v != nil
}

func (o *object) keys() []string {
	var ks []string
	for k := range o.m {
		ks = append(ks, k)
		o.seen[k] = true
	}
	slices.Sort(ks)
	return ks
}

func (o *object) obj(key string) *object { v, _ := o.get(key); return o.d.object(v, o.at(key)) }

func (o *object) str(key string) string {
	v, ok := o.get(key)
	if !ok {
		return ""
	}
	s, isStr := v.(string)
	if !isStr {
		o.d.fail(o.at(key), "must be a string")
	}
	return s
}

func (o *object) float(key string) float64 {
	v, ok := o.get(key)
	if !ok {
		return 0
	}
	switch n := v.(type) {
	case float64:
		return n
	case string:
		if f, err := strconv.ParseFloat(n, 64); err == nil {
			return f
		}
	}
	o.d.fail(o.at(key), "must be a number")
	return 0
}

func (o *object) int(key string) int {
	f := o.float(key)
	if f != math.Trunc(f) {
		o.d.fail(o.at(key), "must be a whole number, got %v", f)
	}
	return int(f)
}

func (o *object) bool(key string) bool {
	v, ok := o.get(key)
	if !ok {
		return false
	}
	b, isBool := v.(bool)
	if !isBool {
		o.d.fail(o.at(key), "must be true or false")
	}
	return b
}

func (o *object) duration(key string) time.Duration {
	s := o.str(key)
	if s == "" {
		return 0
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		o.d.fail(o.at(key), "must be a duration like 30s or 1m, got %q", s)
	}
	return dur
}

func (o *object) ints(key string) []int {
	v, ok := o.get(key)
	if !ok {
		return nil
	}
	items, isList := v.([]any)
	if !isList {
		o.d.fail(o.at(key), "must be a list of numbers")
		return nil
	}
	out := make([]int, len(items))
	for i, it := range items {
		f, isNum := it.(float64)
		if !isNum || f != math.Trunc(f) {
			o.d.fail(fmt.Sprintf("%s[%d]", o.at(key), i), "must be a whole number")
		}
		out[i] = int(f)
	}
	return out
}

func (o *object) list(key string) []*object {
	v, ok := o.get(key)
	if !ok {
		return nil
	}
	items, isList := v.([]any)
	if !isList {
		o.d.fail(o.at(key), "must be a list")
		return nil
	}
	out := make([]*object, len(items))
	for i, it := range items {
		out[i] = o.d.object(it, fmt.Sprintf("%s[%d]", o.at(key), i))
	}
	return out
}

func (o *object) strMap(key string) map[string]string {
	v, ok := o.get(key)
	if !ok {
		return nil
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		o.d.fail(o.at(key), "must be a mapping of strings")
		return nil
	}
	out := make(map[string]string, len(m))
	for k, val := range m {
		switch x := val.(type) {
		case string:
			out[k] = x
		case float64, bool:
			out[k] = fmt.Sprint(x)
		default:
			o.d.fail(o.at(key)+"."+k, "must be a string")
		}
	}
	return out
}

// ignore marks keys as read without using them (they mean nothing to canarykit).
func (o *object) ignore(keys ...string) {
	for _, k := range keys {
		o.seen[k] = true
	}
}

// unsupported reports each present key as a Flagger field canarykit does not support yet.
func (o *object) unsupported(keys ...string) {
	for _, k := range keys {
		if o.has(k) && !o.seen[k] {
			o.seen[k] = true
			o.d.fail(o.at(k), "not supported by canarykit yet")
		}
	}
}

// done reports every key nobody read as unknown.
func (o *object) done() {
	var rest []string
	for k := range o.m {
		if !o.seen[k] {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	for _, k := range rest {
		kind := o.d.kind
		if kind == "" {
			kind = "Canary"
		}
		o.d.fail(o.at(k), "unknown field (not a Flagger %s field canarykit knows)", kind)
	}
}
