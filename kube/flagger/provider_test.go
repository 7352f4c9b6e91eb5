package flagger_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/mesh/gatewayapi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// canaryWith is a Canary for test/podinfo with the given spec.provider (none when "") and
// spec.service (a flow mapping's contents besides port 9898).
func canaryWith(provider, service string) []byte {
	var b strings.Builder
	b.WriteString("apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: podinfo, namespace: test}\nspec:\n")
	if provider != "" {
		fmt.Fprintf(&b, "  provider: %q\n", provider)
	}
	b.WriteString("  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}\n")
	if service != "" {
		service = ", " + service
	}
	fmt.Fprintf(&b, "  service: {port: 9898%s}\n  analysis: {interval: 30s, iterations: 5}\n", service)
	return []byte(b.String())
}

const supported = "; supported: linkerd, kubernetes, istio, nginx, gatewayapi:v1, gatewayapi:v1beta1, smi:v1alpha1, smi:v1alpha2, smi:v1alpha3, smi:v1alpha4"

func TestProviderChoosesTheRouter(t *testing.T) {
	serviceParent := "gatewayRefs: [{name: podinfo, group: core, kind: Service, port: 9898}]"
	for _, tc := range []struct {
		provider, service string
		want              flagger.Router
	}{
		{"", "", flagger.Router{Kind: flagger.RouterDefault}},
		{"", serviceParent, flagger.Router{Kind: flagger.RouterHTTPRoute}},
		{"linkerd", "", flagger.Router{Kind: flagger.RouterSMI, Provider: "linkerd"}},
		{"linkerd", serviceParent, flagger.Router{Kind: flagger.RouterHTTPRoute, Provider: "linkerd"}},
		{"gatewayapi:v1", "", flagger.Router{Kind: flagger.RouterHTTPRoute, APIVersion: "v1", Provider: "gatewayapi:v1"}},
		{"gatewayapi:v1beta1", serviceParent, flagger.Router{Kind: flagger.RouterHTTPRoute, APIVersion: "v1beta1", Provider: "gatewayapi:v1beta1"}},
		{"kubernetes", "", flagger.Router{Kind: flagger.RouterKubernetes, Provider: "kubernetes"}},
		{"istio", "", flagger.Router{Kind: flagger.RouterIstio, Provider: "istio"}},
		{"smi:v1alpha1", "", flagger.Router{Kind: flagger.RouterSMI, APIVersion: "v1alpha1", Provider: "smi:v1alpha1"}},
		{"smi:v1alpha2", "", flagger.Router{Kind: flagger.RouterSMI, APIVersion: "v1alpha2", Provider: "smi:v1alpha2"}},
		{"smi:v1alpha3:linkerd", "", flagger.Router{Kind: flagger.RouterSMI, APIVersion: "v1alpha3", Provider: "smi:v1alpha3:linkerd"}},
		{"smi:v1alpha4", "", flagger.Router{Kind: flagger.RouterSMI, APIVersion: "v1alpha4", Provider: "smi:v1alpha4"}},
	} {
		t.Run(tc.provider+" "+tc.service, func(t *testing.T) {
			m, err := flagger.LoadCanary(canaryWith(tc.provider, tc.service))
			require.NoError(t, err)
			assert.Equal(t, tc.want, m.Router)
		})
	}
	assert.Equal(t, strings.Split(strings.TrimPrefix(supported, "; supported: "), ", "), flagger.SupportedProviders())
}

// Flagger drives these and canarykit does not: each is an error naming spec.provider and
// the value, before anything in the cluster is touched (it used to load and be driven
// through SMI, a split the data plane never saw).
func TestProviderCanarykitCannotDrive(t *testing.T) {
	for _, p := range []string{"contour", "appmesh", "appmesh:v1beta2", "gloo", "gloo:v1", "traefik", "kuma", "apisix",
		"skipper", "osm", "knative"} {
		t.Run(p, func(t *testing.T) {
			_, err := flagger.LoadCanary(canaryWith(p, ""))
			assert.Equal(t, []string{fmt.Sprintf("spec.provider: canarykit cannot drive provider %q yet%s", p, supported)}, problems(t, err))
		})
	}
	for p, want := range map[string]string{
		"gatewayapi:v9":         `"gatewayapi:v9": Gateway API HTTPRoute version must be one of v1, v1beta1`,
		"gatewayapi":            `"gatewayapi": Gateway API HTTPRoute version must be one of v1, v1beta1`,
		"gatewayapi:v1alpha2":   `"gatewayapi:v1alpha2": Gateway API HTTPRoute version must be one of v1, v1beta1`,
		"smi":                   `"smi": SMI TrafficSplit version must be one of v1alpha1, v1alpha2, v1alpha3, v1alpha4`,
		"smi:v2":                `"smi:v2": SMI TrafficSplit version must be one of v1alpha1, v1alpha2, v1alpha3, v1alpha4`,
		"smi:v1alpha2:osm":      `canarykit drives SMI TrafficSplits for linkerd only, got mesh "osm" in "smi:v1alpha2:osm"`,
		"Linkerd":               `unknown provider "Linkerd"`,
		"linkerd:v2":            `unknown provider "linkerd:v2"`,
		"kubernetes ":           `unknown provider "kubernetes "`,
		"nginx:v1":              `unknown provider "nginx:v1"`,
		strings.Repeat("x", 99): fmt.Sprintf("unknown provider %q…", strings.Repeat("x", 64)),
	} {
		_, err := flagger.LoadCanary(canaryWith(p, ""))
		assert.Equal(t, []string{"spec.provider: " + want + supported}, problems(t, err), p)
	}
	_, err := flagger.LoadCanary(canaryWith("", "name: podinfo")) // not a provider problem
	require.NoError(t, err)
}

func TestGatewayRefs(t *testing.T) {
	m, err := flagger.LoadCanary(canaryWith("linkerd", `gatewayRefs: [
      {name: podinfo, group: core, kind: Service, port: 9898},
      {name: podinfo, group: "", kind: Service, namespace: clients},
      {name: public, namespace: gateways, sectionName: https},
      {name: internal, group: gateway.networking.k8s.io, kind: Gateway, port: 443}]`))
	require.NoError(t, err)
	assert.Equal(t, []flagger.ParentRef{
		{Group: "core", Kind: "Service", Name: "podinfo", Namespace: "test", Port: 9898},
		{Group: "", Kind: "Service", Name: "podinfo", Namespace: "clients"},
		{Group: gatewayapi.Group, Kind: "Gateway", Name: "public", Namespace: "gateways", SectionName: "https"},
		{Group: gatewayapi.Group, Kind: "Gateway", Name: "internal", Namespace: "test", Port: 443},
	}, m.GatewayRefs, "Gateway API's defaults: group gateway.networking.k8s.io, kind Gateway, the Canary's namespace")
	assert.True(t, m.GatewayRefs[0].IsService())
	assert.True(t, m.GatewayRefs[1].IsService())
	assert.False(t, m.GatewayRefs[2].IsService())
	assert.Equal(t, "Gateway gateways/public:https", m.GatewayRefs[2].String())
	assert.Equal(t, flagger.RouterHTTPRoute, m.Router.Kind)

	// a null group is an absent one (the default), not the core group
	m, err = flagger.LoadCanary(canaryWith("", "gatewayRefs: [{name: public, group: null, kind: null, namespace: null}]"))
	require.NoError(t, err)
	assert.Equal(t, []flagger.ParentRef{{Group: gatewayapi.Group, Kind: "Gateway", Name: "public", Namespace: "test"}}, m.GatewayRefs)

	_, err = flagger.LoadCanary(canaryWith("gatewayapi:v1", `gatewayRefs: [
      {namespace: test},
      {name: podinfo, kind: Service},
      {name: public, group: core},
      {name: mesh, kind: Mesh, port: 0},
      {name: Public_GW, namespace: "-x", sectionName: "a b", port: 70000},
      {name: podinfo, group: core, kind: Service, port: 98.5},
      {name: podinfo, group: core, kind: Service, port: "http"},
      {name: public, namespace: gateways, sectionName: https},
      {name: public, namespace: gateways, sectionName: https},
      {name: other, hostname: x}]`))
	assert.ElementsMatch(t, []string{
		"spec.service.gatewayRefs[0].name: required",
		`spec.service.gatewayRefs[1].group: a Service is in the core group ("" or core), got "gateway.networking.k8s.io"`,
		`spec.service.gatewayRefs[2].group: a Gateway is in group gateway.networking.k8s.io, got "core"`,
		`spec.service.gatewayRefs[3].kind: must be Gateway (north-south) or Service (GAMMA, east-west), got "Mesh"`,
		"spec.service.gatewayRefs[3].port: must be 1..65535, got 0",
		`spec.service.gatewayRefs[4].name: "Public_GW" is not a valid Kubernetes name (lowercase RFC 1123)`,
		`spec.service.gatewayRefs[4].namespace: "-x" is not a valid namespace (lowercase RFC 1123 label)`,
		`spec.service.gatewayRefs[4].sectionName: "a b" is not a valid section name (lowercase RFC 1123)`,
		"spec.service.gatewayRefs[4].port: must be 1..65535, got 70000",
		"spec.service.gatewayRefs[5].port: must be a whole number, got 98.5",
		`spec.service.gatewayRefs[6].port: must be a whole number, got "http"`,
		"spec.service.gatewayRefs[8]: the same parent as gatewayRefs[7] (Gateway gateways/public:https)",
		"spec.service.gatewayRefs[9].hostname: unknown field (not a Flagger Canary field canarykit knows)",
	}, problems(t, err))

	_, err = flagger.LoadCanary(canaryWith("", "gatewayRefs: {name: public}"))
	assert.Equal(t, []string{"spec.service.gatewayRefs: must be a list"}, problems(t, err))
	_, err = flagger.LoadCanary(canaryWith("", "gatewayRefs: ["+strings.Repeat("{name: a}, ", 33)+"]"))
	assert.Equal(t, []string{"spec.service.gatewayRefs: at most 32 parents (Gateway API's limit), got 33"}, problems(t, err))
}

// gatewayRefs attach an HTTPRoute: with a provider that writes none they would be ignored.
func TestGatewayRefsNeedAnHTTPRoute(t *testing.T) {
	for _, p := range []string{"kubernetes", "smi:v1alpha2", "istio"} {
		_, err := flagger.LoadCanary(canaryWith(p, "gatewayRefs: [{name: public}]"))
		assert.Equal(t, []string{fmt.Sprintf("spec.service.gatewayRefs: provider %q writes no HTTPRoute for them to attach to; use linkerd or gatewayapi:<version>", p)},
			problems(t, err))
	}
	// with a provider canarykit cannot drive, that is the one problem
	_, err := flagger.LoadCanary(canaryWith("contour", "gatewayRefs: [{name: public}]"))
	assert.Equal(t, []string{`spec.provider: canarykit cannot drive provider "contour" yet` + supported}, problems(t, err))
}

// The kubernetes provider switches the apex Service's selector: blue/green only, refused at
// spec.provider for a weighted or A/B analysis before the engine sees it.
func TestKubernetesProviderIsBlueGreen(t *testing.T) {
	m, err := flagger.LoadCanary(canaryWith("kubernetes", ""))
	require.NoError(t, err)
	assert.Equal(t, canary.StrategyBlueGreen, m.Spec.Strategy())

	want := "spec.provider: kubernetes switches all traffic at once (blue/green): use analysis.iterations without match, and no stepWeight, stepWeights or stepWeightPromotion"
	for _, analysis := range []string{
		"{interval: 30s, stepWeight: 10, maxWeight: 50}",
		"{interval: 30s, iterations: 5, match: [{headers: {x-canary: {exact: insider}}}]}",
		"{interval: 30s, iterations: 5, stepWeightPromotion: 50}",
	} {
		data := strings.Replace(string(canaryWith("kubernetes", "")), "{interval: 30s, iterations: 5}", analysis, 1)
		_, err := flagger.LoadCanary([]byte(data))
		assert.Equal(t, []string{want}, problems(t, err), analysis)
	}
}

// spec.service.meshName names App Mesh's mesh: Flagger reads it with provider appmesh only,
// which canarykit refuses, and ignores it with every other provider. A mesh name given with
// another provider was read and dropped; it is refused at its path, as spec.service.backends
// is. An empty one asks for nothing.
func TestMeshNameRefused(t *testing.T) {
	const want = "spec.service.meshName: App Mesh's mesh name: canarykit drives no App Mesh, and Flagger's other providers ignore it; leave it out"
	for _, provider := range []string{"", "linkerd", "istio", "gatewayapi:v1"} {
		_, err := flagger.LoadCanary(canaryWith(provider, "meshName: global"))
		assert.Equal(t, []string{want}, problems(t, err), provider)
	}
	_, err := flagger.LoadCanary(canaryWith("linkerd", `meshName: ""`))
	assert.NoError(t, err)
}

// spec.service.targetPort is an int-or-string in Flagger's schema: quoted, "9898" is a port
// name, which Flagger writes into the Services as one and Kubernetes refuses (a port name has
// a letter), so the Canary never starts. canarykit read it as the number 9898; it is refused
// at its path, and the unquoted number and a real name load as before.
func TestQuotedTargetPortIsAName(t *testing.T) {
	_, err := flagger.LoadCanary(canaryWith("linkerd", `targetPort: "9898"`))
	assert.Equal(t, []string{`spec.service.targetPort: must be a port number 1..65535 or a port name, got "9898": quoted, it is a port name in Flagger's schema (an int-or-string), and a port name needs a letter; write the number unquoted`},
		problems(t, err))
	for service, want := range map[string]string{"targetPort: 9898": "9898", "targetPort: http-api": "http-api"} {
		m, err := flagger.LoadCanary(canaryWith("linkerd", service))
		require.NoError(t, err, service)
		assert.Equal(t, want, m.Workload.TargetPort, service)
	}
}
