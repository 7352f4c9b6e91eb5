package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/meshsim"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/webhook/loadgen"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// manifestWith loads a seed manifest as manifest does, after edit changes its tree.
func (w *world) manifestWith(file string, edit func(obj map[string]any)) *flagger.Canary {
	data, err := os.ReadFile(filepath.Join("..", "..", "kube", "flagger", "testdata", file))
	require.NoError(w.t, err)
	var obj map[string]any
	require.NoError(w.t, yaml.Unmarshal(data, &obj))
	obj["metadata"].(map[string]any)["namespace"] = w.ns
	edit(obj)
	data, err = yaml.Marshal(obj)
	require.NoError(w.t, err)
	m, err := flagger.LoadCanary(data)
	require.NoError(w.t, err)
	compress(w.t, &m.Spec)
	return m
}

// TestSeed000BehindNGINX releases seed 000's podinfo through the Ingress its author put in
// front of it, with canarykit's NGINX router: the seed's Canary with provider nginx and the
// Ingress as ingressRef. Browser traffic comes through the simulated ingress-nginx (outside
// any mesh, as in the seed); the canary Ingress's weight moves by the seed's steps, Flagger's
// NGINX checks read ingress-nginx's metrics from the real Prometheus, and at every step the
// measured mix of the ingress's requests follows the weight.
func TestSeed000BehindNGINX(t *testing.T) {
	w := newWorld(t, flagger.RouterSMI, nil)
	w.createApp("podinfo", "stefanprodan/podinfo:3.1.0")
	w.createIngress("podinfo", "podinfo", 9898)
	nginx := func(obj map[string]any) {
		spec := obj["spec"].(map[string]any)
		spec["provider"] = "nginx"
		spec["ingressRef"] = map[string]any{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "podinfo"}
	}
	ctx := context.Background()
	_, err := w.drive(ctx, w.manifestWith("canary-000-flagger-linkerd.yaml", nginx), "driver-a", &timeline{t: t})
	require.NoError(t, err)

	ingress := w.mesh.Ingress(meshsim.IngressOptions{})
	l, err := ingress.StartLoad(loadgen.Config{URL: "http://podinfo.example.com/", Rate: 100, Concurrency: 40, Duration: 10 * time.Minute})
	require.NoError(t, err)
	t.Cleanup(func() { l.Stop() })
	mark := w.mesh.Traffic()

	w.setImage("podinfo", "stefanprodan/podinfo:3.1.1")
	tl := &timeline{t: t}
	res, err := w.drive(ctx, w.manifestWith("canary-000-flagger-linkerd.yaml", nginx), "driver-a", tl)
	require.NoError(t, err)
	require.Equal(t, canary.PhaseSucceeded, res.Phase, res.Reason)
	t.Logf("step timings:\n%s", tl.steps())
	assert.Equal(t, []int{5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 0}, res.Weights)
	assert.Equal(t, "stefanprodan/podinfo:3.1.1", w.image("podinfo-primary"))

	// Flagger's NGINX checks, answered from ingress-nginx's series
	for _, s := range tl.events {
		if s.e.Reason == canary.ReasonAdvanced && len(s.e.Checks) == 2 {
			assert.Contains(t, s.e.Checks[0].Query, `nginx_ingress_controller_requests{namespace="`+w.ns+`",ingress="podinfo",canary!=""`)
			assert.GreaterOrEqual(t, s.e.Checks[0].Value, 99.0)
		}
	}

	// the mix per canary Ingress version: each within mixTolerance of its weight
	var canaryWants []float64
	for _, s := range w.mesh.Traffic().Since(mark).Mix("ingress/podinfo") {
		if s.Backend != "podinfo-canary" {
			continue
		}
		want := s.Want * float64(s.RouteRequests)
		assert.InDelta(t, want, float64(s.Requests), mixTolerance, "canary Ingress version %d: %.0f%% of %d requests, got %d",
			s.Route.Generation, 100*s.Want, s.RouteRequests, s.Requests)
		if n := len(canaryWants); n == 0 || canaryWants[n-1] != roundAll([]float64{s.Want})[0] {
			canaryWants = append(canaryWants, roundAll([]float64{s.Want})[0])
		}
	}
	for _, step := range []float64{.05, .10, .15, .20, .25, .30, .35, .40, .45, .50} {
		assert.True(t, slices.Contains(canaryWants, step), "the ingress's traffic saw weight %.2f: %v", step, canaryWants)
	}
	assert.Equal(t, 0.0, canaryWants[len(canaryWants)-1], "back to the primary after promotion")
}
