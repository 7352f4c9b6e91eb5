package flagger_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/flagger"
)

// mirrorCanary is a Flagger Canary with the given provider and analysis fields (beside
// interval), as Flagger's Istio docs write Blue/Green and canary releases with mirroring.
func mirrorCanary(provider, analysis string) []byte {
	p := ""
	if provider != "" {
		p = fmt.Sprintf("  provider: %s\n", provider)
	}
	return fmt.Appendf(nil, `apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
%s  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898}
  analysis: {interval: 1m, threshold: 5, %s}
`, p, analysis)
}

func TestLoadMirror(t *testing.T) {
	for _, c := range []struct {
		name, provider, analysis string
		strategy                 canary.Strategy
		mirrorWeight             int
	}{
		{"istio blue/green with traffic mirroring", "istio", "iterations: 10, mirror: true", canary.StrategyBlueGreen, 0},
		{"istio canary with a mirror step", "istio", "maxWeight: 50, stepWeight: 10, mirror: true, mirrorWeight: 100", canary.StrategyCanary, 100},
		{"mirrorWeight as a share", "istio", "stepWeight: 10, mirror: true, mirrorWeight: 30", canary.StrategyCanary, 30},
		{"gateway api", "gatewayapi:v1", "iterations: 10, mirror: true, mirrorWeight: 50", canary.StrategyBlueGreen, 50},
		{"no provider: the driver's router decides", "", "iterations: 10, mirror: true", canary.StrategyBlueGreen, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := flagger.LoadCanary(mirrorCanary(c.provider, c.analysis))
			require.NoError(t, err)
			assert.True(t, m.Spec.Mirror)
			assert.Equal(t, c.mirrorWeight, m.Spec.MirrorWeight)
			assert.Equal(t, c.strategy, m.Spec.Strategy())
			assert.Empty(t, m.Notes)
		})
	}
}

// Where Flagger ignores mirroring, canarykit ignores it too, and says so.
func TestLoadMirrorIgnoredAsInFlagger(t *testing.T) {
	m, err := flagger.LoadCanary(mirrorCanary("istio", "stepWeight: 10, mirrorWeight: 30"))
	require.NoError(t, err)
	assert.False(t, m.Spec.Mirror)
	assert.Zero(t, m.Spec.MirrorWeight, "not misread as mirroring")
	assert.Equal(t, []string{"spec.analysis.mirrorWeight 30 is ignored without spec.analysis.mirror: true, as in Flagger"}, m.Notes)

	m, err = flagger.LoadCanary(mirrorCanary("istio", "iterations: 10, mirror: true, mirrorWeight: 30, match: [{headers: {x-canary: {exact: insider}}}]"))
	require.NoError(t, err)
	assert.False(t, m.Spec.Mirror)
	assert.Zero(t, m.Spec.MirrorWeight)
	assert.Equal(t, canary.StrategyABTesting, m.Spec.Strategy())
	assert.Equal(t, []string{"spec.analysis.mirror is ignored with A/B testing (spec.analysis.match): matching requests go to the canary itself, and Flagger mirrors none"}, m.Notes)
}

// A provider whose route cannot copy requests, and a mirrorWeight out of Flagger's 0..100,
// are refused at their paths.
func TestLoadMirrorRefused(t *testing.T) {
	const need = "; traffic mirroring needs provider istio or gatewayapi:<version>"
	for provider, why := range map[string]string{
		"linkerd":      "an SMI TrafficSplit only splits",
		"smi:v1alpha2": "an SMI TrafficSplit only splits",
		"kubernetes":   "the Kubernetes router only switches Services",
	} {
		_, err := flagger.LoadCanary(mirrorCanary(provider, "iterations: 10, mirror: true"))
		assert.Equal(t, []string{fmt.Sprintf("spec.analysis.mirror: provider %q cannot copy requests to the canary (%s)%s", provider, why, need)},
			problems(t, err), provider)
	}
	_, err := flagger.LoadCanary(append(mirrorCanary("nginx", "stepWeight: 10, mirror: true"), "  ingressRef: {apiVersion: networking.k8s.io/v1, kind: Ingress, name: podinfo}\n"...))
	assert.Equal(t, []string{`spec.analysis.mirror: provider "nginx" cannot copy requests to the canary (an ingress-nginx canary Ingress only splits)` + need},
		problems(t, err))

	// the legacy canaryAnalysis, at its own path
	_, err = flagger.LoadCanary([]byte(`apiVersion: flagger.app/v1alpha3
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  provider: linkerd
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898}
  canaryAnalysis: {interval: 1m, stepWeight: 10, mirror: true}
`))
	assert.Equal(t, []string{`spec.canaryAnalysis.mirror: provider "linkerd" cannot copy requests to the canary (an SMI TrafficSplit only splits)` + need},
		problems(t, err))

	for weight, want := range map[string]string{
		"101":  "spec.analysis.mirrorWeight: must be 0..100, got 101",
		"-1":   "spec.analysis.mirrorWeight: must be 0..100, got -1",
		"12.5": "spec.analysis.mirrorWeight: must be a whole number, got 12.5",
	} {
		_, err := flagger.LoadCanary(mirrorCanary("istio", "stepWeight: 10, mirror: true, mirrorWeight: "+weight))
		assert.Equal(t, []string{want}, problems(t, err), weight)
		_, err = flagger.LoadCanary(mirrorCanary("istio", "stepWeight: 10, mirrorWeight: "+weight))
		assert.Equal(t, []string{want}, problems(t, err), "bounded without mirror too: %s", weight)
	}
}
