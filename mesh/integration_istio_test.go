package mesh_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/mesh"
	"github.com/canarykit/canarykit/mesh/istioapi"
	"github.com/canarykit/canarykit/mesh/meshtest"
)

// istioRBAC is what the package doc says the Istio router needs.
var istioRBAC = []rbacv1.PolicyRule{
	{APIGroups: []string{"networking.istio.io"}, Resources: []string{"virtualservices"}, Verbs: []string{"get", "create", "update", "patch"}},
	{APIGroups: []string{"networking.istio.io"}, Resources: []string{"destinationrules"}, Verbs: []string{"get", "create", "update"}},
}

func istioResource(version, resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: mesh.IstioGroup, Version: version, Resource: resource}
}

type istioBed struct {
	*bed
	userDyn dynamic.Interface
}

func (b *istioBed) router(t *testing.T, o mesh.IstioOptions) *mesh.Istio {
	o.Client = b.userDyn
	if o.Version == "" && o.Discovery == nil {
		disc, err := discovery.NewDiscoveryClientForConfig(b.cfg)
		require.NoError(t, err)
		o.Discovery = disc
	}
	r, err := mesh.NewIstio(o)
	require.NoError(t, err)
	return r
}

// vs reads t's VirtualService at version as an administrator.
func (b *istioBed) vs(t *testing.T, version string, tg canary.Target) *unstructured.Unstructured {
	t.Helper()
	obj, err := b.dyn.Resource(istioResource(version, "virtualservices")).Namespace(tg.Namespace).Get(bg(t), tg.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	return obj
}

// inspect reads the first HTTP route's destination weights by host, at version.
func (b *istioBed) inspect(version string) func(t *testing.T, tg canary.Target) canary.Weights {
	return b.inspectRoutes(version, "http")
}

// inspectRoutes reads the destination weights by host of the first route of kind ("http" or
// "tcp"), at version.
func (b *istioBed) inspectRoutes(version, kind string) func(t *testing.T, tg canary.Target) canary.Weights {
	return func(t *testing.T, tg canary.Target) canary.Weights {
		t.Helper()
		http, _, err := unstructured.NestedSlice(b.vs(t, version, tg).Object, "spec", kind)
		require.NoError(t, err)
		require.NotEmpty(t, http)
		route, ok := http[0].(map[string]any)
		require.True(t, ok)
		dests, _, err := unstructured.NestedSlice(route, "route")
		require.NoError(t, err)
		var w canary.Weights
		for _, d := range dests {
			dm, ok := d.(map[string]any)
			require.True(t, ok)
			host, _, _ := unstructured.NestedString(dm, "destination", "host")
			n, _, _ := unstructured.NestedInt64(dm, "weight")
			w = weigh(w, tg, host, int(n))
		}
		return w
	}
}

// The Istio router on a real API server with Istio's own CRDs (their schemas and CEL rules),
// under exactly the RBAC the package doc lists: the conformance suite with the version
// discovered and pinned, the cost of a step, the objects' shape, and each of v1 and v1beta1
// served alone. The tests change the CRDs' served versions, so they run one after the other.
func TestIntegrationIstio(t *testing.T) {
	b := &istioBed{bed: newBed(t, istioRBAC...)}
	crds := testenv.IstioCRDs(t)
	testenv.InstallCRDs(t, b.admin, crds...)
	b.served(t, mesh.IstioGroup, "v1", "v1alpha3", "v1beta1")
	var err error
	b.userDyn, err = dynamic.NewForConfig(b.cfg)
	require.NoError(t, err)

	for name, o := range map[string]mesh.IstioOptions{
		"Discovered":    {},
		"PinnedV1beta1": {Version: "v1beta1"},
	} {
		t.Run(name, func(t *testing.T) {
			meshtest.Run(t, meshtest.Harness{
				NewRouter:       func(t *testing.T) canary.MeshRouter { return b.router(t, o) },
				NewTarget:       b.target,
				Inspect:         b.inspect("v1"), // one stored object, served at every version
				Match:           abMatch,
				Mirror:          true,
				SessionAffinity: true,
			})
		})
	}

	t.Run("RequestsPerCall", func(t *testing.T) {
		r, tg := b.router(t, mesh.IstioOptions{Version: "v1"}), b.target(t)
		tg.Match = abMatch
		require.NoError(t, r.Reconcile(bg(t), tg))
		for _, w := range []int{10, 20, 30} {
			counts := b.audit(t, func() { require.NoError(t, r.SetWeights(bg(t), tg, canary.CanaryWeight(w))) })
			assert.Equal(t, testenv.AuditCounts{{User: b.user, Verb: "patch", Resource: "virtualservices"}: 1}, counts,
				"SetWeights(%d) costs one request", w)
		}
		counts := b.audit(t, func() { require.NoError(t, r.Reconcile(bg(t), tg)) })
		assert.Equal(t, testenv.AuditCounts{
			{User: b.user, Verb: "get", Resource: "virtualservices"}:  1,
			{User: b.user, Verb: "get", Resource: "destinationrules"}: 2,
		}, counts, "stored objects equal the router's: Reconcile only reads them")
	})

	t.Run("Shape", func(t *testing.T) {
		base := b.router(t, mesh.IstioOptions{Version: "v1"})
		r, err := base.WithService(istioapi.Service{Hosts: []string{"app.example.com"}, Gateways: []string{"istio-system/public-gateway", "mesh"}})
		require.NoError(t, err)
		tg := b.target(t)
		tg.Match = abMatch
		require.NoError(t, r.Reconcile(bg(t), tg))
		require.NoError(t, r.SetWeights(bg(t), tg, canary.CanaryWeight(100)))
		vs := b.vs(t, "v1beta1", tg)
		hosts, _, _ := unstructured.NestedStringSlice(vs.Object, "spec", "hosts")
		assert.Equal(t, []string{"app.example.com", tg.ApexService()}, hosts)
		gateways, _, _ := unstructured.NestedStringSlice(vs.Object, "spec", "gateways")
		assert.Equal(t, []string{"istio-system/public-gateway", "mesh"}, gateways)
		http, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
		require.Len(t, http, 2, "the matched route, then everything else")
		matches, _, _ := unstructured.NestedSlice(http[0].(map[string]any), "match")
		require.Len(t, matches, 2)
		cookie, _, _ := unstructured.NestedString(matches[1].(map[string]any), "headers", "cookie", "regex")
		assert.Equal(t, "^(.*?;)?(type=insider)(;.*)?$", cookie)
		prefix, _, _ := unstructured.NestedString(matches[0].(map[string]any), "headers", "user-agent", "prefix")
		assert.Equal(t, "Mozilla/5.0 (X11", prefix)
		assert.Equal(t, canary.AllCanary(), b.inspect("v1")(t, tg))
		rest, _, _ := unstructured.NestedSlice(http[1].(map[string]any), "route")
		require.Len(t, rest, 1)
		host, _, _ := unstructured.NestedString(rest[0].(map[string]any), "destination", "host")
		assert.Equal(t, tg.PrimaryService(), host)
		for _, name := range []string{tg.PrimaryService(), tg.CanaryService()} {
			dr, err := b.dyn.Resource(istioResource("v1", "destinationrules")).Namespace(b.ns).Get(bg(t), name, metav1.GetOptions{})
			require.NoError(t, err)
			h, _, _ := unstructured.NestedString(dr.Object, "spec", "host")
			assert.Equal(t, name, h)
			assert.Equal(t, canary.ManagedBy, dr.GetLabels()[canary.LabelManagedBy])
		}
	})

	// A delegate VirtualService (spec.service.delegation) has no hosts and no gateways: the
	// CRD takes it, a VirtualService made before without delegation loses them at the next
	// Reconcile, and a step is one patch.
	t.Run("Delegate", func(t *testing.T) {
		base := b.router(t, mesh.IstioOptions{Version: "v1"})
		tg := b.target(t)
		require.NoError(t, base.Reconcile(bg(t), tg))
		hosts, _, _ := unstructured.NestedStringSlice(b.vs(t, "v1", tg).Object, "spec", "hosts")
		require.Equal(t, []string{tg.ApexService()}, hosts)

		r, err := base.WithService(istioapi.Service{Delegation: true})
		require.NoError(t, err)
		require.NoError(t, r.Reconcile(bg(t), tg))
		counts := b.audit(t, func() { require.NoError(t, r.SetWeights(bg(t), tg, canary.CanaryWeight(20))) })
		assert.Equal(t, testenv.AuditCounts{{User: b.user, Verb: "patch", Resource: "virtualservices"}: 1}, counts, "a step is one patch")
		spec := b.vs(t, "v1", tg).Object["spec"].(map[string]any)
		assert.NotContains(t, spec, "hosts")
		assert.NotContains(t, spec, "gateways")
		assert.Equal(t, canary.CanaryWeight(20), b.inspect("v1")(t, tg))
		counts = b.audit(t, func() { require.NoError(t, r.Reconcile(bg(t), tg)) })
		assert.Equal(t, testenv.AuditCounts{
			{User: b.user, Verb: "get", Resource: "virtualservices"}:  1,
			{User: b.user, Verb: "get", Resource: "destinationrules"}: 2,
		}, counts, "the stored delegate equals the router's: Reconcile only reads it")
	})

	// A target's Istio service (Flagger's spec.service fields) on the real CRDs: their schemas
	// and CEL rules accept what the router writes (a cookie's zero ttl, a session cookie,
	// included), the objects read back hold every field, a
	// step is still one patch of the weights, and Reconcile finds the stored objects equal to
	// its own (the server keeps the fields as written), so it only reads.
	t.Run("Service", func(t *testing.T) {
		off := false
		svc := istioapi.Service{
			Hosts:    []string{"frontend.example.com"},
			Gateways: []string{"istio-system/public-gateway", "mesh"},
			Match: []istioapi.HTTPMatchRequest{{URI: &istioapi.StringMatch{Prefix: "/api"}, IgnoreURICase: true,
				QueryParams: map[string]istioapi.StringMatch{"debug": {Exact: "1"}}}},
			Rewrite: &istioapi.HTTPRewrite{URI: "/", Authority: "frontend.internal"},
			Timeout: istioapi.Duration(30 * time.Second),
			Retries: &istioapi.HTTPRetry{Attempts: 3, PerTryTimeout: istioapi.Duration(time.Second),
				RetryOn: "gateway-error,connect-failure,refused-stream", RetryRemoteLocalities: true},
			CorsPolicy: &istioapi.CorsPolicy{AllowOrigin: []string{"example.com"}, AllowOrigins: []istioapi.StringMatch{{Prefix: "https://"}},
				AllowMethods: []string{"GET", "POST"}, AllowHeaders: []string{"x-some-header"}, MaxAge: istioapi.Duration(24 * time.Hour), AllowCredentials: true},
			Headers: &istioapi.Headers{Request: &istioapi.HeaderOperations{Add: map[string]string{"x-some-header": "value"}},
				Response: &istioapi.HeaderOperations{Remove: []string{"server"}}},
			TrafficPolicy: &istioapi.TrafficPolicy{
				LoadBalancer: &istioapi.LoadBalancerSettings{
					ConsistentHash:    &istioapi.ConsistentHashLB{HTTPCookie: &istioapi.HTTPCookie{Name: "user", TTL: ptr.To(istioapi.Duration(0))}},
					LocalityLbSetting: &istioapi.LocalityLbSetting{Enabled: &off}, WarmupDurationSecs: istioapi.Duration(30 * time.Second)},
				ConnectionPool: &istioapi.ConnectionPoolSettings{HTTP: &istioapi.HTTPSettings{HTTP1MaxPendingRequests: 100, MaxRetries: 3,
					IdleTimeout: istioapi.Duration(time.Minute)}},
				OutlierDetection: &istioapi.OutlierDetection{Consecutive5xxErrors: ptr.To(uint32(5)), Interval: istioapi.Duration(10 * time.Second),
					BaseEjectionTime: istioapi.Duration(30 * time.Second), MaxEjectionPercent: 50},
				TLS: &istioapi.ClientTLSSettings{Mode: "ISTIO_MUTUAL"},
			},
		}
		base := b.router(t, mesh.IstioOptions{Version: "v1"})
		r, err := base.WithService(svc)
		require.NoError(t, err)
		tg := b.target(t)
		tg.Match = abMatch
		require.NoError(t, r.Reconcile(bg(t), tg))
		counts := b.audit(t, func() { require.NoError(t, r.SetWeights(bg(t), tg, canary.CanaryWeight(35))) })
		assert.Equal(t, testenv.AuditCounts{{User: b.user, Verb: "patch", Resource: "virtualservices"}: 1}, counts, "a step is one patch")
		assert.Equal(t, canary.CanaryWeight(35), b.inspect("v1")(t, tg))

		routeFields := map[string]any{
			"rewrite": map[string]any{"uri": "/", "authority": "frontend.internal"},
			"timeout": "30s",
			"retries": map[string]any{"attempts": int64(3), "perTryTimeout": "1s", "retryOn": "gateway-error,connect-failure,refused-stream",
				"retryRemoteLocalities": true},
			"corsPolicy": map[string]any{"allowOrigin": []any{"example.com"}, "allowOrigins": []any{map[string]any{"prefix": "https://"}},
				"allowMethods": []any{"GET", "POST"}, "allowHeaders": []any{"x-some-header"}, "maxAge": "24h", "allowCredentials": true},
			"headers": map[string]any{"request": map[string]any{"add": map[string]any{"x-some-header": "value"}},
				"response": map[string]any{"remove": []any{"server"}}},
		}
		serviceMatch := map[string]any{"uri": map[string]any{"prefix": "/api"}, "ignoreUriCase": true,
			"queryParams": map[string]any{"debug": map[string]any{"exact": "1"}}}
		vs := b.vs(t, "v1beta1", tg)
		http, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
		require.Len(t, http, 2, "the A/B route, then the primary's")
		for i, route := range http {
			rm := route.(map[string]any)
			for k, v := range routeFields {
				assert.Equal(t, v, rm[k], "http[%d].%s", i, k)
			}
			matches, _, _ := unstructured.NestedSlice(rm, "match")
			for j, m := range matches {
				mm := m.(map[string]any)
				for k, v := range serviceMatch {
					assert.Equal(t, v, mm[k], "http[%d].match[%d].%s", i, j, k)
				}
				assert.Equal(t, i == 0, mm["headers"] != nil, "http[%d].match[%d]: the A/B route's matches hold the A/B headers", i, j)
			}
			assert.Len(t, matches, []int{len(abMatch), 1}[i], "http[%d]: each A/B match within the service's", i)
		}
		for _, name := range []string{tg.PrimaryService(), tg.CanaryService()} {
			dr, err := b.dyn.Resource(istioResource("v1beta1", "destinationrules")).Namespace(b.ns).Get(bg(t), name, metav1.GetOptions{})
			require.NoError(t, err)
			assert.Equal(t, map[string]any{"host": name, "trafficPolicy": map[string]any{
				"loadBalancer": map[string]any{"consistentHash": map[string]any{"httpCookie": map[string]any{"name": "user", "ttl": "0s"}},
					"localityLbSetting": map[string]any{"enabled": false}, "warmupDurationSecs": "30s"},
				"connectionPool":   map[string]any{"http": map[string]any{"http1MaxPendingRequests": int64(100), "maxRetries": int64(3), "idleTimeout": "1m"}},
				"outlierDetection": map[string]any{"consecutive5xxErrors": int64(5), "interval": "10s", "baseEjectionTime": "30s", "maxEjectionPercent": int64(50)},
				"tls":              map[string]any{"mode": "ISTIO_MUTUAL"},
			}}, dr.Object["spec"], name)
		}

		counts = b.audit(t, func() { require.NoError(t, r.Reconcile(bg(t), tg)) })
		assert.Equal(t, testenv.AuditCounts{
			{User: b.user, Verb: "get", Resource: "virtualservices"}:  1,
			{User: b.user, Verb: "get", Resource: "destinationrules"}: 2,
		}, counts, "the stored objects equal the router's: Reconcile only reads them")
		got, err := r.Weights(bg(t), tg)
		require.NoError(t, err)
		assert.Equal(t, canary.CanaryWeight(35), got)
	})

	// A TCP service (a Canary's spec.service.appProtocol tcp): the CRDs take the TCP route,
	// the conformance suite passes through it, a step is one patch of its weights, and
	// Reconcile finds the stored objects equal to its own.
	t.Run("TCP", func(t *testing.T) {
		svc := istioapi.Service{TCP: true, Match: []istioapi.HTTPMatchRequest{{Port: 9898}},
			TrafficPolicy: &istioapi.TrafficPolicy{TLS: &istioapi.ClientTLSSettings{Mode: "ISTIO_MUTUAL"},
				ConnectionPool: &istioapi.ConnectionPoolSettings{TCP: &istioapi.TCPSettings{MaxConnections: 100, ConnectTimeout: istioapi.Duration(30 * time.Millisecond)}}}}
		router := func(t *testing.T, o mesh.IstioOptions) *mesh.Istio {
			r, err := b.router(t, o).WithService(svc)
			require.NoError(t, err)
			return r
		}
		meshtest.Run(t, meshtest.Harness{
			NewRouter: func(t *testing.T) canary.MeshRouter { return router(t, mesh.IstioOptions{}) },
			NewTarget: b.target,
			Inspect:   b.inspectRoutes("v1", "tcp"),
		})
		r, tg := router(t, mesh.IstioOptions{Version: "v1beta1"}), b.target(t)
		require.NoError(t, r.Reconcile(bg(t), tg))
		counts := b.audit(t, func() { require.NoError(t, r.SetWeights(bg(t), tg, canary.CanaryWeight(30))) })
		assert.Equal(t, testenv.AuditCounts{{User: b.user, Verb: "patch", Resource: "virtualservices"}: 1}, counts, "a step is one patch")
		spec := b.vs(t, "v1", tg).Object["spec"].(map[string]any)
		assert.NotContains(t, spec, "http")
		assert.Equal(t, []any{map[string]any{"port": int64(9898)}}, spec["tcp"].([]any)[0].(map[string]any)["match"])
		assert.Equal(t, canary.CanaryWeight(30), b.inspectRoutes("v1", "tcp")(t, tg))
		counts = b.audit(t, func() { require.NoError(t, r.Reconcile(bg(t), tg)) })
		assert.Equal(t, testenv.AuditCounts{
			{User: b.user, Verb: "get", Resource: "virtualservices"}:  1,
			{User: b.user, Verb: "get", Resource: "destinationrules"}: 2,
		}, counts, "the stored objects equal the router's: Reconcile only reads them")
	})

	t.Run("ServedAlone", func(t *testing.T) {
		t.Cleanup(func() {
			testenv.InstallCRDs(t, b.admin, crds...)
			b.served(t, mesh.IstioGroup, "v1", "v1alpha3", "v1beta1")
		})
		for _, tc := range []struct{ served, other string }{{"v1beta1", "v1"}, {"v1", "v1beta1"}} {
			t.Run(tc.served, func(t *testing.T) {
				for _, crd := range crds {
					testenv.InstallCRDs(t, b.admin, testenv.IstioCRDServing(crd, tc.served))
				}
				disc := b.served(t, mesh.IstioGroup, tc.served)
				r := b.router(t, mesh.IstioOptions{Discovery: disc})
				v, err := r.APIVersion(bg(t))
				require.NoError(t, err)
				assert.Equal(t, "networking.istio.io/"+tc.served, v)
				tg := b.target(t)
				tg.Match = abMatch
				require.NoError(t, r.Reconcile(bg(t), tg))
				require.NoError(t, r.SetWeights(bg(t), tg, canary.CanaryWeight(35)))
				assert.Equal(t, canary.CanaryWeight(35), b.inspect(tc.served)(t, tg))
				got, err := r.Weights(bg(t), tg)
				require.NoError(t, err)
				assert.Equal(t, canary.CanaryWeight(35), got)

				pinned := b.router(t, mesh.IstioOptions{Version: tc.other})
				err = pinned.SetWeights(bg(t), tg, canary.CanaryWeight(40))
				assert.ErrorIs(t, err, mesh.ErrCRDMissing, "the version not served")
				assert.True(t, permanent(err), "permanent: %v", err)
			})
		}
	})
}
