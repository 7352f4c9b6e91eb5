package mesh

import (
	"testing"

	specsfake "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/specs/clientset/versioned/fake"
	splitfake "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/split/clientset/versioned/fake"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes/fake"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayfake "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned/fake"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh/gatewayapi"
	"github.com/canarykit/canarykit/mesh/istioapi"
	"github.com/canarykit/canarykit/mesh/meshtest"
)

// everyIstioField is an A/B condition with every field of an Istio HTTPMatchRequest that a
// Flagger Canary's analysis.match takes.
func everyIstioField() canary.Match {
	return canary.Match{
		Name: "beta", URI: &canary.StringMatch{Prefix: "/api"}, Method: &canary.StringMatch{Exact: "GET"},
		Headers:     map[string]canary.StringMatch{"x-user": {Suffix: "@corp"}},
		QueryParams: map[string]canary.StringMatch{"beta": {Exact: "1"}}, Authority: &canary.StringMatch{Regex: `.*\.example\.com`},
		Scheme: &canary.StringMatch{Exact: "https"}, Port: 8080, IgnoreURICase: true,
		WithoutHeaders: map[string]canary.StringMatch{"x-bot": {Exact: "1"}},
		SourceLabels:   map[string]string{"app": "frontend"}, SourceNamespace: "web",
	}
}

// Flagger's Istio router writes an analysis match as it is in the canary's route when
// spec.service has no match (pkg/router/istio.go: mergeMatchConditions returns it), every
// field of the HTTPMatchRequest; canarykit does the same, a suffix (which Istio's StringMatch
// lacks, and its CRD would drop) as the anchored regular expression.
func TestIstioABMatchFieldsAsFlaggerWrites(t *testing.T) {
	tg := newTarget()
	tg.Match = []canary.Match{everyIstioField(), {Headers: map[string]canary.StringMatch{"cookie": {Regex: "^(.*?;)?(type=insider)(;.*)?$"}}}}
	dyn := newIstioFake()
	r, err := NewIstio(IstioOptions{Client: dyn, Version: "v1"})
	require.NoError(t, err)
	require.NoError(t, r.Reconcile(ctx(t), tg))
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.AllCanary()))
	http := getVS(t, dyn, "v1", tg).Object["spec"].(map[string]any)["http"].([]any)
	require.Len(t, http, 2)
	assert.Equal(t, []any{
		map[string]any{
			"name": "beta", "uri": map[string]any{"prefix": "/api"}, "method": map[string]any{"exact": "GET"},
			"headers":     map[string]any{"x-user": map[string]any{"regex": ".*@corp$"}},
			"queryParams": map[string]any{"beta": map[string]any{"exact": "1"}}, "authority": map[string]any{"regex": `.*\.example\.com`},
			"scheme": map[string]any{"exact": "https"}, "port": int64(8080), "ignoreUriCase": true,
			"withoutHeaders": map[string]any{"x-bot": map[string]any{"exact": "1"}},
			"sourceLabels":   map[string]any{"app": "frontend"}, "sourceNamespace": "web",
		},
		map[string]any{"headers": map[string]any{"cookie": map[string]any{"regex": "^(.*?;)?(type=insider)(;.*)?$"}}},
	}, http[0].(map[string]any)["match"])
	assert.NotContains(t, http[1].(map[string]any), "match", "the primary's route takes every other request")
	w, err := r.Weights(ctx(t), tg)
	require.NoError(t, err)
	assert.Equal(t, canary.AllCanary(), w)
}

// With spec.service.match, each A/B condition merges into each service condition: its
// headers (and query parameters, headers it must lack, source labels) replace the service's,
// as Flagger replaces headers and source labels; its uri, method and the other single-valued
// fields are added, where Flagger drops them. One the service condition sets too is refused
// by path before any request.
func TestIstioABMatchMergesWithServiceMatch(t *testing.T) {
	svc := istioapi.Service{Match: []istioapi.HTTPMatchRequest{
		{URI: &istioapi.StringMatch{Prefix: "/v2"}, Headers: map[string]istioapi.StringMatch{"x-replaced": {Exact: "1"}}},
		{Authority: &istioapi.StringMatch{Exact: "app.example.com"}},
	}}
	tg := newTarget()
	tg.Match = []canary.Match{{Method: &canary.StringMatch{Exact: "POST"}, QueryParams: map[string]canary.StringMatch{"beta": {Prefix: "y"}},
		Headers: map[string]canary.StringMatch{"x-user": {Exact: "a"}}}}
	dyn := newIstioFake()
	r := istioWithService(t, dyn, svc)
	require.NoError(t, r.Reconcile(ctx(t), tg))
	ab := map[string]any{"method": map[string]any{"exact": "POST"}, "queryParams": map[string]any{"beta": map[string]any{"prefix": "y"}},
		"headers": map[string]any{"x-user": map[string]any{"exact": "a"}}}
	with := func(k string, v any) map[string]any {
		m := map[string]any{k: v}
		for kk, vv := range ab {
			m[kk] = vv
		}
		return m
	}
	http := getVS(t, dyn, "v1", tg).Object["spec"].(map[string]any)["http"].([]any)
	require.Len(t, http, 2)
	assert.Equal(t, []any{with("uri", map[string]any{"prefix": "/v2"}), with("authority", map[string]any{"exact": "app.example.com"})},
		http[0].(map[string]any)["match"])
	assert.Equal(t, []any{
		map[string]any{"uri": map[string]any{"prefix": "/v2"}, "headers": map[string]any{"x-replaced": map[string]any{"exact": "1"}}},
		map[string]any{"authority": map[string]any{"exact": "app.example.com"}},
	}, http[1].(map[string]any)["match"], "the primary's route matches the service's conditions")

	clash := newTarget()
	clash.Match = []canary.Match{{URI: &canary.StringMatch{Prefix: "/beta"}}, {Headers: map[string]canary.StringMatch{"x": {Exact: "1"}}, Authority: &canary.StringMatch{Exact: "b"}}}
	dyn = newIstioFake()
	err := istioWithService(t, dyn, svc).Reconcile(ctx(t), clash)
	requirePermanent(t, err)
	assert.ErrorIs(t, err, canary.ErrInvalidSpec)
	assert.ErrorContains(t, err, "match[0].uri: spec.service.match[0] sets uri too")
	assert.ErrorContains(t, err, "match[1].authority: spec.service.match[1] sets authority too")
	assert.Empty(t, dyn.Actions(), "refused before any request")
}

// Flagger's Gateway API router maps an analysis match's uri (exact, prefix, regex) to the
// path, its exact method to the method, and its headers and query parameters (exact, regex)
// (pkg/router/gateway_api.go mapRouteMatches); canarykit does too, a prefix or suffix value
// as the anchored regular expression, with the defaults the API server sets.
func TestHTTPRouteABMatchFieldsAsFlaggerWrites(t *testing.T) {
	cs := gatewayfake.NewSimpleClientset()
	r, err := NewHTTPRoute(HTTPRouteOptions{Client: cs, Port: 9898})
	require.NoError(t, err)
	tg := newTarget()
	tg.Match = []canary.Match{
		{URI: &canary.StringMatch{Prefix: "/api"}, Method: &canary.StringMatch{Exact: "POST"},
			Headers:     map[string]canary.StringMatch{"x-user": {Exact: "a"}},
			QueryParams: map[string]canary.StringMatch{"beta": {Exact: "1"}, "plan": {Prefix: "gold"}}},
		{URI: &canary.StringMatch{Regex: "/v[0-9]+/.*"}},
		{URI: &canary.StringMatch{Exact: "/healthz"}, QueryParams: map[string]canary.StringMatch{"v": {Regex: "[0-9]+"}}},
	}
	require.NoError(t, r.Reconcile(ctx(t), tg))
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.AllCanary()))
	hr := getRoute(t, cs, tg)
	require.Len(t, hr.Spec.Rules, 2)
	assert.Equal(t, []gwv1.HTTPRouteMatch{
		{Path: pathPrefix("/api"), Method: ptrTo(gwv1.HTTPMethodPost),
			Headers: []gwv1.HTTPHeaderMatch{{Name: "x-user", Type: ptrTo(gwv1.HeaderMatchExact), Value: "a"}},
			QueryParams: []gwv1.HTTPQueryParamMatch{{Name: "beta", Type: ptrTo(gwv1.QueryParamMatchExact), Value: "1"},
				{Name: "plan", Type: ptrTo(gwv1.QueryParamMatchRegularExpression), Value: "^gold.*"}}},
		{Path: &gwv1.HTTPPathMatch{Type: ptrTo(gwv1.PathMatchRegularExpression), Value: ptrTo("/v[0-9]+/.*")}},
		{Path: &gwv1.HTTPPathMatch{Type: ptrTo(gwv1.PathMatchExact), Value: ptrTo("/healthz")},
			QueryParams: []gwv1.HTTPQueryParamMatch{{Name: "v", Type: ptrTo(gwv1.QueryParamMatchRegularExpression), Value: "[0-9]+"}}},
	}, hr.Spec.Rules[0].Matches)
	assert.Equal(t, []gwv1.HTTPRouteMatch{{Path: pathPrefix("/")}}, hr.Spec.Rules[1].Matches, "every other request to the primary")
	assert.Equal(t, int32(100), *hr.Spec.Rules[0].BackendRefs[1].Weight)
}

// With spec.service.match, the A/B headers and query parameters replace the service match's,
// as Flagger merges them (mergeMatchConditions); a path or method the A/B condition sets is
// added where the service's sets none (Flagger drops it), and refused where it sets one.
func TestHTTPRouteABMatchMergesWithServiceMatch(t *testing.T) {
	cs := gatewayfake.NewSimpleClientset()
	r := serviceRouter(t, cs, gatewayService)
	tg := newTarget()
	tg.Match = []canary.Match{{QueryParams: map[string]canary.StringMatch{"beta": {Exact: "1"}}}}
	require.NoError(t, r.Reconcile(ctx(t), tg))
	hr := getRoute(t, cs, tg)
	want := []gwv1.HTTPRouteMatch{*wantServiceMatches[0].DeepCopy(), *wantServiceMatches[1].DeepCopy()}
	for i := range want {
		want[i].QueryParams = []gwv1.HTTPQueryParamMatch{{Name: "beta", Type: ptrTo(gwv1.QueryParamMatchExact), Value: "1"}}
	}
	assert.Equal(t, want, hr.Spec.Rules[0].Matches, "the service's headers stay where the A/B condition sets none")
	assert.Equal(t, wantServiceMatches, hr.Spec.Rules[1].Matches)

	headersOnly := serviceRouter(t, cs, gatewayapi.Service{Match: []istioapi.HTTPMatchRequest{{Headers: map[string]istioapi.StringMatch{"x-tenant": {Exact: "a"}}}}})
	tg2 := newTarget()
	tg2.Match = []canary.Match{{URI: &canary.StringMatch{Prefix: "/beta"}, Method: &canary.StringMatch{Exact: "GET"}}}
	require.NoError(t, headersOnly.Reconcile(ctx(t), tg2))
	assert.Equal(t, []gwv1.HTTPRouteMatch{{Path: pathPrefix("/beta"), Method: ptrTo(gwv1.HTTPMethodGet),
		Headers: []gwv1.HTTPHeaderMatch{{Name: "x-tenant", Type: ptrTo(gwv1.HeaderMatchExact), Value: "a"}}}},
		getRoute(t, cs, tg2).Spec.Rules[0].Matches)

	cs = gatewayfake.NewSimpleClientset()
	tg3 := newTarget()
	tg3.Match = []canary.Match{{URI: &canary.StringMatch{Prefix: "/beta"}}}
	err := serviceRouter(t, cs, gatewayService).Reconcile(ctx(t), tg3)
	requirePermanent(t, err)
	assert.ErrorIs(t, err, canary.ErrInvalidSpec)
	assert.ErrorContains(t, err, "match[0].uri: spec.service.match[0] sets uri too")
	assert.Empty(t, cs.Actions(), "refused before any request")
}

// What an HTTPRouteMatch cannot hold is refused by path, wrapping ErrMatchUnsupported, before
// any request (Flagger drops the Istio-only fields, and fails its reconcile on a method or
// path type Gateway API lacks).
func TestHTTPRouteABMatchRefusals(t *testing.T) {
	for want, m := range map[string]canary.Match{
		"match[0].authority: Gateway API's HTTPRouteMatch has no authority": {Authority: &canary.StringMatch{Exact: "a"}},
		"match[0].scheme":                                         {Scheme: &canary.StringMatch{Exact: "https"}},
		"match[0].port":                                           {Port: 80},
		"match[0].ignoreUriCase":                                  {URI: &canary.StringMatch{Prefix: "/a"}, IgnoreURICase: true},
		"match[0].withoutHeaders":                                 {WithoutHeaders: map[string]canary.StringMatch{"x": {Exact: "1"}}},
		"match[0].sourceLabels":                                   {SourceLabels: map[string]string{"app": "a"}},
		"match[0].sourceNamespace":                                {SourceNamespace: "web"},
		`match[0].uri.prefix: "api" is not an absolute path`:      {URI: &canary.StringMatch{Prefix: "api"}},
		`match[0].uri.exact: "/a//b" must not contain "//"`:       {URI: &canary.StringMatch{Exact: "/a//b"}},
		"match[0].method: Gateway API matches one method exactly": {Method: &canary.StringMatch{Prefix: "G"}},
	} {
		cs := gatewayfake.NewSimpleClientset()
		r, err := NewHTTPRoute(HTTPRouteOptions{Client: cs, Port: 9898})
		require.NoError(t, err)
		tg := newTarget()
		tg.Match = []canary.Match{m}
		err = r.Reconcile(ctx(t), tg)
		requirePermanent(t, err)
		assert.ErrorIs(t, err, canary.ErrMatchUnsupported, want)
		assert.ErrorContains(t, err, want)
		assert.ErrorIs(t, r.SetWeights(ctx(t), tg, canary.AllCanary()), canary.ErrMatchUnsupported, want)
		assert.Empty(t, cs.Actions(), "%s: no request", want)
	}
}

// The routes that match headers only refuse any other field by path, before any request.
func TestHeadersOnlyRoutersRefuseOtherMatchFields(t *testing.T) {
	uri := []canary.Match{{Headers: map[string]canary.StringMatch{"x": {Exact: "1"}}, URI: &canary.StringMatch{Prefix: "/a"}}}
	t.Run("nginx", func(t *testing.T) {
		tg := newTarget()
		tg.Match = uri
		cs := fake.NewClientset(userIngress(tg))
		r := newNGINX(t, NGINXOptions{Client: cs.NetworkingV1()})
		err := r.Reconcile(ctx(t), tg)
		requirePermanent(t, err)
		assert.ErrorIs(t, err, canary.ErrMatchUnsupported)
		assert.ErrorContains(t, err, "match[0].uri: an ingress-nginx canary Ingress matches headers only")
		assert.Empty(t, cs.Actions())
	})
	t.Run("smi", func(t *testing.T) {
		tg := newTarget()
		tg.Match = uri
		cs, specs := splitfake.NewSimpleClientset(), specsfake.NewSimpleClientset()
		r, err := NewTrafficSplit(TrafficSplitOptions{Client: cs, Specs: specs, Version: "v1alpha4"})
		require.NoError(t, err)
		err = r.Reconcile(ctx(t), tg)
		requirePermanent(t, err)
		assert.ErrorIs(t, err, canary.ErrMatchUnsupported)
		assert.ErrorContains(t, err, "match[0].uri: an SMI HTTPRouteGroup matches headers only")
		assert.Empty(t, cs.Actions())
		assert.Empty(t, specs.Actions())
	})
}

// routeMatchFields are A/B conditions beyond headers that both Istio and an HTTPRoute write: a
// path, a method and query parameters.
var routeMatchFields = []canary.Match{{URI: &canary.StringMatch{Prefix: "/api"}, Method: &canary.StringMatch{Exact: "POST"},
	QueryParams: map[string]canary.StringMatch{"beta": {Exact: "1"}, "tier": {Prefix: "gold"}}}}

// The Istio router passes the conformance suite with A/B conditions beyond headers: every
// field of Istio's match (the HTTPRoute's run is in TestHTTPRouteConformanceOnFakes).
func TestIstioConformanceWithMatchFieldsOnFakes(t *testing.T) {
	dyn := newIstioFake()
	meshtest.Run(t, meshtest.Harness{
		NewRouter: func(t *testing.T) canary.MeshRouter {
			r, err := NewIstio(IstioOptions{Client: dyn, Version: "v1"})
			require.NoError(t, err)
			return r
		},
		NewTarget:       func(*testing.T) canary.Target { return newTarget() },
		Inspect:         vsInspect(dyn, "v1"),
		Match:           append([]canary.Match{everyIstioField()}, routeMatchFields...),
		Mirror:          true,
		SessionAffinity: true,
	})
}
