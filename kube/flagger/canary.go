package flagger

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/kedaapi"
	"github.com/canarykit/canarykit/mesh/gatewayapi"
	"github.com/canarykit/canarykit/mesh/istioapi"
)

// kindCanary is a Flagger Canary's kind.
const kindCanary = "Canary"

// Canary is a Flagger Canary in canarykit's terms: what to release (Target), how to analyse it
// (Spec) and how to drive the Deployment (Workload).
type Canary struct {
	// Name and Namespace of the Canary object.
	Name, Namespace string
	// UID is the Canary object's metadata.uid, as the API server gave it (a manifest has none):
	// the Events the driver records on the Canary refer to the object by it, and it is
	// Target.CanaryUID (the objects Flagger generated for this Canary are adopted, not those of
	// an earlier Canary of the same name).
	UID      string
	Target   canary.Target
	Spec     canary.Spec
	Workload Workload
	// Router is the router spec.provider (and spec.service.gatewayRefs) chooses.
	Router Router
	// GatewayRefs are spec.service.gatewayRefs: the HTTPRoute's parents.
	GatewayRefs []ParentRef
	// Service holds spec.service's routing fields (its name, ports and gatewayRefs are in
	// Target, Workload and GatewayRefs): hosts, the VirtualService's hosts besides the apex
	// service (or an HTTPRoute's hostnames), and for provider istio the Istio Gateways it
	// binds to, the HTTP routes' match, rewrite, timeout, retries, corsPolicy and headers, and
	// the DestinationRules' trafficPolicy, as Flagger's Istio router writes them.
	Service istioapi.Service
	// RewriteType is spec.service.rewrite.type, for a Gateway API HTTPRoute only (Flagger
	// reads it there only): gatewayapi.ReplaceFullPath (the default, "") or
	// ReplacePrefixMatch. See GatewayService.
	RewriteType string
	// ServiceMirror is spec.service.mirror, for a Gateway API HTTPRoute only (Flagger's
	// Gateway API routers write it, its other routers ignore it; canarykit refuses it with
	// them): the Services each route rule copies every request to. See GatewayService.
	ServiceMirror []gatewayapi.Mirror
	// BackendTimeout is spec.service.backendTimeout, a Gateway API Duration: the HTTPRoute
	// rules' timeouts.backendRequest (provider gatewayapi, or linkerd with gatewayRefs; other
	// providers are refused, as Flagger ignores it for them). With an HTTPRoute,
	// Service.Timeout (spec.service.timeout) is the rules' timeouts.request.
	BackendTimeout string
	// RequestTimeoutOff is spec.service.timeout given as zero (0s), which Service.Timeout,
	// where 0 is absent, cannot say. With a Gateway API HTTPRoute the rules' timeouts.request
	// is then 0s, Gateway API's way of turning the request timeout off (absent, the gateway's
	// default applies); every other provider refuses it at spec.service.timeout (Istio
	// refuses a route timeout under 1ms, the others carry no timeout).
	RequestTimeoutOff bool
	// MetricsServer is spec.metricsServer (empty: the driver's Prometheus).
	MetricsServer string
	// TemplateRefs are the metrics that name a Flagger MetricTemplate; their queries are empty
	// until Resolve fills them in.
	TemplateRefs []MetricTemplateRef
	// Alerts are analysis.alerts: AlertProviders to notify, each from a severity on; their
	// providers are nil until Resolve fills them in.
	Alerts []AlertRef
	// Sequential is the sequential check AnnotationSequentialCheck adds to the analysis (nil
	// without it); the driver binds it to a checker.
	Sequential *SequentialCheck
	// RevertOnDeletion is spec.revertOnDeletion: deleting the Canary hands the target back
	// (scaled up, the apex Service selecting its pods, the generated objects removed) instead
	// of leaving the traffic on the primary. Acting on it is a controller's work (the driver's
	// Retire); loading only reads it.
	RevertOnDeletion bool
	// Suspend is spec.suspend: nothing is driven while it is true. A Target pauses its running
	// analysis (as Pause does) and starts no release until it is false again; a Release of a
	// suspended Canary is refused.
	Suspend bool
	// Notes are conversions worth knowing (e.g. a deprecated autoscaler apiVersion read as
	// autoscaling/v2, legacy scalar thresholds turned into ranges).
	Notes []string

	// legacyAnalysis: the manifest's analysis is spec.canaryAnalysis (v1alpha3), for the
	// paths CheckNGINX reports.
	legacyAnalysis bool
}

// FlaggerMinInterval is the shortest analysis interval Flagger runs: it raises a shorter
// spec.analysis.interval to it. canarykit runs intervals from 1s as written (tests, fast
// pipelines), with a Note on the Canary.
const FlaggerMinInterval = 10 * time.Second

// key is "namespace/name".
func (m *Canary) key() string { return m.Namespace + "/" + m.Name }

// Workload is how a Canary's target is driven: its kind, the services' ports, the
// autoscaler and the readiness thresholds (the driver turns it into kube.WorkloadOptions).
type Workload struct {
	// Kind is spec.targetRef.kind: "" for a Deployment, or "DaemonSet" (kube.KindDaemonSet;
	// kube.WorkloadOptions.Kind). A DaemonSet has no autoscalerRef.
	Kind string
	// Port is spec.service.port.
	Port int32
	// TargetPort is spec.service.targetPort: a port number or name; "" means Port.
	TargetPort string
	// PortName and AppProtocol are spec.service.portName and appProtocol.
	PortName, AppProtocol string
	// PortDiscovery is spec.service.portDiscovery: the Services also carry the ports of the
	// target's containers (kube.WorkloadOptions.PortDiscovery).
	PortDiscovery bool
	// ApexMetadata, PrimaryMetadata and CanaryMetadata are spec.service.apex, primary and
	// canary: labels and annotations of the apex, primary and canary Services
	// (kube.WorkloadOptions.ApexMetadata, ...); the apex's also go on the VirtualService
	// (istio) or HTTPRoute (Gateway API), where Flagger writes them (not on an SMI
	// TrafficSplit, nor on the NGINX canary Ingress, where Flagger writes none).
	ApexMetadata, PrimaryMetadata, CanaryMetadata canary.Metadata
	// UnmanagedMetadata is spec.service.unmanagedMetadata: label and annotation keys others
	// write on the Services, kept as they are (kube.WorkloadOptions.UnmanagedMetadata).
	UnmanagedMetadata canary.MetadataKeys
	// Headless and TrafficDistribution are spec.service.headless (the Services without a
	// cluster IP) and trafficDistribution (kube.WorkloadOptions.Headless, TrafficDistribution).
	Headless            bool
	TrafficDistribution string
	// Autoscaler is spec.autoscalerRef.name, if any: an autoscaling/v2 HorizontalPodAutoscaler,
	// or with AutoscalerKind "ScaledObject" a KEDA ScaledObject (keda.sh/v1alpha1).
	Autoscaler string
	// AutoscalerKind is kedaapi.Kind ("ScaledObject") for a KEDA ScaledObject, "" for a
	// HorizontalPodAutoscaler (kube.WorkloadOptions.AutoscalerKind).
	AutoscalerKind string
	// PrimaryScalerQueries is spec.autoscalerRef.primaryScalerQueries: by trigger name, the
	// query of the primary's ScaledObject's trigger (kube.WorkloadOptions.PrimaryScalerQueries).
	// Only with a ScaledObject; bounded by kedaapi.QueriesProblems.
	PrimaryScalerQueries map[string]string
	// PrimaryMinReplicas and PrimaryMaxReplicas are spec.autoscalerRef.primaryScalerReplicas.
	PrimaryMinReplicas, PrimaryMaxReplicas int32
	// PrimaryReadyThreshold and CanaryReadyThreshold are the analysis' percentages of updated
	// replicas that must be available (0: 100).
	PrimaryReadyThreshold, CanaryReadyThreshold int
}

// LoadCanary converts one Flagger Canary (flagger.app/v1beta1 with `analysis`, or the legacy
// v1alpha3 with `canaryAnalysis`; scalar metric thresholds in either) into a Canary: a YAML
// document, or a List holding it. Anything else in the data is an error (LoadObjects reads a
// Canary with the objects it refers to). Fields canarykit does not support are reported by
// path, every one of them, never dropped. The target's names and the spec are validated as
// canary.New validates them, except what depends on the wiring: a metric without a query must
// name a built-in check or a checker of the Rollout it runs in (the driver's are Linkerd's;
// canaryctl validate checks that too). Errors wrap canary.ErrInvalidSpec.
func LoadCanary(data []byte) (*Canary, error) {
	objs, err := load(data, "Flagger Canary", kindCanary)
	if err != nil {
		return nil, err
	}
	if n := len(objs.Canaries); n != 1 {
		return nil, &canary.ValidationError{Subject: "Flagger Canary", Problems: []canary.FieldError{{
			Field: "kind", Message: fmt.Sprintf("want one Canary, the data holds %d (LoadObjects reads several)", n)}}}
	}
	return objs.Canaries[0], nil
}

// decodeCanary converts a Canary document; problems go to d.
func decodeCanary(d *decoder, doc *object) *Canary {
	m := &Canary{}
	apiVersion := doc.str("apiVersion")
	if kind := doc.str("kind"); kind != kindCanary {
		d.fail(doc.at("kind"), "must be Canary, got %s", shown(kind))
	}
	legacy := false
	switch apiVersion {
	case "flagger.app/v1beta1":
	case "flagger.app/v1alpha3", "flagger.app/v1alpha2", "flagger.app/v1alpha1":
		legacy = true
	default:
		d.fail(doc.at("apiVersion"), "must be flagger.app/v1beta1 (or the legacy v1alpha3), got %s", shown(apiVersion))
	}
	meta := doc.obj("metadata")
	m.Name, m.Namespace = meta.name("name", false), meta.namespace("namespace", "")
	m.UID = meta.str("uid")
	annotations := meta.strMap("annotations")
	meta.ignore(objectMetaFields...)
	meta.done()
	doc.ignore("status")

	spec := doc.obj("spec")
	ref := spec.obj("targetRef")
	switch k := ref.str("kind"); k {
	case "Deployment":
	case "DaemonSet": // kube.KindDaemonSet (kube is not imported: see deps_test.go)
		m.Workload.Kind = k
	default:
		d.fail(ref.at("kind"), "canarykit drives Deployments and DaemonSets; got %s", shown(k))
	}
	if v := ref.str("apiVersion"); v != "" && v != "apps/v1" {
		d.fail(ref.at("apiVersion"), "must be apps/v1, got %s", shown(v))
	}
	m.Target = canary.Target{Namespace: m.Namespace, Name: ref.name("name", true), CanaryUID: m.UID}
	if m.Name != m.Target.Name {
		m.Target.Canary = m.Name // Flagger names the release after the Canary object
	}
	ref.done()
	if spec.has("autoscalerRef") {
		if m.Workload.Kind == "DaemonSet" {
			d.fail(spec.at("autoscalerRef"), "a DaemonSet runs one pod per node and has no autoscaler; remove autoscalerRef")
			spec.ignore("autoscalerRef") // refused as a whole, its fields unread
		} else {
			decodeAutoscaler(d, spec.obj("autoscalerRef"), m)
		}
	}
	m.Spec.ProgressDeadline = spec.seconds("progressDeadlineSeconds")
	if m.Spec.ProgressDeadline == 0 && spec.has("progressDeadlineSeconds") {
		// Flagger would fail the release at its first wait; canarykit's 0 is the default
		d.fail(spec.at("progressDeadlineSeconds"), "must be at least 1, got 0 (omit it for the default, 600)")
	}
	m.Spec.SkipAnalysis = spec.bool("skipAnalysis")
	m.MetricsServer = spec.httpURL("metricsServer")
	provider := spec.str("provider")
	decodeService(d, spec.obj("service"), m)
	checkServiceNames(d, spec, m)
	key := "analysis"
	if legacy && spec.has("canaryAnalysis") {
		key, m.legacyAnalysis = "canaryAnalysis", true
	}
	if !spec.has(key) {
		d.fail(spec.at(key), "required, as in Flagger's schema (with skipAnalysis: true, an empty one)")
	}
	decodeAnalysis(d, spec.obj(key), m)
	decodeAnnotations(d, annotations, meta.at("annotations"), m)
	if spec.has("ingressRef") {
		m.Target.Ingress = decodeIngressRef(d, spec.obj("ingressRef"), m)
	}
	m.RevertOnDeletion = spec.bool("revertOnDeletion")
	m.Suspend = spec.bool("suspend")
	spec.unsupported("upstreamRef", "routeRef")
	spec.done()
	doc.done()
	var why string
	if m.Router, why = parseProvider(provider, len(m.GatewayRefs) > 0); why != "" {
		d.fail(spec.at("provider"), "%s", why)
	} else if len(m.GatewayRefs) > 0 && m.Router.Kind != RouterHTTPRoute {
		d.fail(spec.at("service.gatewayRefs"), "provider %s writes no HTTPRoute for them to attach to; use linkerd or gatewayapi:<version>", shown(provider))
	} else if len(m.GatewayRefs) > 0 && provider == "" {
		m.Notes = append(m.Notes, "spec.provider is not set: spec.service.gatewayRefs choose a Gateway API HTTPRoute (its served version)")
	}
	if why == "" {
		checkIstio(d, spec, key, m)
		checkMirror(d, key, m)
		checkSessionAffinity(d, key, m)
		checkGatewayTimeouts(d, spec, m)
	}
	if len(d.problems) == 0 {
		// the engine's checks, at the manifest's paths
		var ve *canary.ValidationError
		if err := m.Spec.Validate(); errors.As(err, &ve) {
			for _, p := range ve.Problems {
				field := p.Field
				if rest, ok := strings.CutPrefix(field, "analysis."); ok {
					field = key + "." + rest
				}
				d.fail("spec."+field, "%s", p.Message) // the engine's path, already quoted where it must be
			}
		} else if err != nil {
			d.fail(spec.path, "%v", err)
		}
	}
	if len(d.problems) == 0 && why == "" {
		checkMatch(d, key, m)
	}
	if m.Router.Kind == RouterNGINX {
		checkNGINX(d, key, m)
	}
	if len(d.problems) == 0 && m.Router.Kind == RouterKubernetes &&
		(m.Spec.Strategy() != canary.StrategyBlueGreen || m.Spec.StepWeightPromotion != 0) {
		d.fail(spec.at("provider"), "kubernetes switches all traffic at once (blue/green): use %s.iterations without match, and no stepWeight, stepWeights or stepWeightPromotion", key)
	}
	return m
}

func decodeAutoscaler(d *decoder, as *object, m *Canary) {
	kind, apiVersion := as.str("kind"), as.str("apiVersion")
	switch kind {
	case "HorizontalPodAutoscaler":
		if apiVersion != "autoscaling/v2" {
			m.Notes = append(m.Notes, fmt.Sprintf("spec.autoscalerRef.apiVersion %s is read as autoscaling/v2", shown(apiVersion)))
		}
	case kedaapi.Kind:
		m.Workload.AutoscalerKind = kedaapi.Kind
		if apiVersion != kedaapi.APIVersion {
			d.fail(as.at("apiVersion"), "a KEDA ScaledObject must be %s, got %s", kedaapi.APIVersion, shown(apiVersion))
		}
	default:
		d.fail(as.at("kind"), "canarykit supports HorizontalPodAutoscaler and ScaledObject (KEDA); got %s", shown(kind))
	}
	m.Workload.Autoscaler = as.name("name", true)
	if name := m.Workload.Autoscaler; canary.IsDNSSubdomain(name) && len(name+"-primary") > 253 {
		// the primary's autoscaler is "<name>-primary", an object name
		d.fail(as.at("name"), "%s is too long: the primary's autoscaler %s must fit in 253 characters", shown(name), shown(name+"-primary"))
	}
	if as.has("primaryScalerReplicas") {
		psr := as.obj("primaryScalerReplicas")
		// at least 1 each, as Flagger's schema says (0 here would mean "not set")
		if psr.has("minReplicas") {
			m.Workload.PrimaryMinReplicas = int32(psr.intIn("minReplicas", 1, math.MaxInt32))
		}
		if psr.has("maxReplicas") {
			m.Workload.PrimaryMaxReplicas = int32(psr.intIn("maxReplicas", 1, math.MaxInt32))
		}
		if mn, mx := m.Workload.PrimaryMinReplicas, m.Workload.PrimaryMaxReplicas; mn > 0 && mx > 0 && mn > mx {
			d.fail(psr.path, "want minReplicas <= maxReplicas, got %d and %d", mn, mx)
		}
		psr.done()
	}
	if as.has("primaryScalerQueries") {
		path := as.at("primaryScalerQueries")
		given, isMap := as.m["primaryScalerQueries"].(map[string]any)
		queries := as.strMap("primaryScalerQueries")
		switch {
		case isMap && len(given) == 0 && kind == kedaapi.Kind:
			// Flagger rewrites the primary's queries only when the field is absent (null): an
			// empty mapping leaves each trigger with the target's query
			d.fail(path, "empty: Flagger then keeps the target's queries on the primary's triggers unchanged, which scale the primary on the canary's load; leave it out to have them rewritten for the primary, or give each trigger's query")
		case len(queries) == 0:
			// a HorizontalPodAutoscaler has no queries: {} asks for none
		case kind != kedaapi.Kind:
			d.fail(path, "applies to a ScaledObject (KEDA) only: a HorizontalPodAutoscaler has no queries (Flagger ignores it)")
		default:
			for _, p := range kedaapi.QueriesProblems(queries) {
				at := path
				if p.Key != "" {
					at = canary.FieldPath(path, p.Key)
				}
				d.fail(at, "%s", p.Message)
			}
			m.Workload.PrimaryScalerQueries = queries
		}
	}
	as.done()
}

func decodeService(d *decoder, svc *object, m *Canary) {
	m.Target.Service = svc.str("name")
	if !svc.has("port") {
		d.fail(svc.at("port"), "required: the port of the Services canarykit creates for the target")
	}
	m.Workload.Port = svc.port("port")
	m.Workload.TargetPort = svc.portOrName("targetPort")
	// both go into the Services as written: checked as the API server checks them
	if m.Workload.PortName = svc.str("portName"); m.Workload.PortName != "" && !isPortName(m.Workload.PortName) {
		d.fail(svc.at("portName"), "must be a port name (at most 15 lowercase letters, digits and '-', a letter among them, no \"--\"), got %s", shown(m.Workload.PortName))
	}
	if m.Workload.AppProtocol = svc.str("appProtocol"); m.Workload.AppProtocol != "" && !isQualifiedName(m.Workload.AppProtocol) {
		d.fail(svc.at("appProtocol"), "must be a Kubernetes qualified name (an optional lowercase DNS prefix and '/', then at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit), got %s", shown(m.Workload.AppProtocol))
	}
	m.Workload.PortDiscovery = svc.bool("portDiscovery")
	m.GatewayRefs = decodeGatewayRefs(d, svc, m.Namespace)
	decodeIstioService(d, svc, m)
	decodeServiceObjects(d, svc, m)
	if svc.str("meshName") != "" {
		// App Mesh's, read by Flagger's appmesh router only (canarykit refuses that provider)
		d.fail(svc.at("meshName"), "App Mesh's mesh name: canarykit drives no App Mesh, and Flagger's other providers ignore it; leave it out")
	}
	m.ServiceMirror = decodeServiceMirror(svc)
	svc.unsupported("backends")
	svc.done()
}

func decodeAnalysis(d *decoder, a *object, m *Canary) {
	s := &m.Spec
	s.Interval = a.interval("interval")
	if s.Interval > 0 && s.Interval < FlaggerMinInterval {
		m.Notes = append(m.Notes, fmt.Sprintf("%s %s runs as written: Flagger would raise it to %s", a.at("interval"), s.Interval, FlaggerMinInterval))
	}
	s.Threshold = a.int("threshold")
	s.MaxWeight = a.int("maxWeight")
	s.StepWeight = a.int("stepWeight")
	s.StepWeights = a.ints("stepWeights")
	s.StepWeightPromotion = a.int("stepWeightPromotion")
	s.Iterations = a.int("iterations")
	for _, mo := range a.list("match") {
		s.Match = append(s.Match, decodeMatch(mo))
	}
	for _, mo := range a.list("metrics") {
		// Flagger queries Prometheus with the whitespace collapsed; a query written over many
		// lines is one line in canarykit's events too
		met := canary.Metric{Name: mo.str("name"), Interval: mo.interval("interval"), Query: canary.CompactQuery(mo.str("query"))}
		if mo.has("thresholdRange") {
			tr := mo.obj("thresholdRange")
			if tr.has("min") { // min: null is no bound, as in Flagger
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
			// deprecated, but kept by flagger.app/v1beta1 (CanaryMetric.Threshold) and written
			// by Flagger's own podinfo chart: read as in v1alpha3
			switch {
			case mo.has("thresholdRange"):
				// Flagger checks the range when there is one, and the scalar only without
				m.Notes = append(m.Notes, fmt.Sprintf("%s: legacy threshold %v not used: thresholdRange %s is set", mo.path, v, met.ThresholdRange))
			default:
				// v1alpha3: a minimum for the success rate, a maximum for durations and custom queries
				met.ThresholdRange = canary.AtMost(v)
				if met.Name == "request-success-rate" {
					met.ThresholdRange = canary.AtLeast(v)
				}
				m.Notes = append(m.Notes, fmt.Sprintf("%s: legacy threshold %v read as thresholdRange %s", mo.path, v, met.ThresholdRange))
			}
		}
		if met.Name == "request-duration" {
			wholeMilliseconds(m, mo.path, &met.ThresholdRange)
		}
		if mo.has("templateVariables") {
			met.Variables = mo.strMap("templateVariables")
		}
		if mo.has("templateRef") {
			ref := mo.obj("templateRef")
			// the namespace defaults to the Canary's, as in Flagger
			r := MetricTemplateRef{Metric: len(s.Metrics), Name: ref.name("name", true), Namespace: ref.namespace("namespace", m.Namespace), Path: ref.path}
			r.CanaryNamespace = ref.str("namespace") == "" // the Canary's, wherever it is placed
			if met.Query != "" {
				d.fail(mo.at("templateRef"), "set query or templateRef, not both")
			}
			ref.done()
			m.TemplateRefs = append(m.TemplateRefs, r)
		}
		checkBuiltinName(mo, met)
		mo.done()
		s.Metrics = append(s.Metrics, met)
	}
	for _, wo := range a.list("webhooks") {
		s.Webhooks = append(s.Webhooks, canary.Webhook{
			Name: wo.str("name"), Type: canary.HookType(wo.str("type")), URL: wo.httpURL("url"), Timeout: hookTimeout(wo),
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
	decodeMirror(a, s)
	decodeSessionAffinity(a, s)
	a.done()
}

// wholeMilliseconds truncates the bounds of Flagger's built-in request-duration check toward
// zero, as Flagger compares them (a time.Duration of whole milliseconds; the value is read so
// too, metrics.WholeMilliseconds), with a Note when a bound changes.
func wholeMilliseconds(m *Canary, path string, r *canary.Range) {
	for _, b := range []*float64{r.Min, r.Max} {
		if b != nil && !math.IsInf(*b, 0) && !math.IsNaN(*b) && math.Trunc(*b) != *b {
			m.Notes = append(m.Notes, fmt.Sprintf("%s: request-duration bound %v read as %v: Flagger compares whole milliseconds", path, *b, math.Trunc(*b)))
			*b = math.Trunc(*b)
		}
	}
}

// builtinChecks are the names of Flagger's built-in checks: a metric so named runs the check
// of the Canary's provider in Flagger, whatever else it gives.
var builtinChecks = []string{"request-success-rate", "request-duration"}

// checkBuiltinName refuses a query or a templateRef on a metric named after a built-in
// check. Flagger runs the built-in check of such a metric as well as its query or template,
// each against the metric's range, where canarykit would run the query or template alone: a
// check of the manifest would be lost. templateVariables are refused there too: the built-in
// checks' queries use none.
func checkBuiltinName(mo *object, met canary.Metric) {
	if !slices.Contains(builtinChecks, met.Name) {
		return
	}
	if len(met.Variables) > 0 {
		mo.d.fail(mo.at("templateVariables"), "%s is Flagger's built-in check, whose query uses no template variables; leave them out, or give the metric another name and a query or templateRef that uses them", met.Name)
	}
	if met.Query != "" {
		mo.d.fail(mo.at("query"), "%s names Flagger's built-in check, which Flagger runs as well as this query, both against the range; rename the metric to run the query alone, or remove the query for the built-in check", met.Name)
	}
	if mo.has("templateRef") {
		mo.d.fail(mo.at("templateRef"), "%s names Flagger's built-in check, which Flagger runs as well as this template's query, both against the range; rename the metric to run the template alone, or remove the templateRef for the built-in check", met.Name)
	}
}

// hookTimeout reads a webhook's timeout. Flagger reads 0s as no timeout at all, where
// canarykit's 0 is the default (10s): refused, as a hook that may never answer holds its
// release for good.
func hookTimeout(wo *object) time.Duration {
	t := wo.duration("timeout")
	v, _ := wo.get("timeout")
	if s, _ := v.(string); t == 0 && s != "" {
		wo.d.fail(wo.at("timeout"), "must be positive, got %s (Flagger waits for ever; omit it for the default, 10s)", s)
	}
	return t
}
