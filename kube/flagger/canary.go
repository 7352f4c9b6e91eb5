package flagger

import (
	"fmt"

	"github.com/canarykit/canarykit/canary"
)

// Canary is a Flagger Canary in canarykit's terms: what to release (Target), how to analyse it
// (Spec) and how to drive the Deployment (Workload).
type Canary struct {
	// Name and Namespace of the Canary object.
	Name, Namespace string
	Target          canary.Target
	Spec            canary.Spec
	Workload        Workload
	// Router is the router spec.provider (and spec.service.gatewayRefs) chooses.
	Router Router
	// GatewayRefs are spec.service.gatewayRefs: the HTTPRoute's parents.
	GatewayRefs []ParentRef
	// MetricsServer is spec.metricsServer (empty: the driver's Prometheus).
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

// Workload is how a Canary's target Deployment is driven: the services' ports, the
// autoscaler and the readiness thresholds (the driver turns it into kube.WorkloadOptions).
type Workload struct {
	// Port is spec.service.port.
	Port int32
	// TargetPort is spec.service.targetPort: a port number or name; "" means Port.
	TargetPort string
	// PortName and AppProtocol are spec.service.portName and appProtocol.
	PortName, AppProtocol string
	// Autoscaler is spec.autoscalerRef.name (an autoscaling/v2 HorizontalPodAutoscaler), if any.
	Autoscaler string
	// PrimaryMinReplicas and PrimaryMaxReplicas are spec.autoscalerRef.primaryScalerReplicas.
	PrimaryMinReplicas, PrimaryMaxReplicas int32
	// PrimaryReadyThreshold and CanaryReadyThreshold are the analysis' percentages of updated
	// replicas that must be available (0: 100).
	PrimaryReadyThreshold, CanaryReadyThreshold int
}

// LoadCanary converts a Flagger Canary manifest (flagger.app/v1beta1 with `analysis`, or the
// legacy v1alpha3 with `canaryAnalysis` and scalar metric thresholds) into a Canary.
// Fields canarykit does not support are reported by path, every one of them, never dropped;
// the result is validated as canary.New would validate it. Errors wrap canary.ErrInvalidSpec.
func LoadCanary(data []byte) (*Canary, error) {
	root, err := parseYAML(data)
	if err != nil {
		return nil, fmt.Errorf("%w: canary manifest is not valid YAML: %v", canary.ErrInvalidSpec, err)
	}
	d := &decoder{}
	m := &Canary{}
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
	m.Spec.ProgressDeadline = spec.seconds("progressDeadlineSeconds")
	m.Spec.SkipAnalysis = spec.bool("skipAnalysis")
	m.MetricsServer = spec.str("metricsServer")
	provider := spec.str("provider")
	decodeService(d, spec.obj("service"), m)
	key := "analysis"
	if legacy && spec.has("canaryAnalysis") {
		key = "canaryAnalysis"
	}
	decodeAnalysis(d, spec.obj(key), m, legacy)
	spec.unsupported("ingressRef", "upstreamRef", "routeRef", "revertOnDeletion", "suspend")
	spec.done()
	doc.done()
	var why string
	if m.Router, why = parseProvider(provider, len(m.GatewayRefs) > 0); why != "" {
		d.fail("spec.provider", "%s", why)
	}

	if err := d.err(); err != nil {
		return nil, err
	}
	if err := m.Spec.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

func decodeService(d *decoder, svc *object, m *Canary) {
	m.Target.Service = svc.str("name")
	m.Workload.Port = svc.port("port")
	m.Workload.TargetPort = svc.portOrName("targetPort")
	m.Workload.PortName = svc.str("portName")
	m.Workload.AppProtocol = svc.str("appProtocol")
	svc.ignore("meshName") // Linkerd needs none
	svc.unsupported("portDiscovery", "headless", "hosts", "gateways", "trafficPolicy", "match", "rewrite", "retries",
		"headers", "corsPolicy", "timeout", "mirror", "apex", "primary", "canary", "backends", "delegation", "trafficDistribution")
	svc.done()
}

func decodeAnalysis(d *decoder, a *object, m *Canary, legacy bool) {
	s := &m.Spec
	s.Interval = a.interval("interval")
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
		met := canary.Metric{Name: mo.str("name"), Interval: mo.interval("interval"), Query: canary.CompactQuery(mo.str("query"))}
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
			Name: wo.str("name"), Type: canary.HookType(wo.str("type")), URL: wo.httpURL("url"), Timeout: wo.duration("timeout"),
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
