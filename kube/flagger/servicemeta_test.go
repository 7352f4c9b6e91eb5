package flagger_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A Canary's spec.service fields that shape the generated objects, as Flagger's docs write
// them, load into the Workload (the Services) and BackendTimeout (the HTTPRoute).
func TestLoadServiceObjectFields(t *testing.T) {
	m, err := flagger.LoadCanary([]byte(`
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  provider: gatewayapi:v1
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service:
    port: 9898
    gatewayRefs: [{name: podinfo, group: core, kind: Service, port: 9898}]
    headless: true
    trafficDistribution: PreferClose
    backendTimeout: 2s
    apex:
      annotations:
        external-dns.alpha.kubernetes.io/hostname: podinfo.example.com
      labels:
        linkerd.io/extension: viz
    primary:
      labels: {tier: stable}
    canary:
      annotations: {test: "test"}
      labels: {tier: canary}
    unmanagedMetadata:
      annotations: [cloud.google.com/neg-status]
      labels: [owner]
  analysis: {interval: 30s, iterations: 5}
`))
	require.NoError(t, err)
	w := m.Workload
	assert.Equal(t, canary.Metadata{Labels: map[string]string{"linkerd.io/extension": "viz"},
		Annotations: map[string]string{"external-dns.alpha.kubernetes.io/hostname": "podinfo.example.com"}}, w.ApexMetadata)
	assert.Equal(t, canary.Metadata{Labels: map[string]string{"tier": "stable"}}, w.PrimaryMetadata)
	assert.Equal(t, canary.Metadata{Labels: map[string]string{"tier": "canary"}, Annotations: map[string]string{"test": "test"}}, w.CanaryMetadata)
	assert.Equal(t, canary.MetadataKeys{Labels: []string{"owner"}, Annotations: []string{"cloud.google.com/neg-status"}}, w.UnmanagedMetadata)
	assert.True(t, w.Headless)
	assert.Equal(t, "PreferClose", w.TrafficDistribution)
	assert.Equal(t, "2s", m.BackendTimeout)
	assert.Empty(t, m.Notes)

	// with any provider but backendTimeout's: the Services' fields are the same
	for _, p := range []string{"linkerd", "istio", "kubernetes", "smi:v1alpha2", ""} {
		m, err := flagger.LoadCanary(canaryWith(p, "headless: true, trafficDistribution: PreferSameNode, apex: {labels: {a: b}}, unmanagedMetadata: {labels: [x]}"))
		require.NoError(t, err, p)
		assert.True(t, m.Workload.Headless, p)
		assert.Equal(t, "PreferSameNode", m.Workload.TrafficDistribution, p)
		assert.Equal(t, map[string]string{"a": "b"}, m.Workload.ApexMetadata.Labels, p)
	}
}

// Bad values are refused at their paths, before anything in the cluster is touched.
func TestServiceObjectFieldsRefusedByPath(t *testing.T) {
	for service, want := range map[string][]string{
		`apex: {labels: {"bad key": v}}`:                       {`spec.service.apex.labels["bad key"]: "bad key": the name must be alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric`},
		`primary: {labels: {tier: "has space"}}`:               {`spec.service.primary.labels.tier: the value "has space" must be alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric`},
		`canary: {annotations: {canarykit.dev/target: other}}`: {"spec.service.canary.annotations.canarykit.dev/target: keys under canarykit.dev/ are canarykit's own (they record what it manages)"},
		`apex: {labels: {app.kubernetes.io/managed-by: helm}}`: {"spec.service.apex.labels.app.kubernetes.io/managed-by: app.kubernetes.io/managed-by is canarykit's own label (it marks the objects canarykit manages)"},
		`apex: {annotations: {x: 1.10}}`:                       {"spec.service.apex.annotations.x: must be a string, got a number (quote it: YAML reads 1.10 as 1.1)"},
		`apex: {labelz: {a: b}}`:                               {"spec.service.apex.labelz: unknown field (not a Flagger Canary field canarykit knows)"},
		`apex: [a]`:                                            {"spec.service.apex: must be a mapping"},
		`unmanagedMetadata: {labels: ["not ok"]}`:              {`spec.service.unmanagedMetadata.labels[0]: "not ok": the name must be alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric`},
		`unmanagedMetadata: {annotations: x}`:                  {"spec.service.unmanagedMetadata.annotations: must be a list of strings"},
		`unmanagedMetadata: {annotations: [1]}`:                {"spec.service.unmanagedMetadata.annotations[0]: must be a string"},
		`headless: "yes"`:                                      {"spec.service.headless: must be true or false"},
		`trafficDistribution: Nearest`:                         {`spec.service.trafficDistribution: must be one of PreferClose, PreferSameZone, PreferSameNode (as Kubernetes v1.34 accepts), got "Nearest"`},
		`trafficDistribution: preferclose`:                     {`spec.service.trafficDistribution: must be one of PreferClose, PreferSameZone, PreferSameNode (as Kubernetes v1.34 accepts), got "preferclose"`},
	} {
		_, err := flagger.LoadCanary(canaryWith("linkerd", service))
		assert.Equal(t, want, problems(t, err), service)
	}

	many, keys := make([]string, 0, 65), make([]string, 0, 65)
	for i := range 65 {
		many = append(many, fmt.Sprintf("k%d: v", i))
		keys = append(keys, fmt.Sprintf("k%d", i))
	}
	_, err := flagger.LoadCanary(canaryWith("linkerd", "apex: {annotations: {"+strings.Join(many, ", ")+"}}, unmanagedMetadata: {labels: ["+strings.Join(keys, ", ")+"]}"))
	assert.Equal(t, []string{"spec.service.apex.annotations: at most 64 entries, got 65", "spec.service.unmanagedMetadata.labels: at most 64, got 65"}, problems(t, err))
	_, err = flagger.LoadCanary(canaryWith("linkerd", fmt.Sprintf("apex: {annotations: {a: %q}}", strings.Repeat("x", canary.MaxMetadataAnnotationBytes))))
	assert.Equal(t, []string{"spec.service.apex.annotations: at most 65536 bytes of keys and values, got 65537"}, problems(t, err))
}

// backendTimeout is Gateway API's: Flagger writes it into the HTTPRoute's rules and ignores
// it for every other provider, where canarykit refuses it by path; without spec.provider the
// driver's default router decides (a Note). Its value is a Gateway API Duration.
func TestBackendTimeoutIsGatewayAPIs(t *testing.T) {
	parent := "gatewayRefs: [{name: podinfo, group: core, kind: Service, port: 9898}], "
	for _, tc := range []struct{ provider, service string }{
		{"gatewayapi:v1", "backendTimeout: 2s"},
		{"gatewayapi:v1beta1", "backendTimeout: 1m30s"},
		{"linkerd", parent + "backendTimeout: 500ms"},
		{"", parent + "backendTimeout: 2s"},
	} {
		m, err := flagger.LoadCanary(canaryWith(tc.provider, tc.service))
		require.NoError(t, err, tc)
		assert.Equal(t, flagger.RouterHTTPRoute, m.Router.Kind, tc)
		assert.NotEmpty(t, m.BackendTimeout, tc)
	}
	for _, p := range []string{"linkerd", "istio", "kubernetes", "nginx", "smi:v1alpha2"} {
		_, err := flagger.LoadCanary(canaryWith(p, "backendTimeout: 2s"))
		got := problems(t, err)
		assert.Contains(t, got, fmt.Sprintf("spec.service.backendTimeout: only a Gateway API HTTPRoute carries it (its rules' timeouts.backendRequest); provider %q writes none, and Flagger ignores it there", p), p)
	}
	m, err := flagger.LoadCanary(canaryWith("", "backendTimeout: 2s"))
	require.NoError(t, err)
	assert.Equal(t, []string{"spec.provider is not set: spec.service.backendTimeout is for the driver's default router, which must write a Gateway API HTTPRoute"}, m.Notes)
	for _, v := range []string{"1.5s", `"2"`, "-1s", "100000s", "1d"} {
		_, err := flagger.LoadCanary(canaryWith("gatewayapi:v1", "backendTimeout: "+v))
		got := problems(t, err)
		require.Len(t, got, 1, v)
		assert.Contains(t, got[0], "spec.service.backendTimeout: ", v)
		assert.Contains(t, got[0], "is not a Gateway API duration", v)
	}
}

// spec.service.timeout with a Gateway API HTTPRoute is the rules' timeouts.request, as
// Flagger writes it beside backendTimeout (Flagger's docs give both): a Gateway API Duration,
// which backendTimeout may not exceed. With a router that is neither Istio's nor an HTTPRoute
// it stays refused.
func TestTimeoutWithGatewayAPI(t *testing.T) {
	m, err := flagger.LoadCanary(canaryWith("gatewayapi:v1", "timeout: 5s, backendTimeout: 2s"))
	require.NoError(t, err)
	assert.Equal(t, "5s", m.Service.Timeout.String())
	assert.Equal(t, "2s", m.BackendTimeout)
	m, err = flagger.LoadCanary(canaryWith("gatewayapi:v1", "timeout: 1.5s"))
	require.NoError(t, err)
	assert.Equal(t, "1500ms", m.Service.Timeout.String(), "written as a Gateway API Duration")

	_, err = flagger.LoadCanary(canaryWith("gatewayapi:v1", "timeout: 1s, backendTimeout: 2s"))
	assert.Equal(t, []string{"spec.service.backendTimeout: 2s is longer than spec.service.timeout 1s: Gateway API refuses a backend request timeout longer than the request timeout"},
		problems(t, err))
	_, err = flagger.LoadCanary(canaryWith("gatewayapi:v1", "timeout: 100000h"))
	got := problems(t, err)
	require.Len(t, got, 1)
	assert.Contains(t, got[0], `spec.service.timeout: "100000h" is not a Gateway API duration`)
	_, err = flagger.LoadCanary(canaryWith("linkerd", "timeout: 5s"))
	assert.Equal(t, []string{`spec.service.timeout: only provider istio writes it, into the VirtualService or DestinationRules (spec.provider is "linkerd")`}, problems(t, err))
}
