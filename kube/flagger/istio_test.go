package flagger_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/flagger"
)

func TestIstioProviderWithHostsAndGateways(t *testing.T) {
	m, err := flagger.LoadCanary(canaryWith("istio", `hosts: [app.example.com, "*.example.org", "*"],
      gateways: [istio-system/public-gateway, public-gateway.istio-system.svc.cluster.local]`))
	require.NoError(t, err)
	assert.Equal(t, flagger.Router{Kind: flagger.RouterIstio, Provider: "istio"}, m.Router)
	assert.Equal(t, []string{"app.example.com", "*.example.org", "*"}, m.Service.Hosts)
	assert.Equal(t, []string{"istio-system/public-gateway", "public-gateway.istio-system.svc.cluster.local"}, m.Service.Gateways)

	m, err = flagger.LoadCanary(canaryWith("istio", `hosts: [app.example.com, podinfo, podinfo.test.svc.cluster.local], gateways: [mesh, public]`))
	require.NoError(t, err, "the apex Service's own names on the mesh")
	assert.Equal(t, []string{"app.example.com", "podinfo", "podinfo.test.svc.cluster.local"}, m.Service.Hosts)

	m, err = flagger.LoadCanary(canaryWith("istio", ""))
	require.NoError(t, err)
	assert.Empty(t, m.Service.Hosts)
	assert.Empty(t, m.Service.Gateways)
}

// Seed 003's frontend Canary (A/B by user-agent and the insider cookie) with provider istio.
func TestIstioSeed003ABTesting(t *testing.T) {
	data, err := os.ReadFile("testdata/canary-003-ab-testing.yaml")
	require.NoError(t, err)
	withIstio := strings.Replace(string(data), "spec:\n", "spec:\n  provider: istio\n", 1)
	require.NotEqual(t, string(data), withIstio)
	m, err := flagger.LoadCanary([]byte(withIstio))
	require.NoError(t, err)
	assert.Equal(t, flagger.RouterIstio, m.Router.Kind)
	assert.Equal(t, canary.StrategyABTesting, m.Spec.Strategy())
	assert.Equal(t, []canary.Match{
		{Headers: map[string]canary.StringMatch{"user-agent": {Regex: ".*Firefox.*"}}},
		{Headers: map[string]canary.StringMatch{"cookie": {Regex: "^(.*?;)?(type=insider)(;.*)?$"}}},
	}, m.Spec.Match)
}

// What Flagger's Istio router ignores (a service's mirror filters, which only Flagger's
// Gateway API routers write) is refused by path, never dropped.
func TestIstioRefusesWhatItDoesNotHonour(t *testing.T) {
	_, err := flagger.LoadCanary(canaryWith("istio", "mirror: [{backendRef: {name: shadow, port: 80}}]"))
	assert.Equal(t, []string{"spec.service.mirror: only a Gateway API HTTPRoute carries it (provider gatewayapi:<version>, or linkerd with gatewayRefs), " +
		"as in Flagger, whose Istio router ignores it; spec.analysis.mirror copies requests to the canary"}, problems(t, err))
}

func TestIstioHostsAndGatewaysAreChecked(t *testing.T) {
	_, err := flagger.LoadCanary(canaryWith("istio", `hosts: [App.Example.com, "", 3, a.example.com, a.example.com, "*.*.x"],
      gateways: ["ns/", "-x/gw", "a/b/c", gw, gw]`))
	host := `must be a DNS name (lowercase RFC 1123), optionally after "*.", or "*", got `
	gateway := "must be mesh, or a Gateway as <name> or <namespace>/<name> (lowercase RFC 1123), got "
	assert.ElementsMatch(t, []string{
		"spec.service.hosts[0]: " + host + `"App.Example.com"`,
		"spec.service.hosts[1]: " + host + `""`,
		"spec.service.hosts[2]: must be a string",
		`spec.service.hosts[4]: "a.example.com" is listed twice`,
		"spec.service.hosts[5]: " + host + `"*.*.x"`,
		"spec.service.gateways[0]: " + gateway + `"ns/"`,
		"spec.service.gateways[1]: " + gateway + `"-x/gw"`,
		"spec.service.gateways[2]: " + gateway + `"a/b/c"`,
		`spec.service.gateways[4]: "gw" is listed twice`,
	}, problems(t, err))

	_, err = flagger.LoadCanary(canaryWith("istio", "hosts: app.example.com"))
	assert.Equal(t, []string{"spec.service.hosts: must be a list of strings"}, problems(t, err))
	_, err = flagger.LoadCanary(canaryWith("istio", "gateways: ["+strings.Repeat("g, ", 65)+"]"))
	assert.Equal(t, []string{"spec.service.gateways: at most 64, got 65"}, problems(t, err))
}

// hosts and gateways belong to the VirtualService: with another router they would be ignored.
func TestIstioHostsNeedProviderIstio(t *testing.T) {
	for _, p := range []string{"linkerd", "kubernetes"} {
		_, err := flagger.LoadCanary(canaryWith(p, "hosts: [app.example.com], gateways: [public]"))
		assert.ElementsMatch(t, []string{
			fmt.Sprintf("spec.service.hosts: only provider istio (the VirtualService's hosts) or a Gateway API HTTPRoute (its hostnames) uses them (spec.provider is %q)", p),
			fmt.Sprintf("spec.service.gateways: only provider istio writes a VirtualService for them (spec.provider is %q)", p),
		}, problems(t, err), p)
	}
	_, err := flagger.LoadCanary(canaryWith("gatewayapi:v1", "hosts: [app.example.com], gateways: [public]"))
	assert.Equal(t, []string{`spec.service.gateways: only provider istio writes a VirtualService for them (spec.provider is "gatewayapi:v1")`}, problems(t, err))
	// without spec.provider, the driver's default router decides (Flagger's -mesh-provider,
	// istio unless set otherwise): loaded, with a note; the driver refuses them for another
	c, err := flagger.LoadCanary(canaryWith("", "hosts: [app.example.com], gateways: [public]"))
	require.NoError(t, err)
	assert.Equal(t, []string{"app.example.com"}, c.Service.Hosts)
	assert.Equal(t, []string{"public"}, c.Service.Gateways)
	assert.Contains(t, c.Notes, "spec.provider is not set: spec.service's hosts, gateways and Istio fields are for the driver's default router, which must be istio (hosts: or a Gateway API HTTPRoute)")
}

// A Gateway API HTTPRoute takes spec.service.hosts as its hostnames, as Flagger writes them:
// DNS names, optionally under "*.", never a bare "*" or an IP address.
func TestGatewayAPIHostsAreHostnames(t *testing.T) {
	c, err := flagger.LoadCanary(canaryWith("gatewayapi:v1", "hosts: [app.example.com, \"*.example.org\"]"))
	require.NoError(t, err)
	assert.Equal(t, []string{"app.example.com", "*.example.org"}, c.Service.Hosts)
	_, err = flagger.LoadCanary(canaryWith("gatewayapi:v1", "hosts: [\"*\", 10.0.0.1]"))
	assert.ElementsMatch(t, []string{
		`spec.service.hosts[0]: "*" is not a Gateway API hostname (a DNS name, optionally after "*."; omit hosts for every hostname)`,
		`spec.service.hosts[1]: "10.0.0.1" is not a Gateway API hostname (a DNS name, optionally after "*."; omit hosts for every hostname)`,
	}, problems(t, err))
}

// spec.service.portDiscovery is read into the Workload, with every router.
func TestPortDiscovery(t *testing.T) {
	for _, tc := range []struct{ provider, service string }{
		{"linkerd", "portDiscovery: true"},
		{"kubernetes", "portDiscovery: true"},
		{"istio", "portDiscovery: true"},
		{"istio", "portDiscovery: true, gateways: [mesh, public]"},
		{"istio", "portDiscovery: true, gateways: [public]"},
	} {
		c, err := flagger.LoadCanary(canaryWith(tc.provider, tc.service))
		require.NoError(t, err, tc)
		assert.True(t, c.Workload.PortDiscovery, tc)
	}
	c, err := flagger.LoadCanary(canaryWith("linkerd", ""))
	require.NoError(t, err)
	assert.False(t, c.Workload.PortDiscovery)

	_, err = flagger.LoadCanary(canaryWith("linkerd", "portDiscovery: 1"))
	assert.Equal(t, []string{"spec.service.portDiscovery: must be true or false"}, problems(t, err))
}

// A tenant's Canary must not take other Services' traffic: on the mesh, its VirtualService's
// hosts are the target's own names or names outside the cluster, each other one refused at
// its path before anything is written ("*" is refused by Istio there too).
func TestIstioMeshHostsStayWithinTheTarget(t *testing.T) {
	_, err := flagger.LoadCanary(canaryWith("istio", `hosts: [app.example.com, "*", frontend, "backend.prod.svc.cluster.local", "*.svc.cluster.local"]`))
	require.Error(t, err)
	got := problems(t, err)
	assert.Len(t, got, 4)
	assert.Contains(t, got[0], `spec.service.hosts[1]: "*" on a VirtualService bound to the mesh gateway`)
	assert.Contains(t, got[1], `spec.service.hosts[2]: "frontend" is the short name of Service test/frontend, not of the apex Service podinfo`)
	assert.Contains(t, got[2], `spec.service.hosts[3]: "backend.prod.svc.cluster.local" names Service prod/backend, not the apex Service test/podinfo`)
	assert.Contains(t, got[3], `spec.service.hosts[4]: "*.svc.cluster.local" covers the cluster's Services`)

	_, err = flagger.LoadCanary(canaryWith("istio", `hosts: ["*", frontend], gateways: [istio-system/public]`))
	require.NoError(t, err, "a gateway's hosts are what it serves")
}
