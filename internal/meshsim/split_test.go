package meshsim_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/canarykit/canarykit/internal/meshsim"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/webhook/loadgen"
)

func trafficSplits(version string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: testenv.SMISplitGroup, Version: version, Resource: "trafficsplits"}
}

// drive sends n requests to url through the mesh, 4 at a time, and returns the traffic they
// made.
func drive(t *testing.T, b *bed, url string, n int, headers ...string) meshsim.Traffic {
	t.Helper()
	mark := b.mesh.Traffic()
	cfg := loadgen.Config{URL: url, Rate: loadgen.MaxRate, Concurrency: 4, MaxRequests: n}
	for i := 0; i+1 < len(headers); i += 2 {
		if cfg.Header == nil {
			cfg.Header = map[string][]string{}
		}
		cfg.Header.Set(headers[i], headers[i+1])
	}
	l, err := b.mesh.StartLoad(cfg)
	require.NoError(t, err)
	res, err := l.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, uint64(n), res.Requests, "last error: %s", res.LastError)
	return b.mesh.Traffic().Since(mark)
}

// assertMix checks the measured mix of one route version: each backend within one request of
// its weight's share (smooth weighted round-robin's bound).
func assertMix(t *testing.T, tr meshsim.Traffic, service string, route meshsim.Route, want map[string]float64) {
	t.Helper()
	got := map[string]float64{}
	for _, s := range tr.Mix(service) {
		require.Equal(t, route, s.Route, "every request follows the route version waited for")
		assert.InDelta(t, want[s.Backend], s.Want, 1e-9, s.Backend)
		assert.InDelta(t, s.Want*float64(s.RouteRequests), float64(s.Requests), 1, "%s: %d of %d requests, want share %.3f",
			s.Backend, s.Requests, s.RouteRequests, s.Want)
		got[s.Backend] = s.Got
	}
	t.Logf("%s: measured %v, weights %v", route, got, want)
}

// split creates the TrafficSplit podinfo as Flagger writes it, in version with the weights'
// YAML.
func (b *bed) split(t testing.TB, version, canary, primary string) {
	t.Helper()
	b.create(t, trafficSplits(version), fmt.Sprintf(`
apiVersion: split.smi-spec.io/%s
kind: TrafficSplit
metadata: {name: podinfo}
spec:
  service: podinfo
  backends:
  - {service: podinfo-canary, weight: %s}
  - {service: podinfo-primary, weight: %s}
`, version, canary, primary))
}

func TestTrafficSplitAsLinkerdSMIServesIt(t *testing.T) {
	env := testenv.Shared(t)
	testenv.InstallCRDs(t, env.Config(), testenv.TrafficSplitCRD()) // v1alpha1 stored, v1alpha2 served
	b := newBed(t, env, meshsim.Options{})
	b.flagger(t, "podinfo:3.1.1", "podinfo:3.1.0")

	// Flagger writes v1alpha1 weights as quantity strings.
	b.split(t, "v1alpha1", `"20"`, `"80"`)
	route := b.waitWeights(t, "podinfo", map[string]float64{"podinfo-canary": 20, "podinfo-primary": 80})
	tr := drive(t, b, "http://podinfo.test:9898/", 200)
	assertMix(t, tr, "podinfo", route, map[string]float64{"podinfo-canary": 0.2, "podinfo-primary": 0.8})
	assert.Equal(t, map[string]meshsim.Tally{"podinfo": {Requests: 40}, "podinfo-primary": {Requests: 160}}, tr.ByDeployment("podinfo"))

	// A weight step written through v1alpha2 (integers): the mix follows once the watch
	// delivers it.
	ctx := context.Background()
	ts, err := b.dyn.Resource(trafficSplits("v1alpha2")).Namespace(b.ns).Get(ctx, "podinfo", metav1.GetOptions{})
	require.NoError(t, err)
	require.NoError(t, unstructured.SetNestedSlice(ts.Object, []any{
		map[string]any{"service": "podinfo-canary", "weight": int64(45)},
		map[string]any{"service": "podinfo-primary", "weight": int64(55)},
	}, "spec", "backends"))
	_, err = b.dyn.Resource(trafficSplits("v1alpha2")).Namespace(b.ns).Update(ctx, ts, metav1.UpdateOptions{})
	require.NoError(t, err)
	next := b.waitWeights(t, "podinfo", map[string]float64{"podinfo-canary": 45, "podinfo-primary": 55})
	assert.Greater(t, next.Generation, route.Generation)
	assertMix(t, drive(t, b, "http://podinfo.test:9898/", 100), "podinfo", next,
		map[string]float64{"podinfo-canary": 0.45, "podinfo-primary": 0.55})

	// The canary and primary Services are not split: the demo manifests' load test hits the canary.
	tr = drive(t, b, "http://podinfo-canary.test:9898/", 10)
	assert.Equal(t, map[string]meshsim.Tally{"podinfo": {Requests: 10}}, tr.ByDeployment("podinfo-canary"))
	assert.Empty(t, tr.Mix("podinfo-canary"))

	// Deleting the split sends everything to the apex Service's own pods (the primary).
	require.NoError(t, b.dyn.Resource(trafficSplits("v1alpha2")).Namespace(b.ns).Delete(ctx, "podinfo", metav1.DeleteOptions{}))
	b.waitWeights(t, "podinfo", nil)
	tr = drive(t, b, "http://podinfo.test:9898/", 10)
	assert.Equal(t, map[string]meshsim.Tally{"podinfo-primary": {Requests: 10}}, tr.ByDeployment("podinfo"))
}

// TrafficSplit v1alpha3+ carries matches; it needs a CRD storing v1alpha4, which cannot be
// turned back into linkerd-smi's (v1alpha1 storage) on the shared bed: this test has its own.
func TestTrafficSplitV1alpha4MatchesForABTesting(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	testenv.InstallCRDs(t, env.Config(), testenv.TrafficSplitCRD("v1alpha4", "v1alpha3"), testenv.HTTPRouteGroupCRD())
	b := newBed(t, env, meshsim.Options{})
	b.flagger(t, "podinfo:3.1.1", "podinfo:3.1.0")
	b.create(t, schema.GroupVersionResource{Group: testenv.SMISpecsGroup, Version: "v1alpha4", Resource: "httproutegroups"}, `
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: podinfo-ab}
spec:
  matches:
  - name: insiders
    headers: {x-canary: insider}
  - name: firefox
    headers: {user-agent: ".*Firefox.*"}
`)
	b.create(t, trafficSplits("v1alpha4"), `
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: podinfo}
spec:
  service: podinfo
  matches: [{kind: HTTPRouteGroup, name: podinfo-ab}]
  backends:
  - {service: podinfo-canary, weight: 100}
  - {service: podinfo-primary, weight: 0}
`)
	// A plain request follows no split (it does not match): wait for the matching one.
	eventually(t, func() bool {
		_, body := b.get(t, "http://podinfo.test:9898/", "X-Canary", "insider")
		_, v := podinfoAnswer(t, body)
		return v == "3.1.1"
	}, "A/B split in force")

	tr := drive(t, b, "http://podinfo.test:9898/", 50, "X-Canary", "insider")
	assert.Equal(t, map[string]meshsim.Tally{"podinfo": {Requests: 50}}, tr.ByDeployment("podinfo"))
	tr = drive(t, b, "http://podinfo.test:9898/", 50, "User-Agent", "Mozilla/5.0 (X11) Gecko Firefox/120.0")
	assert.Equal(t, map[string]meshsim.Tally{"podinfo": {Requests: 50}}, tr.ByDeployment("podinfo"))
	tr = drive(t, b, "http://podinfo.test:9898/", 50, "X-Canary", "outsider")
	assert.Equal(t, map[string]meshsim.Tally{"podinfo-primary": {Requests: 50}}, tr.ByDeployment("podinfo"))
	for k := range tr.Counts {
		assert.Equal(t, meshsim.Route{}, k.Route, "non-matching requests follow no route object")
	}
}

func TestHTTPRouteHeaderMatchesAndWeightedBackends(t *testing.T) {
	env := testenv.Shared(t)
	testenv.InstallCRDs(t, env.Config(), testenv.GatewayAPICRDs(t)...)
	b := newBed(t, env, meshsim.Options{})
	b.flagger(t, "podinfo:3.1.1", "podinfo:3.1.0")
	route, err := os.ReadFile("testdata/httproute-gamma.yaml")
	require.NoError(t, err)
	b.create(t, schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}, string(route))
	weighted := b.waitWeights(t, "podinfo", map[string]float64{"podinfo-primary": 90, "podinfo-canary": 10})
	// The server sets generation 1 (the file's is for the unit tests); rule 1 is the weighted one.
	assert.Equal(t, meshsim.Route{Kind: meshsim.KindHTTPRoute, Name: "podinfo", Generation: 1, Rule: 1}, weighted)

	// Only matching requests reach the canary by the header rule.
	for _, h := range [][]string{{"X-Canary", "insider"}, {"Cookie", "session=1;canary=always"}} {
		tr := drive(t, b, "http://podinfo.test:9898/", 30, h...)
		assert.Equal(t, map[string]meshsim.Tally{"podinfo": {Requests: 30}}, tr.ByDeployment("podinfo"), h)
		for k := range tr.Counts {
			assert.Equal(t, 0, k.Route.Rule, h)
		}
	}
	// The rest is split 90/10 by the weighted rule.
	tr := drive(t, b, "http://podinfo.test:9898/", 200, "X-Canary", "outsider")
	assertMix(t, tr, "podinfo", weighted, map[string]float64{"podinfo-primary": 0.9, "podinfo-canary": 0.1})
	assert.Equal(t, map[string]meshsim.Tally{"podinfo": {Requests: 20}, "podinfo-primary": {Requests: 180}}, tr.ByDeployment("podinfo"))
}
