package flagger_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/mesh/gatewayapi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// The Linkerd / Gateway API tutorial's shape: MetricTemplates and the Canary in one stream,
// the apex Service as the HTTPRoute's parent, an A/B test on a header and a cookie.
func TestLoadLinkerdGatewayAPITutorial(t *testing.T) {
	objs := loadTestdata(t, "linkerd-gatewayapi-ab.yaml", flagger.LoadObjects)
	require.Len(t, objs.Canaries, 1)
	require.Len(t, objs.MetricTemplates, 2)
	m := objs.Canaries[0]
	assert.Equal(t, canary.Target{Namespace: "test", Name: "podinfo"}, m.Target)
	assert.Equal(t, []flagger.ParentRef{{Group: "core", Kind: "Service", Name: "podinfo", Namespace: "test", Port: 9898}}, m.GatewayRefs)
	assert.Equal(t, flagger.Router{Kind: flagger.RouterHTTPRoute}, m.Router, "no spec.provider: gatewayRefs choose the HTTPRoute")
	assert.Contains(t, m.Notes, "spec.provider is not set: spec.service.gatewayRefs choose a Gateway API HTTPRoute (its served version)")
	assert.Equal(t, canary.StrategyABTesting, m.Spec.Strategy())
	assert.Equal(t, []canary.Match{
		{Headers: map[string]canary.StringMatch{"x-canary": {Exact: "insider"}}},
		{Headers: map[string]canary.StringMatch{"cookie": {Regex: "^(.*?;)?(canary=always)(;.*)?$"}}},
	}, m.Spec.Match)
	assert.Equal(t, []string{"MetricTemplate test/success-rate", "MetricTemplate test/latency"}, m.Unresolved())

	// the stream is the Source of its own Canary's references
	require.NoError(t, m.Resolve(context.Background(), objs))
	assert.Empty(t, m.Unresolved())
	q, err := canary.RenderQuery(m.Spec.Metrics[0].Query, canary.VarsFor(m.Target, m.Spec.Metrics[0]))
	require.NoError(t, err)
	assert.Equal(t, `sum(rate(response_total{namespace="test", deployment=~"podinfo", classification!="failure", direction="inbound"}[1m])) `+
		`/ sum(rate(response_total{namespace="test", deployment=~"podinfo", direction="inbound"}[1m])) * 100`, q)

	// the A/B cookie condition Flagger writes, converted as written: the canary=always cookie
	// first, or after another cookie's ";" with no space (the regex has none)
	re := m.Spec.Match[1].Headers["cookie"].Regex
	for cookie, want := range map[string]bool{"canary=always": true, "session=1;canary=always": true, "canary=always; theme=dark": true,
		"session=1; canary=always": false, "canary=never": false, "xcanary=always": false} {
		assert.Equal(t, want, regexp.MustCompile(re).MatchString(cookie), cookie)
	}
}

// What kubectl get -o yaml writes: a List with status and server-set metadata.
func TestLoadKubectlList(t *testing.T) {
	objs := loadTestdata(t, "kubectl-get-list.yaml", flagger.LoadObjects)
	require.Len(t, objs.Canaries, 1)
	m, err := objs.Canary("shop", "web")
	require.NoError(t, err)
	assert.Equal(t, flagger.Router{Kind: flagger.RouterHTTPRoute, APIVersion: "v1", Provider: "gatewayapi:v1"}, m.Router)
	assert.Equal(t, []flagger.ParentRef{{Group: gatewayapi.Group, Kind: "Gateway", Name: "public", Namespace: "gateways", SectionName: "https"}},
		m.GatewayRefs)
	require.NoError(t, m.Resolve(context.Background(), objs))
	assert.Equal(t, "http://prometheus.monitoring:9090", m.TemplateRefs[0].Template.Provider.Address)
	assert.Equal(t, "shop-releases", m.Alerts[0].Provider.Channel)
	_, err = objs.Canary("shop", "api")
	assert.ErrorIs(t, err, flagger.ErrNotFound)

	// the same object from a dynamic client
	var list struct{ Items []map[string]any }
	data := readTestdata(t, "kubectl-get-list.yaml")
	require.NoError(t, yaml.Unmarshal(data, &list))
	c, err := flagger.CanaryFromObject(list.Items[0])
	require.NoError(t, err)
	assert.Equal(t, m.GatewayRefs, c.GatewayRefs)
	assert.Equal(t, m.Spec.StepWeight, c.Spec.StepWeight)
	_, err = flagger.CanaryFromObject(list.Items[1])
	assert.Contains(t, problems(t, err), `kind: must be Canary, got "MetricTemplate"`)
}

func TestLoadCanaryWantsOneCanary(t *testing.T) {
	one := string(canaryWith("", ""))
	// a second document was silently dropped: now it is an error
	_, err := flagger.LoadCanary([]byte(one + "---\n" + strings.ReplaceAll(one, "namespace: test", "namespace: prod")))
	assert.Equal(t, []string{"kind: want one Canary, the data holds 2 (LoadObjects reads several)"}, problems(t, err))
	_, err = flagger.LoadCanary([]byte("# nothing\n---\n"))
	assert.Equal(t, []string{"kind: want one Canary, the data holds 0 (LoadObjects reads several)"}, problems(t, err))
	_, err = flagger.LoadCanary(readTestdata(t, "linkerd-gatewayapi-ab.yaml"))
	assert.Equal(t, []string{`document 1: kind: must be Canary, got "MetricTemplate"`, `document 2: kind: must be Canary, got "MetricTemplate"`},
		problems(t, err))

	// a List of one Canary is one Canary; a leading "---" and comments are not documents
	m, err := flagger.LoadCanary([]byte("---\n# podinfo\napiVersion: v1\nkind: List\nitems:\n- " +
		`{apiVersion: flagger.app/v1beta1, kind: Canary, metadata: {name: podinfo, namespace: test},
   spec: {targetRef: {kind: Deployment, name: podinfo}, service: {port: 80}, analysis: {interval: 1m, iterations: 3}}}`))
	require.NoError(t, err)
	assert.Equal(t, time.Minute, m.Spec.Interval)

	_, err = flagger.LoadCanary([]byte("apiVersion: v1\nkind: List\nitems: {a: 1}\n"))
	assert.Equal(t, []string{"items: must be a list"}, problems(t, err))
	_, err = flagger.LoadCanary([]byte("- a\n- b\n"))
	assert.Equal(t, []string{"document 1: must be a mapping (a Kubernetes object)"}, problems(t, err))
	_, err = flagger.LoadObjects([]byte("apiVersion: v1\nkind: List\nitems: [7]\n---\nplain text\n"))
	assert.Equal(t, []string{"document 1: items[0]: must be a mapping (a Kubernetes object)", "document 2: must be a mapping (a Kubernetes object)"},
		problems(t, err))
}

func TestObjectsGivenTwice(t *testing.T) {
	one := string(canaryWith("", ""))
	_, err := flagger.LoadObjects([]byte(one + "---\n" + one))
	assert.Equal(t, []string{"document 2: metadata.name: Canary test/podinfo is also at document 1"}, problems(t, err))

	a, err := flagger.LoadObjects([]byte(one))
	require.NoError(t, err)
	b, err := flagger.LoadObjects([]byte(one))
	require.NoError(t, err)
	assert.EqualError(t, a.Merge(b), "given twice: Canary test/podinfo")
	assert.Len(t, a.Canaries, 1, "nothing added")
}

// Names and keys come from the manifest: names are checked as Kubernetes names before they
// reach a lookup or a message, and keys are quoted in field paths.
func TestUntrustedNamesAndKeys(t *testing.T) {
	_, err := flagger.LoadCanary([]byte(`apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: "podinfo\nINFO promoted", namespace: Test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment}
  service: {port: 9898}
  analysis:
    interval: 30s
    iterations: 5
    match: [{headers: {"x-a\nb": {exact: a, colour: red}}}]
    metrics:
      - {name: errors, templateRef: {name: "../secrets", namespace: "kube system"}, thresholdRange: {max: 1}, templateVariables: {"k\"ey": [1]}}
    alerts:
      - {name: pager, providerRef: {name: "On-Call"}}
`))
	assert.ElementsMatch(t, []string{
		`metadata.name: "podinfo\nINFO promoted" is not a valid Kubernetes name (lowercase RFC 1123)`,
		`metadata.namespace: "Test" is not a valid namespace (lowercase RFC 1123 label)`,
		"spec.targetRef.name: required",
		`spec.analysis.match[0].headers["x-a\nb"].colour: unknown field (not a Flagger Canary field canarykit knows)`,
		`spec.analysis.metrics[0].templateRef.name: "../secrets" is not a valid Kubernetes name (lowercase RFC 1123)`,
		`spec.analysis.metrics[0].templateRef.namespace: "kube system" is not a valid namespace (lowercase RFC 1123 label)`,
		`spec.analysis.metrics[0].templateVariables["k\"ey"]: must be a string`,
		`spec.analysis.alerts[0].providerRef.name: "On-Call" is not a valid Kubernetes name (lowercase RFC 1123)`,
	}, problems(t, err))

	_, err = flagger.LoadObjects([]byte(`apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: errors, namespace: ""}
spec:
  provider: {type: prometheus, address: "http://prom:9090", headers: {"X-Org\r\nEvil": [1]}}
  query: up
`))
	assert.ElementsMatch(t, []string{
		"metadata.namespace: required: a Canary refers to it by namespace (or its own)",
		`spec.provider.headers["X-Org\r\nEvil"]: "X-Org\r\nEvil" is not an HTTP header name (a token: letters, digits and !#$%&'*+-.^_` + "`" + `|~)`,
		`spec.provider.headers["X-Org\r\nEvil"][0]: must be a string`,
	}, problems(t, err))
}

// A MetricTemplate written for Flagger's NGINX checks uses {{ ingress }}: it resolves, and
// renders with the target's name (Flagger's value without spec.ingressRef).
func TestTemplateWithIngressVariable(t *testing.T) {
	m, err := flagger.LoadCanary(podinfoCanary(`
    stepWeight: 10
    metrics:
      - {name: nginx-errors, templateRef: {name: nginx-errors}, thresholdRange: {max: 1}, interval: 1m}
`))
	require.NoError(t, err)
	src := &flagger.Objects{MetricTemplates: []flagger.MetricTemplate{{Name: "nginx-errors", Namespace: "test",
		Provider: flagger.MetricTemplateProvider{Type: "prometheus", Address: "http://prom:9090"},
		Query:    `sum(rate(nginx_ingress_controller_requests{namespace="{{ namespace }}", ingress="{{ ingress }}", status=~"5.*"}[{{ interval }}]))`}}}
	require.NoError(t, m.Resolve(context.Background(), src))
	q, err := canary.RenderQuery(m.Spec.Metrics[0].Query, canary.VarsFor(m.Target, m.Spec.Metrics[0]))
	require.NoError(t, err)
	assert.Equal(t, `sum(rate(nginx_ingress_controller_requests{namespace="test", ingress="podinfo", status=~"5.*"}[1m]))`, q)
}
