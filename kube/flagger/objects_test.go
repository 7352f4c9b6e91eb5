package flagger_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func loadResources(t *testing.T, name string) *flagger.Objects {
	t.Helper()
	return loadTestdata(t, name, flagger.LoadObjects)
}

func problems(t *testing.T, err error) []string {
	t.Helper()
	require.ErrorIs(t, err, canary.ErrInvalidSpec)
	var ve *canary.ValidationError
	require.True(t, errors.As(err, &ve), "%v", err)
	var got []string
	for _, p := range ve.Problems {
		got = append(got, p.Error())
	}
	return got
}

func TestLoadObjects(t *testing.T) {
	ts := loadResources(t, "metric-templates-003.yaml").MetricTemplates
	require.Len(t, ts, 2)
	assert.Equal(t, "istio-system/error-rate", ts[0].Key())
	assert.Equal(t, flagger.MetricTemplateProvider{Type: "prometheus", Address: "http://prometheus.istio-system:9090"}, ts[0].Provider)
	assert.Contains(t, ts[0].Query, `classification!="failure"`)
	assert.Equal(t, "prom-auth", ts[1].Provider.SecretRef)
	assert.Contains(t, ts[1].Query, "histogram_quantile(")

	_, err := flagger.LoadObjects([]byte(`
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: errors, namespace: ops}
spec:
  provider: {type: prometheus, address: "http://prom:9090", headers: {X-Scope-OrgID: [tenant-a]}, insecureSkipVerify: true}
  query: x
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: odd, namespace: ops}
spec:
  provider: {type: "Prom\nINFO ok", address: "http://prom:9090"}
  query: x
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: dd, namespace: ops}
spec:
  provider: {type: cloudwatch, address: "prom:9090", region: eu-west-1}
  query: ""
  colour: blue
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: errors}
spec:
  provider: {secretRef: {}}
  query: q
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: errors, namespace: ops}
spec:
  provider: {type: prometheus, address: "https://prom.example.com/api/prom"}
  query: z
`))
	assert.ElementsMatch(t, []string{
		`document 2: spec.provider.type: "Prom\nINFO ok" is not supported by canarykit yet (prometheus, or a server with its API; datadog)`,
		`document 3: spec.provider.type: cloudwatch is not supported by canarykit yet (prometheus, or a server with its API; datadog)`,
		`document 3: spec.provider.address: must be an absolute http(s) URL, got "prom:9090"`,
		"document 3: spec.provider.region: not supported by canarykit yet",
		"document 3: spec.query: required",
		"document 3: spec.colour: unknown field (not a Flagger MetricTemplate field canarykit knows)",
		`document 4: kind: must be Canary, MetricTemplate or AlertProvider, got "Deployment"`,
		"document 5: metadata.name: MetricTemplate ops/errors is also at document 1",
	}, problems(t, err))

	one, err := flagger.LoadObjects([]byte(`
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: errors, namespace: ops}
spec:
  provider: {type: prometheus, address: "http://prom:9090", headers: {X-Scope-OrgID: [tenant-a]}, insecureSkipVerify: true}
  query: x
`))
	require.NoError(t, err)
	assert.Equal(t, flagger.MetricTemplateProvider{Type: "prometheus", Address: "http://prom:9090",
		InsecureSkipVerify: true, Headers: map[string][]string{"X-Scope-OrgID": {"tenant-a"}}}, one.MetricTemplates[0].Provider)

	_, err = flagger.LoadObjects([]byte(`
apiVersion: flagger.app/v1alpha1
kind: MetricTemplate
metadata: {name: errors}
spec:
  provider: {secretRef: {}}
  query: q
`))
	assert.ElementsMatch(t, []string{
		`apiVersion: must be flagger.app/v1beta1, got "flagger.app/v1alpha1"`,
		"metadata.namespace: required: a Canary refers to it by namespace (or its own)",
		"spec.provider.type: required: prometheus or datadog",
		"spec.provider.address: required: the Prometheus API's base URL",
		"spec.provider.secretRef.name: required",
	}, problems(t, err))
}

func TestTemplateRefsAreResolved(t *testing.T) {
	m := load(t, "canary-003-ab-testing.yaml")
	require.Equal(t, []flagger.MetricTemplateRef{
		{Metric: 0, Name: "error-rate", Namespace: "istio-system", Path: "spec.analysis.metrics[0].templateRef"},
		{Metric: 1, Name: "latency", Namespace: "istio-system", Path: "spec.analysis.metrics[1].templateRef"},
	}, m.TemplateRefs)
	assert.Equal(t, []string{"MetricTemplate istio-system/error-rate", "MetricTemplate istio-system/latency"}, m.Unresolved())
	assert.Empty(t, m.Spec.Metrics[0].Query, "no query until the template is known")

	// a source without the templates: every reference reported by path, nothing filled in
	err := m.Resolve(context.Background(), &flagger.Objects{})
	assert.ElementsMatch(t, []string{
		"spec.analysis.metrics[0].templateRef: not found: MetricTemplate istio-system/error-rate is not among the 0 given",
		"spec.analysis.metrics[1].templateRef: not found: MetricTemplate istio-system/latency is not among the 0 given",
	}, problems(t, err))
	assert.Len(t, m.Unresolved(), 2)

	rs := loadResources(t, "metric-templates-003.yaml")
	ts := rs.MetricTemplates
	other := &flagger.Objects{MetricTemplates: []flagger.MetricTemplate{{Name: "latency", Namespace: "istio-system", Query: "from the first source",
		Provider: flagger.MetricTemplateProvider{Type: "prometheus", Address: "http://other:9090"}}}}
	require.NoError(t, m.Resolve(context.Background(), flagger.Sources{other, rs}))
	assert.Empty(t, m.Unresolved())
	assert.Equal(t, canary.CompactQuery(ts[0].Query), m.Spec.Metrics[0].Query, "the template's query, on one line")
	assert.NotContains(t, m.Spec.Metrics[0].Query, "\n")
	assert.Equal(t, "from the first source", m.Spec.Metrics[1].Query, "the first source that has a template wins")
	assert.Equal(t, "http://other:9090", m.TemplateRefs[1].Template.Provider.Address)
	assert.Equal(t, canary.AtMost(1), m.Spec.Metrics[0].ThresholdRange, "the Canary's threshold, not the template's")

	// a template whose query does not parse is reported at the metric
	m = load(t, "canary-003-ab-testing.yaml")
	bad := &flagger.Objects{MetricTemplates: []flagger.MetricTemplate{
		{Name: "error-rate", Namespace: "istio-system", Query: "x{{ oops"},
		{Name: "latency", Namespace: "istio-system", Query: "y"},
	}}
	err = m.Resolve(context.Background(), bad)
	assert.Equal(t, []string{`spec.analysis.metrics[0].templateRef: MetricTemplate istio-system/error-rate spec.query: parse query template: template: query:1: function "oops" not defined`},
		problems(t, err), "reported at the reference, naming the template")
	assert.Len(t, m.Unresolved(), 2, "a failed Resolve leaves the manifest as it was")
	assert.Empty(t, m.Spec.Metrics[1].Query)

	// resolving again (a Release does it every time) sees the objects as they are now
	require.NoError(t, m.Resolve(context.Background(), rs))
	fixed := *rs
	fixed.MetricTemplates = slices.Clone(rs.MetricTemplates)
	fixed.MetricTemplates[1].Query = "histogram_quantile(0.5, x)"
	require.NoError(t, m.Resolve(context.Background(), &fixed))
	assert.Equal(t, "histogram_quantile(0.5, x)", m.Spec.Metrics[1].Query)

	// a reference to a metric the spec does not have is an error, not a panic
	m.TemplateRefs[1].Metric = 7
	err = m.Resolve(context.Background(), rs)
	assert.Equal(t, []string{"spec.analysis.metrics[1].templateRef: refers to metric 7; the spec has 2"}, problems(t, err))
}

func TestLoadObjectsDocuments(t *testing.T) {
	// a leading "---" and comments are not documents; a List is what kubectl get -o yaml writes
	rs, err := flagger.LoadObjects([]byte(`---
# the templates of team ops
apiVersion: v1
kind: List
items:
  - apiVersion: flagger.app/v1beta1
    kind: MetricTemplate
    metadata: {name: errors, namespace: ops, generateName: x-, uid: "1", deletionTimestamp: "2026-01-01T00:00:00Z"}
    spec: {provider: {type: prometheus, address: "http://prom:9090"}, query: up}
  - apiVersion: flagger.app/v1beta1
    kind: AlertProvider
    metadata: {name: on-call, namespace: ops}
    spec: {type: msteams, address: "https://example.webhook.office.com/x"}
...
`))
	require.NoError(t, err)
	require.Len(t, rs.MetricTemplates, 1)
	require.Len(t, rs.AlertProviders, 1)

	_, err = flagger.LoadObjects([]byte("---\napiVersion: flagger.app/v1beta1\nkind: MetricTemplate\nmetadata: {name: e, namespace: ops}\nspec: {bogus: 1}\n"))
	assert.Contains(t, problems(t, err), "spec.bogus: unknown field (not a Flagger MetricTemplate field canarykit knows)",
		"one document: no document number, whatever precedes it")

	_, err = flagger.LoadObjects([]byte(`apiVersion: v1
kind: List
items:
  - {apiVersion: flagger.app/v1beta1, kind: AlertProvider, metadata: {name: a, namespace: ops}, spec: {type: slack, address: "http://x"}}
  - {apiVersion: flagger.app/v1beta1, kind: AlertProvider, metadata: {name: a, namespace: ops}, spec: {type: slack}}
---
kind: Secret
`))
	assert.ElementsMatch(t, []string{
		`document 1: items[1].spec.address: required: the webhook URL (or a secretRef whose "address" key holds it)`,
		"document 1: items[1].metadata.name: AlertProvider ops/a is also at document 1: items[0].",
		`document 2: kind: must be Canary, MetricTemplate or AlertProvider, got "Secret"`,
	}, problems(t, err))

	_, err = flagger.LoadObjects([]byte("apiVersion: v1\nkind: [\n"))
	assert.ErrorIs(t, err, canary.ErrInvalidSpec)
	assert.ErrorContains(t, err, "document 1: not valid YAML")

	// files merged: an object given twice is an error naming it
	other := &flagger.Objects{MetricTemplates: []flagger.MetricTemplate{{Name: "errors", Namespace: "ops"}}}
	assert.EqualError(t, rs.Merge(other), "given twice: MetricTemplate ops/errors")
	require.NoError(t, rs.Merge(&flagger.Objects{AlertProviders: []flagger.AlertProvider{{Name: "pager", Namespace: "ops"}}}))
	assert.Len(t, rs.AlertProviders, 2)
}

func TestTemplateRefProblems(t *testing.T) {
	m, err := flagger.LoadCanary(podinfoCanary(`
    stepWeight: 10
    maxWeight: 50
    metrics:
      - name: errors
        templateRef: {name: errors}
        thresholdRange: {max: 1}
`))
	require.NoError(t, err)
	assert.Equal(t, []flagger.MetricTemplateRef{{Metric: 0, Name: "errors", Namespace: "test", CanaryNamespace: true, Path: "spec.analysis.metrics[0].templateRef"}}, m.TemplateRefs,
		"the Canary's namespace, as in Flagger")
	err = m.Resolve(context.Background(), nil)
	assert.Equal(t, []string{"spec.analysis.metrics[0].templateRef: MetricTemplate test/errors: no source (give the Flagger objects as files, or read them from the cluster)"},
		problems(t, err))

	_, err = flagger.LoadCanary(podinfoCanary(`
    stepWeight: 10
    metrics:
      - name: errors
        query: up
        templateRef: {namespace: ops, kind: MetricTemplate}
        thresholdRange: {max: 1}
`))
	assert.ElementsMatch(t, []string{
		"spec.analysis.metrics[0].templateRef.name: required",
		"spec.analysis.metrics[0].templateRef: set query or templateRef, not both",
		"spec.analysis.metrics[0].templateRef.kind: unknown field (not a Flagger Canary field canarykit knows)",
	}, problems(t, err))
}

func TestAlerts(t *testing.T) {
	m, err := flagger.LoadCanary(podinfoCanary(`
    stepWeight: 10
    maxWeight: 50
    alerts:
      - name: "on-call Slack"
        severity: error
        providerRef: {name: on-call, namespace: flagger}
      - name: "dev team Discord"
        providerRef: {name: dev-discord}
`))
	require.NoError(t, err)
	assert.Equal(t, []flagger.AlertRef{
		{Name: "on-call Slack", Severity: "error", ProviderName: "on-call", ProviderNamespace: "flagger", Path: "spec.analysis.alerts[0].providerRef"},
		{Name: "dev team Discord", Severity: "info", ProviderName: "dev-discord", ProviderNamespace: "test", CanaryNamespace: true, Path: "spec.analysis.alerts[1].providerRef"},
	}, m.Alerts, "severity info and the Canary's namespace by default, as in Flagger")

	rs, err := flagger.LoadObjects([]byte(`
apiVersion: flagger.app/v1beta1
kind: AlertProvider
metadata: {name: on-call, namespace: flagger}
spec:
  type: slack
  channel: on-call-alerts
  username: flagger
  secretRef: {name: on-call-url}
---
apiVersion: flagger.app/v1beta1
kind: AlertProvider
metadata: {name: dev-discord, namespace: test}
spec:
  type: discord
  address: https://discord.com/api/webhooks/1/abc
  proxy: http://squid:3128
`))
	require.NoError(t, err)
	require.Len(t, rs.AlertProviders, 2)
	assert.Equal(t, flagger.AlertProvider{Name: "on-call", Namespace: "flagger", Type: "slack", Channel: "on-call-alerts", Username: "flagger",
		SecretRef: "on-call-url"}, rs.AlertProviders[0])
	require.NoError(t, m.Resolve(context.Background(), rs))
	assert.Empty(t, m.Unresolved())
	assert.Equal(t, "https://discord.com/api/webhooks/1/abc", m.Alerts[1].Provider.Address)
	assert.Equal(t, "http://squid:3128", m.Alerts[1].Provider.Proxy)

	err = m.Resolve(context.Background(), &flagger.Objects{AlertProviders: rs.AlertProviders[1:]})
	assert.Equal(t, []string{"spec.analysis.alerts[0].providerRef: not found: AlertProvider flagger/on-call is not among the 1 given"}, problems(t, err))

	_, err = flagger.LoadObjects([]byte(`
apiVersion: flagger.app/v1beta1
kind: AlertProvider
metadata: {name: pager, namespace: test}
spec:
  type: opsgenie
  address: "api.opsgenie.com/v2/alerts"
  certSecretRef: {name: ca}
---
apiVersion: flagger.app/v1beta1
kind: AlertProvider
metadata: {name: nowhere, namespace: test}
spec:
  type: slack
`))
	assert.ElementsMatch(t, []string{
		`document 1: spec.type: opsgenie is not supported by canarykit yet ([discord gchat msteams rocket slack])`,
		`document 1: spec.address: must be an absolute http(s) URL, got "api.opsgenie.com/v2/alerts"`,
		"document 1: spec.certSecretRef: not supported by canarykit yet",
		`document 2: spec.address: required: the webhook URL (or a secretRef whose "address" key holds it)`,
	}, problems(t, err))

	_, err = flagger.LoadCanary(podinfoCanary(`
    stepWeight: 10
    alerts:
      - {name: a, severity: critical, providerRef: {name: p}}
      - {name: a, providerRef: {namespace: x}}
`))
	assert.ElementsMatch(t, []string{
		`spec.analysis.alerts[0].severity: must be one of info, warn, error; got "critical"`,
		`spec.analysis.alerts[1].name: duplicate alert "a"`,
		"spec.analysis.alerts[1].providerRef.name: required",
	}, problems(t, err))
}

// A Google Chat AlertProvider (Flagger's type gchat) loads as Flagger writes it, webhook URL
// in spec.address (its key and token in the query) or in its Secret, and a Canary's alert
// resolves to it.
func TestGoogleChatAlertProvider(t *testing.T) {
	objs, err := flagger.LoadObjects(append(podinfoCanary(`
    stepWeight: 10
    alerts:
      - {name: team chat, severity: warn, providerRef: {name: team-chat}}
      - {name: ops chat, providerRef: {name: ops-chat, namespace: flagger}}
---
apiVersion: flagger.app/v1beta1
kind: AlertProvider
metadata: {name: team-chat, namespace: test}
spec:
  type: gchat
  address: https://chat.googleapis.com/v1/spaces/AAA/messages?key=k&token=t
  proxy: http://squid:3128
---
apiVersion: flagger.app/v1beta1
kind: AlertProvider
metadata: {name: ops-chat, namespace: flagger}
spec:
  type: gchat
  secretRef: {name: ops-chat-url}
`), '\n'))
	require.NoError(t, err)
	require.Len(t, objs.AlertProviders, 2)
	assert.Equal(t, flagger.AlertProvider{Name: "team-chat", Namespace: "test", Type: "gchat",
		Address: "https://chat.googleapis.com/v1/spaces/AAA/messages?key=k&token=t", Proxy: "http://squid:3128"}, objs.AlertProviders[0])
	assert.Equal(t, flagger.AlertProvider{Name: "ops-chat", Namespace: "flagger", Type: "gchat", SecretRef: "ops-chat-url"}, objs.AlertProviders[1])
	for _, p := range objs.AlertProviders {
		assert.Equal(t, flagger.AlertFormatGoogleChat, p.Format())
	}

	c, err := objs.Canary("test", "podinfo")
	require.NoError(t, err)
	require.NoError(t, c.Resolve(context.Background(), objs))
	require.Len(t, c.Alerts, 2)
	assert.Equal(t, "warn", c.Alerts[0].Severity)
	assert.Equal(t, objs.AlertProviders[0], *c.Alerts[0].Provider)
	assert.Equal(t, objs.AlertProviders[1], *c.Alerts[1].Provider)
}

// podinfoCanary is a Canary for test/podinfo whose analysis (interval 30s) continues with the
// given lines, indented four spaces.
func podinfoCanary(analysis string) []byte {
	return []byte(`apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898}
  analysis:
    interval: 30s` + analysis)
}

func TestReadyThresholds(t *testing.T) {
	m, err := flagger.LoadCanary(podinfoCanary(`
    stepWeight: 10
    maxWeight: 50
    primaryReadyThreshold: 50
    canaryReadyThreshold: 80
`))
	require.NoError(t, err)
	assert.Equal(t, 50, m.Workload.PrimaryReadyThreshold)
	assert.Equal(t, 80, m.Workload.CanaryReadyThreshold)
	_, err = flagger.LoadCanary(podinfoCanary(`
    stepWeight: 10
    primaryReadyThreshold: 0
    canaryReadyThreshold: 101
`))
	assert.ElementsMatch(t, []string{
		"spec.analysis.primaryReadyThreshold: must be 1..100 (percent of the updated replicas), got 0",
		"spec.analysis.canaryReadyThreshold: must be 1..100 (percent of the updated replicas), got 101",
	}, problems(t, err))
}

func TestWorkloadOptionsFromTheManifest(t *testing.T) {
	m, err := flagger.LoadCanary([]byte(`
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  autoscalerRef:
    apiVersion: autoscaling/v2
    kind: HorizontalPodAutoscaler
    name: podinfo
    primaryScalerReplicas: {minReplicas: 2, maxReplicas: 5}
  service: {port: 9898}
  analysis: {interval: 30s, stepWeight: 10}
`))
	require.NoError(t, err)
	assert.Equal(t, int32(2), m.Workload.PrimaryMinReplicas)
	assert.Equal(t, int32(5), m.Workload.PrimaryMaxReplicas)

	_, err = flagger.LoadCanary([]byte(`
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  autoscalerRef: {apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler, name: podinfo, primaryScalerReplicas: {minReplicas: 6, maxReplicas: 5}}
  service: {port: 9898}
  analysis: {interval: 30s, stepWeight: 10}
`))
	assert.Equal(t, []string{"spec.autoscalerRef.primaryScalerReplicas: want minReplicas <= maxReplicas, got 6 and 5"}, problems(t, err))

	// 0 is below Flagger's schema's minimum, and was read as "not set": the primary's
	// autoscaler kept the target's bounds
	for _, bounds := range []string{"{minReplicas: 0, maxReplicas: 5}", "{minReplicas: 2, maxReplicas: 0}"} {
		_, err = flagger.LoadCanary([]byte(`
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  autoscalerRef: {apiVersion: keda.sh/v1alpha1, kind: ScaledObject, name: podinfo, primaryScalerReplicas: ` + bounds + `}
  service: {port: 9898}
  analysis: {interval: 30s, stepWeight: 10}
`))
		field := "minReplicas"
		if strings.Contains(bounds, "maxReplicas: 0") {
			field = "maxReplicas"
		}
		assert.Equal(t, []string{"spec.autoscalerRef.primaryScalerReplicas." + field + ": must be 1..2147483647, got 0"}, problems(t, err))
	}

}

// Each AlertProvider type canarykit notifies has the payload format of its service.
func TestAlertProviderFormats(t *testing.T) {
	want := map[string]flagger.AlertFormat{"slack": flagger.AlertFormatSlack, "rocket": flagger.AlertFormatSlack,
		"msteams": flagger.AlertFormatTeams, "discord": flagger.AlertFormatDiscord, "gchat": flagger.AlertFormatGoogleChat}
	assert.ElementsMatch(t, []string{"discord", "gchat", "msteams", "rocket", "slack"}, flagger.AlertProviderTypes())
	for typ, format := range want {
		assert.Equal(t, format, flagger.AlertProvider{Type: typ}.Format(), typ)
	}
	assert.Empty(t, flagger.AlertProvider{Type: "opsgenie"}.Format())
}

// A datadog MetricTemplate loads with Flagger's defaults; what Flagger would ignore or
// cannot query without is refused by path.
func TestDatadogMetricTemplate(t *testing.T) {
	objs, err := flagger.LoadObjects([]byte(`
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: latency, namespace: ops}
spec:
  provider:
    type: datadog
    secretRef: {name: datadog}
  query: |
    avg:trace.http.request.duration{service:{{ target }}}
    .rollup(avg, 60)
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: eu, namespace: ops}
spec:
  provider: {type: datadog, address: "https://api.datadoghq.eu", secretRef: {name: dd-eu}, insecureSkipVerify: false}
  query: avg:x{*}
`))
	require.NoError(t, err)
	assert.Equal(t, flagger.MetricTemplateProvider{Type: "datadog", SecretRef: "datadog"}, objs.MetricTemplates[0].Provider,
		"no address: Datadog's default, chosen by the driver")
	assert.Equal(t, flagger.MetricTemplateProvider{Type: "datadog", Address: "https://api.datadoghq.eu", SecretRef: "dd-eu"},
		objs.MetricTemplates[1].Provider)

	_, err = flagger.LoadObjects([]byte(`
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: latency, namespace: ops}
spec:
  provider: {type: datadog, address: "api.datadoghq.com", headers: {DD-API-KEY: [k]}}
  query: avg:x{*}
`))
	assert.ElementsMatch(t, []string{
		`spec.provider.address: must be an absolute http(s) URL, got "api.datadoghq.com"`,
		"spec.provider.secretRef: required for datadog: a Secret with the keys datadog_api_key and datadog_application_key",
		"spec.provider.headers: not supported for datadog (Flagger does not send them); the keys come from secretRef",
	}, problems(t, err))
}

// Flagger's Datadog provider verifies the server's certificate whatever insecureSkipVerify
// says (only its Prometheus provider reads it): canarykit skipped the check where Flagger
// makes it, so insecureSkipVerify: true with datadog is refused at its path.
func TestDatadogMetricTemplateRefusesInsecureSkipVerify(t *testing.T) {
	_, err := flagger.LoadObjects([]byte(`
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: eu, namespace: ops}
spec:
  provider: {type: datadog, address: "https://api.datadoghq.eu", secretRef: {name: dd-eu}, insecureSkipVerify: true}
  query: avg:x{*}
`))
	assert.Equal(t, []string{
		"spec.provider.insecureSkipVerify: not supported for datadog (Flagger verifies Datadog's certificate whatever it says); leave it out",
	}, problems(t, err))
}

// A Datadog template's query is used as written: PromQL's compaction (comments start at #)
// is not Datadog's language.
func TestDatadogTemplateQueryAsWritten(t *testing.T) {
	m := load(t, "canary-003-ab-testing.yaml")
	query := "avg:requests{service:{{ target }},tag:#a}\n  .as_count()"
	src := &flagger.Objects{MetricTemplates: []flagger.MetricTemplate{
		{Name: "error-rate", Namespace: "istio-system", Query: query, Provider: flagger.MetricTemplateProvider{Type: "datadog", SecretRef: "dd"}},
		{Name: "latency", Namespace: "istio-system", Query: "a  #b\n  c", Provider: flagger.MetricTemplateProvider{Type: "prometheus", Address: "http://p:9090"}},
	}}
	require.NoError(t, m.Resolve(context.Background(), src))
	assert.Equal(t, query, m.Spec.Metrics[0].Query)
	assert.Equal(t, "a c", m.Spec.Metrics[1].Query)
}
