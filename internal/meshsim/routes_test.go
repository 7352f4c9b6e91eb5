package meshsim

import (
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// objects decodes YAML documents as the dynamic client would (integers as int64).
func objects(t *testing.T, docs ...string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, d := range docs {
		j, err := yaml.YAMLToJSON([]byte(d))
		require.NoError(t, err)
		u := &unstructured.Unstructured{}
		require.NoError(t, u.UnmarshalJSON(j))
		out = append(out, u)
	}
	return out
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

type tableInput struct{ splits, groups, routes, vss []*unstructured.Unstructured }

func compile(t *testing.T, in tableInput, prev *routeTable) *routeTable {
	t.Helper()
	return compileTable("test", in.splits, in.groups, in.routes, in.vss, prev, func(obj *unstructured.Unstructured, err error) {
		t.Errorf("%s %s: %v", obj.GetKind(), obj.GetName(), err)
	})
}

// send decides n requests and counts them by backend (or by status when the proxy answers).
func send(tab *routeTable, service string, n int, req func() *http.Request) map[string]int {
	out := map[string]int{}
	for range n {
		d := tab.lookup(service, 9898, req()).decide(service)
		if d.status != 0 {
			out[http.StatusText(d.status)]++
			continue
		}
		out[d.backend]++
	}
	return out
}

func get(path string, headers ...string) func() *http.Request {
	return func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, "http://podinfo.test:9898"+path, nil)
		for i := 0; i+1 < len(headers); i += 2 {
			r.Header.Set(headers[i], headers[i+1])
		}
		return r
	}
}

const splitV1alpha1 = `
apiVersion: split.smi-spec.io/v1alpha1
kind: TrafficSplit
metadata: {name: podinfo, namespace: test, generation: 3, uid: u1}
spec:
  service: podinfo
  backends:
  - {service: podinfo-canary, weight: "20"}
  - {service: podinfo-primary, weight: "80"}
`

func TestTrafficSplitWeightsOfEveryForm(t *testing.T) {
	for name, backends := range map[string]string{
		"v1alpha1 strings":    `[{service: podinfo-canary, weight: "20"}, {service: podinfo-primary, weight: "80"}]`,
		"v1alpha1 milli":      `[{service: podinfo-canary, weight: "200m"}, {service: podinfo-primary, weight: "800m"}]`,
		"v1alpha1 integers":   `[{service: podinfo-canary, weight: 20}, {service: podinfo-primary, weight: 80}]`,
		"v1alpha2+ integers":  `[{service: podinfo-canary, weight: 2}, {service: podinfo-primary, weight: 8}]`,
		"quantity with scale": `[{service: podinfo-canary, weight: "1k"}, {service: podinfo-primary, weight: "4k"}]`,
	} {
		t.Run(name, func(t *testing.T) {
			tab := compile(t, tableInput{splits: objects(t, `
kind: TrafficSplit
metadata: {name: podinfo, generation: 1}
spec: {service: podinfo, backends: `+backends+`}`)}, nil)
			assert.Equal(t, map[string]int{"podinfo-canary": 20, "podinfo-primary": 80}, send(tab, "podinfo", 100, get("/")))
			d := tab.lookup("podinfo", 9898, get("/")()).decide("podinfo")
			assert.Equal(t, Route{Kind: KindTrafficSplit, Name: "podinfo", Generation: 1}, d.route)
			want := map[string]float64{"podinfo-canary": 0.2, "podinfo-primary": 0.8}
			assert.InDelta(t, want[d.backend], d.weight/d.total, 1e-9)
		})
	}
}

func TestTrafficSplitPickerStateSurvivesUnrelatedRebuilds(t *testing.T) {
	in := tableInput{splits: objects(t, splitV1alpha1)}
	tab := compile(t, in, nil)
	first := send(tab, "podinfo", 3, get("/"))
	tab = compile(t, in, tab) // e.g. an HTTPRouteGroup changed
	second := send(tab, "podinfo", 2, get("/"))
	// 5 picks of one cycle: exactly one canary.
	assert.Equal(t, 1, first["podinfo-canary"]+second["podinfo-canary"])

	in.splits[0].SetGeneration(4)
	tab = compile(t, in, tab)
	require.Len(t, tab.pickers, 1, "the old generation's state is dropped")
}

func TestTrafficSplitMatchesSendOnlyMatchingRequests(t *testing.T) {
	in := tableInput{
		splits: objects(t, `
kind: TrafficSplit
metadata: {name: podinfo-ab, generation: 2}
spec:
  service: podinfo
  matches: [{kind: HTTPRouteGroup, name: ab-test, apiGroup: specs.smi-spec.io}]
  backends: [{service: podinfo-canary, weight: 100}, {service: podinfo-primary, weight: 0}]`),
		groups: objects(t, `
kind: HTTPRouteGroup
metadata: {name: ab-test}
spec:
  matches:
  - name: insiders
    headers: {cookie: "^(.*?;)?(type=insider)(;.*)?$"}
  - name: firefox
    headers: [{user-agent: ".*Firefox.*"}]
    methods: [GET]`),
	}
	tab := compile(t, in, nil)
	assert.Equal(t, map[string]int{"podinfo-canary": 5}, send(tab, "podinfo", 5, get("/", "Cookie", "a=b;type=insider")))
	assert.Equal(t, map[string]int{"podinfo-canary": 5}, send(tab, "podinfo", 5, get("/", "User-Agent", "Mozilla/5.0 Firefox/120")))
	// Not matching: the apex Service's own pods, no route.
	assert.Equal(t, map[string]int{"podinfo": 5}, send(tab, "podinfo", 5, get("/", "Cookie", "type=outsider")))
	d := tab.lookup("podinfo", 9898, get("/")()).decide("podinfo")
	assert.Equal(t, Route{}, d.route)

	// A split without matches takes the rest.
	in.splits = append(in.splits, objects(t, splitV1alpha1)...)
	tab = compile(t, in, tab)
	assert.Equal(t, map[string]int{"podinfo-canary": 10}, send(tab, "podinfo", 10, get("/", "Cookie", "type=insider")))
	assert.Equal(t, map[string]int{"podinfo-canary": 2, "podinfo-primary": 8}, send(tab, "podinfo", 10, get("/")))
}

func TestHTTPRouteHeaderRuleThenWeightedRule(t *testing.T) {
	tab := compile(t, tableInput{routes: objects(t, readFile(t, "testdata/httproute-gamma.yaml"))}, nil)
	assert.Equal(t, map[string]int{"podinfo-canary": 7}, send(tab, "podinfo", 7, get("/", "X-Canary", "insider")))
	assert.Equal(t, map[string]int{"podinfo-canary": 7}, send(tab, "podinfo", 7, get("/", "Cookie", "x=1;canary=always")))
	assert.Equal(t, map[string]int{"podinfo-primary": 90, "podinfo-canary": 10}, send(tab, "podinfo", 100, get("/", "X-Canary", "outsider")))

	d := tab.lookup("podinfo", 9898, get("/", "X-Canary", "insider")()).decide("podinfo")
	assert.Equal(t, Route{Kind: KindHTTPRoute, Name: "podinfo", Generation: 5, Rule: 0}, d.route)
	assert.Equal(t, 1.0, d.weight/d.total)

	// The parentRef names port 9898: other ports are not routed by it.
	assert.Equal(t, decision{backend: "podinfo"}, tab.lookup("podinfo", 80, get("/")()).decide("podinfo"))
	// Other services are not routed by it.
	assert.Equal(t, decision{backend: "other"}, tab.lookup("other", 9898, get("/")()).decide("other"))
}

func TestHTTPRoutePrecedence(t *testing.T) {
	tab := compile(t, tableInput{routes: objects(t, `
kind: HTTPRoute
metadata: {name: b-newer, creationTimestamp: "2026-01-02T00:00:00Z"}
spec:
  parentRefs: [{kind: Service, name: podinfo}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /api}}]
    backendRefs: [{name: prefix-api}]
  - matches: [{path: {type: PathPrefix, value: /api/v1}}]
    backendRefs: [{name: prefix-api-v1}]
  - matches: [{path: {type: Exact, value: /api/v1/token}}]
    backendRefs: [{name: exact}]
  - matches: [{path: {type: PathPrefix, value: /}, method: POST}]
    backendRefs: [{name: post}]
  - matches: [{headers: [{name: a, value: "1"}, {name: b, value: "2"}]}]
    backendRefs: [{name: two-headers}]
  - matches: [{headers: [{name: a, value: "1"}]}]
    backendRefs: [{name: one-header}]
  - matches: [{queryParams: [{name: q, value: "1"}]}]
    backendRefs: [{name: query}]
  - matches: [{path: {type: PathPrefix, value: /tie}}]
    backendRefs: [{name: newer}]
`, `
kind: HTTPRoute
metadata: {name: a-older, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  parentRefs: [{group: "", kind: Service, name: podinfo}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /tie}}]
    backendRefs: [{name: older}]
  - matches: [{path: {type: PathPrefix, value: /noweight}}]
    backendRefs: [{name: zero, weight: 0}]
  - matches: [{path: {type: PathPrefix, value: /invalid}}]
    backendRefs: [{kind: ConfigMap, name: x}]
  - matches: [{path: {type: PathPrefix, value: /parent}}]
`, `
kind: HTTPRoute
metadata: {name: gateway-route}
spec:
  parentRefs: [{name: some-gateway}]
  rules: [{backendRefs: [{name: never}]}]
`)}, nil)
	for _, c := range []struct {
		method, target string
		headers        []string
		want           string
	}{
		{"GET", "/api/v1/token", nil, "exact"},
		{"GET", "/api/v1/x", nil, "prefix-api-v1"},
		{"GET", "/api/v2", nil, "prefix-api"},
		{"GET", "/apix", []string{"A", "1"}, "one-header"}, // /api is element-wise
		{"POST", "/", []string{"A", "1", "B", "2"}, "post"},
		{"GET", "/", []string{"A", "1", "B", "2"}, "two-headers"},
		{"GET", "/?q=1", []string{"A", "1"}, "one-header"},
		{"GET", "/?q=1", nil, "query"},
		{"GET", "/tie/x", nil, "older"},
		{"GET", "/parent", nil, "podinfo"},
		{"GET", "/", nil, "Not Found"},
		{"GET", "/noweight", nil, "Internal Server Error"},
		{"GET", "/invalid", nil, "Internal Server Error"},
	} {
		got := send(tab, "podinfo", 1, func() *http.Request {
			r := httptest.NewRequest(c.method, "http://podinfo.test:9898"+c.target, nil)
			for i := 0; i+1 < len(c.headers); i += 2 {
				r.Header.Set(c.headers[i], c.headers[i+1])
			}
			return r
		})
		assert.Equal(t, map[string]int{c.want: 1}, got, "%s %s %v", c.method, c.target, c.headers)
	}
}

func TestTrafficSplitTakesPrecedenceOverHTTPRoute(t *testing.T) {
	tab := compile(t, tableInput{splits: objects(t, splitV1alpha1), routes: objects(t, readFile(t, "testdata/httproute-gamma.yaml"))}, nil)
	d := tab.lookup("podinfo", 9898, get("/", "X-Canary", "insider")()).decide("podinfo")
	assert.Equal(t, KindTrafficSplit, d.route.Kind)
}

func TestMalformedRouteObjectsAreReported(t *testing.T) {
	var warned []string
	tab := compileTable("test", objects(t, `
kind: TrafficSplit
metadata: {name: bad-weight}
spec: {service: podinfo, backends: [{service: a, weight: "lots"}]}`), objects(t, `
kind: HTTPRouteGroup
metadata: {name: bad-regex}
spec: {matches: [{name: m, headers: {x: "("}}]}`), objects(t, `
kind: HTTPRoute
metadata: {name: bad-match}
spec:
  parentRefs: [{kind: Service, name: podinfo}]
  rules: [{matches: [{path: {type: Weird, value: /}}], backendRefs: [{name: a}]}]`), nil, nil,
		func(obj *unstructured.Unstructured, err error) {
			warned = append(warned, obj.GetName()+": "+err.Error())
		})
	assert.Len(t, warned, 3)
	assert.Empty(t, tab.splits)
	// The route with a match it cannot read matches nothing: 404 rather than a guess.
	assert.Equal(t, http.StatusNotFound, tab.lookup("podinfo", 80, get("/")()).decide("podinfo").status)
}
