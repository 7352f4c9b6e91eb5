package mesh

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh/istioapi"
)

// faqService is the spec.service of Flagger's documented Istio Canary (its FAQ's frontend).
func faqService() istioapi.Service {
	return istioapi.Service{
		Hosts:         []string{"frontend.example.com"},
		Gateways:      []string{"istio-system/public-gateway", "mesh"},
		TrafficPolicy: &istioapi.TrafficPolicy{TLS: &istioapi.ClientTLSSettings{Mode: "DISABLE"}},
		Match:         []istioapi.HTTPMatchRequest{{URI: &istioapi.StringMatch{Prefix: "/"}}},
		Rewrite:       &istioapi.HTTPRewrite{URI: "/"},
		Retries: &istioapi.HTTPRetry{Attempts: 3, PerTryTimeout: istioapi.Duration(time.Second),
			RetryOn: "gateway-error,connect-failure,refused-stream"},
		Headers: &istioapi.Headers{Request: &istioapi.HeaderOperations{Add: map[string]string{"x-some-header": "value"}}},
		CorsPolicy: &istioapi.CorsPolicy{AllowOrigin: []string{"example.com"}, AllowMethods: []string{"GET"},
			AllowHeaders: []string{"x-some-header"}, MaxAge: istioapi.Duration(24 * time.Hour)},
	}
}

// the route fields Flagger's FAQ shows its Istio router writing for faqService
func faqRouteFields() map[string]any {
	return map[string]any{
		"corsPolicy": map[string]any{"allowHeaders": []any{"x-some-header"}, "allowMethods": []any{"GET"},
			"allowOrigin": []any{"example.com"}, "maxAge": "24h"},
		"headers": map[string]any{"request": map[string]any{"add": map[string]any{"x-some-header": "value"}}},
		"rewrite": map[string]any{"uri": "/"},
		"retries": map[string]any{"attempts": int64(3), "perTryTimeout": "1s", "retryOn": "gateway-error,connect-failure,refused-stream"},
	}
}

func withFields(route map[string]any, fields map[string]any) map[string]any {
	for k, v := range fields {
		route[k] = v
	}
	return route
}

func dest(host string, weight int64) map[string]any {
	return map[string]any{"destination": map[string]any{"host": host}, "weight": weight}
}

func istioWithService(t *testing.T, dyn dynamic.Interface, svc istioapi.Service) *Istio {
	t.Helper()
	return istioServiceAt(t, dyn, svc, "v1")
}

// istioServiceAt is an Istio router writing svc at version ("v1" or "v1beta1").
func istioServiceAt(t *testing.T, dyn dynamic.Interface, svc istioapi.Service, version string) *Istio {
	t.Helper()
	base, err := NewIstio(IstioOptions{Client: dyn, Version: version})
	require.NoError(t, err)
	r, err := base.WithService(svc)
	require.NoError(t, err)
	return r
}

// The objects written for Flagger's FAQ Canary are the ones its FAQ shows Flagger writing:
// the route with the service's match, rewrite, retries, headers and CORS policy and the
// weighted destinations; both DestinationRules with the traffic policy.
func TestIstioServiceShapeAsFlaggerWrites(t *testing.T) {
	tg := canary.Target{Namespace: "test", Name: "frontend"}
	dyn := newIstioFake()
	r := istioWithService(t, dyn, faqService())
	require.NoError(t, r.Reconcile(ctx(t), tg))
	vs := getVS(t, dyn, "v1", tg)
	assert.Equal(t, map[string]any{
		"gateways": []any{"istio-system/public-gateway", "mesh"},
		"hosts":    []any{"frontend.example.com", "frontend"},
		"http": []any{withFields(map[string]any{
			"match": []any{map[string]any{"uri": map[string]any{"prefix": "/"}}},
			"route": []any{dest("frontend-primary", 100), dest("frontend-canary", 0)},
		}, faqRouteFields())},
	}, vs.Object["spec"])
	for _, name := range []string{"frontend-primary", "frontend-canary"} {
		dr, err := dyn.Resource(istioGVR("v1", "destinationrules")).Namespace("test").Get(ctx(t), name, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, map[string]any{"host": name, "trafficPolicy": map[string]any{"tls": map[string]any{"mode": "DISABLE"}}}, dr.Object["spec"])
	}

	// a step patches the two weights and nothing else
	from := len(dyn.Actions())
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(30)))
	assert.Equal(t, []string{"patch"}, verbs(&dyn.Fake, from))
	want := vs.Object["spec"].(map[string]any)
	want["http"].([]any)[0].(map[string]any)["route"] = []any{dest("frontend-primary", 70), dest("frontend-canary", 30)}
	assert.Equal(t, want, getVS(t, dyn, "v1", tg).Object["spec"])
}

// A delegate VirtualService is Flagger's: no hosts and no gateways (Flagger writes them empty),
// the routes as without delegation.
func TestIstioDelegateAsFlaggerWrites(t *testing.T) {
	tg := canary.Target{Namespace: "test", Name: "frontend"}
	dyn := newIstioFake()
	r := istioWithService(t, dyn, istioapi.Service{Delegation: true, Timeout: istioapi.Duration(5 * time.Second)})
	require.NoError(t, r.Reconcile(ctx(t), tg))
	assert.Equal(t, map[string]any{
		"http": []any{map[string]any{"route": []any{dest("frontend-primary", 100), dest("frontend-canary", 0)}, "timeout": "5s"}},
	}, getVS(t, dyn, "v1", tg).Object["spec"])

	base, err := NewIstio(IstioOptions{Client: dyn, Version: "v1"})
	require.NoError(t, err)
	_, err = base.WithService(istioapi.Service{Delegation: true, Hosts: []string{"frontend.example.com"}})
	assert.ErrorIs(t, err, canary.ErrInvalidSpec)
	assert.ErrorContains(t, err, "delegation: a delegate VirtualService has no hosts and no gateways")
}

// With an A/B analysis, Flagger merges the match conditions: the canary's route matches each
// service condition with the headers of each A/B condition (replacing the service
// condition's own headers), and the primary's route keeps the service's conditions.
func TestIstioServiceABMergeAsFlaggerWrites(t *testing.T) {
	tg := canary.Target{Namespace: "test", Name: "frontend", Match: []canary.Match{
		{Headers: map[string]canary.StringMatch{"user-agent": {Regex: ".*Firefox.*"}}},
		{Headers: map[string]canary.StringMatch{"cookie": {Regex: "^(.*?;)?(type=insider)(;.*)?$"}}},
	}}
	svc := faqService()
	svc.Match = []istioapi.HTTPMatchRequest{
		{URI: &istioapi.StringMatch{Prefix: "/api"}, Headers: map[string]istioapi.StringMatch{"x-replaced": {Exact: "1"}}},
		{URI: &istioapi.StringMatch{Prefix: "/v2"}, IgnoreURICase: true},
	}
	dyn := newIstioFake()
	r := istioWithService(t, dyn, svc)
	require.NoError(t, r.Reconcile(ctx(t), tg))
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.AllCanary()))

	firefox := map[string]any{"user-agent": map[string]any{"regex": ".*Firefox.*"}}
	insider := map[string]any{"cookie": map[string]any{"regex": "^(.*?;)?(type=insider)(;.*)?$"}}
	api := func(h map[string]any) map[string]any {
		return map[string]any{"uri": map[string]any{"prefix": "/api"}, "headers": h}
	}
	v2 := func(h map[string]any) map[string]any {
		m := map[string]any{"uri": map[string]any{"prefix": "/v2"}, "ignoreUriCase": true}
		if h != nil {
			m["headers"] = h
		}
		return m
	}
	assert.Equal(t, []any{
		withFields(map[string]any{
			"match": []any{api(firefox), v2(firefox), api(insider), v2(insider)},
			"route": []any{dest("frontend-primary", 0), dest("frontend-canary", 100)},
		}, faqRouteFields()),
		withFields(map[string]any{
			"match": []any{api(map[string]any{"x-replaced": map[string]any{"exact": "1"}}), v2(nil)},
			"route": []any{dest("frontend-primary", 100)},
		}, faqRouteFields()),
	}, getVS(t, dyn, "v1", tg).Object["spec"].(map[string]any)["http"])
	assert.Equal(t, canary.AllCanary(), vsInspect(dyn, "v1")(t, tg), "the patched weights are the matched route's")

	// without service conditions, the A/B conditions as they are and a catch-all primary route
	svc.Match = nil
	tg2 := tg
	tg2.Name, tg2.Service = "other", "other"
	require.NoError(t, istioWithService(t, dyn, svc).Reconcile(ctx(t), tg2))
	http := getVS(t, dyn, "v1", tg2).Object["spec"].(map[string]any)["http"].([]any)
	require.Len(t, http, 2)
	assert.Equal(t, []any{map[string]any{"headers": firefox}, map[string]any{"headers": insider}}, http[0].(map[string]any)["match"])
	assert.NotContains(t, http[1].(map[string]any), "match")
}

// The configured fields are wanted: Reconcile leaves objects holding them alone (reads only),
// puts back what someone changed or removed, and still removes what the service does not
// configure.
func TestIstioServiceDrift(t *testing.T) {
	tg := canary.Target{Namespace: "test", Name: "frontend"}
	dyn := newIstioFake()
	r := istioWithService(t, dyn, faqService())
	require.NoError(t, r.Reconcile(ctx(t), tg))
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(20)))
	from := len(dyn.Actions())
	require.NoError(t, r.Reconcile(ctx(t), tg))
	assert.Equal(t, []string{"get", "get", "get"}, verbs(&dyn.Fake, from), "in shape: three reads")
	wantVS := getVS(t, dyn, "v1", tg).Object["spec"]

	vs := getVS(t, dyn, "v1", tg)
	route := vs.Object["spec"].(map[string]any)["http"].([]any)[0].(map[string]any)
	route["retries"] = map[string]any{"attempts": int64(9)}
	delete(route, "corsPolicy")
	route["mirror"] = map[string]any{"host": "elsewhere"}
	_, err := dyn.Resource(istioGVR("v1", "virtualservices")).Namespace("test").Update(ctx(t), vs, metav1.UpdateOptions{})
	require.NoError(t, err)
	drs := dyn.Resource(istioGVR("v1", "destinationrules")).Namespace("test")
	dr, err := drs.Get(ctx(t), "frontend-canary", metav1.GetOptions{})
	require.NoError(t, err)
	require.NoError(t, unstructured.SetNestedField(dr.Object, "ISTIO_MUTUAL", "spec", "trafficPolicy", "tls", "mode"))
	_, err = drs.Update(ctx(t), dr, metav1.UpdateOptions{})
	require.NoError(t, err)

	w, err := r.ReconcileWeights(ctx(t), tg)
	require.NoError(t, err)
	assert.Equal(t, canary.CanaryWeight(20), w)
	assert.Equal(t, wantVS, getVS(t, dyn, "v1", tg).Object["spec"], "retries and CORS put back, the mirror removed, weights kept")
	dr, err = drs.Get(ctx(t), "frontend-canary", metav1.GetOptions{})
	require.NoError(t, err)
	mode, _, _ := unstructured.NestedString(dr.Object, "spec", "trafficPolicy", "tls", "mode")
	assert.Equal(t, "DISABLE", mode)

	// the same router without the service: its fields are drift
	plain, err := NewIstio(IstioOptions{Client: dyn, Version: "v1"})
	require.NoError(t, err)
	require.NoError(t, plain.Reconcile(ctx(t), tg))
	route = getVS(t, dyn, "v1", tg).Object["spec"].(map[string]any)["http"].([]any)[0].(map[string]any)
	assert.Equal(t, []string{"route"}, keys(route))
	dr, err = drs.Get(ctx(t), "frontend-primary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"host": "frontend-primary"}, dr.Object["spec"])
}

// WithService copies the service: changing the caller's values later changes nothing.
func TestIstioWithServiceCopies(t *testing.T) {
	svc := faqService()
	dyn := newIstioFake()
	r := istioWithService(t, dyn, svc)
	svc.Retries.Attempts = 7
	svc.Headers.Request.Add["x-other"] = "1"
	svc.Hosts[0] = "changed.example.com"
	tg := canary.Target{Namespace: "test", Name: "frontend"}
	require.NoError(t, r.Reconcile(ctx(t), tg))
	spec := getVS(t, dyn, "v1", tg).Object["spec"].(map[string]any)
	assert.Equal(t, []any{"frontend.example.com", "frontend"}, spec["hosts"])
	assert.Equal(t, faqRouteFields()["retries"], spec["http"].([]any)[0].(map[string]any)["retries"])
	assert.Equal(t, faqRouteFields()["headers"], spec["http"].([]any)[0].(map[string]any)["headers"])
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// With an A/B analysis the canary's route holds each A/B match within each service match: a
// product the router bounds before building it (the API server would refuse the object), so
// that a manifest within its own bounds cannot make a VirtualService of many megabytes.
func TestIstioServiceMatchProductIsBounded(t *testing.T) {
	svc := faqService()
	svc.Match = nil
	for i := range istioapi.MaxItems {
		svc.Match = append(svc.Match, istioapi.HTTPMatchRequest{URI: &istioapi.StringMatch{Prefix: fmt.Sprintf("/%d/%s", i, strings.Repeat("p", 1000))}})
	}
	tg := canary.Target{Namespace: "test", Name: "frontend"}
	for i := range istioapi.MaxItems {
		tg.Match = append(tg.Match, canary.Match{Headers: map[string]canary.StringMatch{"x-user": {Exact: fmt.Sprint(i)}}})
	}
	dyn := newIstioFake()
	r := istioWithService(t, dyn, svc)
	err := r.Reconcile(ctx(t), tg)
	require.Error(t, err)
	assert.True(t, canary.IsPermanent(err), "%v", err)
	assert.ErrorContains(t, err, "64 A/B matches within each of the 64 service matches")
	assert.Error(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(10)))
	_, err = dyn.Resource(istioGVR("v1", "virtualservices")).Namespace("test").Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "no VirtualService is written: %v", err)

	// the same service matches without the A/B analysis, or a few A/B matches within them, fit
	tg.Match = tg.Match[:2]
	require.NoError(t, r.Reconcile(ctx(t), tg))
}

// The router refuses a service whose hosts would take other Services' traffic on the mesh
// (istioapi.Service.HostConflicts) before it writes anything, for the target it is given: an
// embedder's service is checked as a manifest's is.
func TestIstioRefusesMeshHostsBeyondTheTarget(t *testing.T) {
	tg := newTarget()
	dyn := newIstioFake()
	base, err := NewIstio(IstioOptions{Client: dyn, Version: "v1"})
	require.NoError(t, err)
	r, err := base.WithService(istioapi.Service{Hosts: []string{"payments"}})
	require.NoError(t, err, "a short name is valid on its own; it conflicts only with another target's apex")
	err = r.Reconcile(ctx(t), tg)
	require.ErrorIs(t, err, canary.ErrInvalidSpec)
	assert.True(t, canary.IsPermanent(err))
	assert.ErrorContains(t, err, `hosts[0]: "payments" is the short name of Service test/payments, not of the apex Service `+tg.ApexService())
	for _, a := range dyn.Actions() {
		assert.NotEqual(t, "create", a.GetVerb(), "nothing written")
	}
	own, err := base.WithService(istioapi.Service{Hosts: []string{tg.ApexService()}})
	require.NoError(t, err)
	require.NoError(t, own.Reconcile(ctx(t), tg), "the target's own name")
}
