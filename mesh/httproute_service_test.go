package mesh

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayfake "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned/fake"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh/gatewayapi"
	"github.com/canarykit/canarykit/mesh/istioapi"
)

// gatewayService is a Canary's spec.service match, headers and rewrite as a Flagger Gateway
// API manifest gives them.
var gatewayService = gatewayapi.Service{
	Match: []istioapi.HTTPMatchRequest{
		{URI: &istioapi.StringMatch{Prefix: "/api"}, Method: &istioapi.StringMatch{Exact: "GET"},
			Headers:     map[string]istioapi.StringMatch{"x-tenant": {Exact: "a"}, "accept": {Prefix: "application/json"}},
			QueryParams: map[string]istioapi.StringMatch{"v": {Regex: "[0-9]+"}}},
		{URI: &istioapi.StringMatch{Exact: "/healthz"}},
	},
	Headers: &istioapi.Headers{
		Request:  &istioapi.HeaderOperations{Set: map[string]string{"x-b": "2", "x-a": "1"}, Add: map[string]string{"x-trace": "on"}, Remove: []string{"x-debug"}},
		Response: &istioapi.HeaderOperations{Set: map[string]string{"x-served-by": "podinfo"}},
	},
	Rewrite: &istioapi.HTTPRewrite{URI: "/v2", Authority: "podinfo.internal"},
}

// The matches and filters Flagger's Gateway API router writes for gatewayService (its
// mapRouteMatches and makeFilters), with the defaults the API server sets.
var (
	wantServiceMatches = []gwv1.HTTPRouteMatch{
		{
			Path:   pathPrefix("/api"),
			Method: ptrTo(gwv1.HTTPMethodGet),
			Headers: []gwv1.HTTPHeaderMatch{
				{Name: "accept", Type: ptrTo(gwv1.HeaderMatchRegularExpression), Value: `^application/json.*`},
				{Name: "x-tenant", Type: ptrTo(gwv1.HeaderMatchExact), Value: "a"},
			},
			QueryParams: []gwv1.HTTPQueryParamMatch{{Name: "v", Type: ptrTo(gwv1.QueryParamMatchRegularExpression), Value: "[0-9]+"}},
		},
		{Path: &gwv1.HTTPPathMatch{Type: ptrTo(gwv1.PathMatchExact), Value: ptrTo("/healthz")}},
	}
	wantServiceFilters = []gwv1.HTTPRouteFilter{
		{Type: gwv1.HTTPRouteFilterRequestHeaderModifier, RequestHeaderModifier: &gwv1.HTTPHeaderFilter{
			Set:    []gwv1.HTTPHeader{{Name: "x-a", Value: "1"}, {Name: "x-b", Value: "2"}},
			Add:    []gwv1.HTTPHeader{{Name: "x-trace", Value: "on"}},
			Remove: []string{"x-debug"},
		}},
		{Type: gwv1.HTTPRouteFilterResponseHeaderModifier, ResponseHeaderModifier: &gwv1.HTTPHeaderFilter{
			Set: []gwv1.HTTPHeader{{Name: "x-served-by", Value: "podinfo"}},
		}},
		{Type: gwv1.HTTPRouteFilterURLRewrite, URLRewrite: &gwv1.HTTPURLRewriteFilter{
			Hostname: ptrTo(gwv1.PreciseHostname("podinfo.internal")),
			Path:     &gwv1.HTTPPathModifier{Type: gwv1.FullPathHTTPPathModifier, ReplaceFullPath: ptrTo("/v2")},
		}},
	}
)

func serviceRouter(t *testing.T, cs *gatewayfake.Clientset, s gatewayapi.Service) *HTTPRoute {
	t.Helper()
	base, err := NewHTTPRoute(HTTPRouteOptions{Client: cs, Port: 9898})
	require.NoError(t, err)
	r, err := base.WithService(s)
	require.NoError(t, err)
	return r
}

// Every rule matches the service's matches and carries its filters, as in Flagger; a step
// keeps them, and a mirrored step adds its mirror after them.
func TestHTTPRouteWithServiceShape(t *testing.T) {
	cs := gatewayfake.NewSimpleClientset()
	r := serviceRouter(t, cs, gatewayService)
	tg := newTarget()
	require.NoError(t, r.Reconcile(ctx(t), tg))
	hr := getRoute(t, cs, tg)
	require.Len(t, hr.Spec.Rules, 1)
	assert.Equal(t, wantServiceMatches, hr.Spec.Rules[0].Matches)
	assert.Equal(t, wantServiceFilters, hr.Spec.Rules[0].Filters)

	require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(20)))
	hr = getRoute(t, cs, tg)
	assert.Equal(t, wantServiceFilters, hr.Spec.Rules[0].Filters, "a step keeps the service's filters")
	assert.Equal(t, wantServiceMatches, hr.Spec.Rules[0].Matches)
	assert.Equal(t, int32(20), *hr.Spec.Rules[0].BackendRefs[1].Weight)

	tg.Mirror = 100
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.MirrorToCanary()))
	hr = getRoute(t, cs, tg)
	require.Len(t, hr.Spec.Rules[0].Filters, 4)
	assert.Equal(t, wantServiceFilters, hr.Spec.Rules[0].Filters[:3], "the service's filters first")
	assert.Equal(t, gwv1.HTTPRouteFilterRequestMirror, hr.Spec.Rules[0].Filters[3].Type, "then the mirror")
	w, err := r.Weights(ctx(t), tg)
	require.NoError(t, err)
	assert.Equal(t, canary.MirrorToCanary(), w)
	w, err = r.ReconcileWeights(ctx(t), tg)
	require.NoError(t, err)
	assert.Equal(t, canary.MirrorToCanary(), w, "the mirrored route is the router's shape")

	require.NoError(t, r.SetWeights(ctx(t), tg, canary.AllPrimary()))
	hr = getRoute(t, cs, tg)
	assert.Equal(t, wantServiceFilters, hr.Spec.Rules[0].Filters, "the mirror goes, the service's filters stay")
}

// With A/B testing, the canary's rule merges each analysis condition into each service match
// (the analysis' headers in place of the service's, as Flagger merges them), and the
// primary's rule matches the service's matches; both carry the service's filters.
func TestHTTPRouteWithServiceMergesABMatches(t *testing.T) {
	cs := gatewayfake.NewSimpleClientset()
	r := serviceRouter(t, cs, gatewayService)
	tg := newTarget()
	tg.Match = []canary.Match{{Headers: map[string]canary.StringMatch{"x-canary": {Exact: "insider"}}}}
	require.NoError(t, r.Reconcile(ctx(t), tg))
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(100)))
	hr := getRoute(t, cs, tg)
	require.Len(t, hr.Spec.Rules, 2)
	abHeaders := []gwv1.HTTPHeaderMatch{{Name: "x-canary", Type: ptrTo(gwv1.HeaderMatchExact), Value: "insider"}}
	want := []gwv1.HTTPRouteMatch{*wantServiceMatches[0].DeepCopy(), *wantServiceMatches[1].DeepCopy()}
	want[0].Headers, want[1].Headers = abHeaders, abHeaders
	assert.Equal(t, want, hr.Spec.Rules[0].Matches, "the A/B rule")
	assert.Equal(t, wantServiceMatches, hr.Spec.Rules[1].Matches, "the primary's rule")
	for i, rule := range hr.Spec.Rules {
		assert.Equal(t, wantServiceFilters, rule.Filters, "rule %d", i)
	}
	assert.Equal(t, int32(100), *hr.Spec.Rules[0].BackendRefs[1].Weight)

	// more A/B conditions than a rule can hold once merged: refused before any write
	tg2 := newTarget()
	for range 33 {
		tg2.Match = append(tg2.Match, canary.Match{Headers: map[string]canary.StringMatch{"x-canary": {Exact: "insider"}}})
	}
	err := r.Reconcile(ctx(t), tg2)
	require.Error(t, err)
	assert.True(t, canary.IsPermanent(err), "%v", err)
	assert.Contains(t, err.Error(), "33 A/B match conditions times the service's 2 make 66")
	_, err = cs.GatewayV1().HTTPRoutes(tg2.Namespace).Get(ctx(t), tg2.ApexService(), metav1.GetOptions{})
	assert.True(t, objectMissing(err), "nothing written: %v", err)
}

// A route whose service filters or matches were edited away is reshaped at Reconcile, and one
// with the router's shape is only read.
func TestHTTPRouteWithServiceDrift(t *testing.T) {
	cs := gatewayfake.NewSimpleClientset()
	r := serviceRouter(t, cs, gatewayService)
	tg := newTarget()
	require.NoError(t, r.Reconcile(ctx(t), tg))
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(30)))
	hr := getRoute(t, cs, tg)
	hr.Spec.Rules[0].Filters = nil
	hr.Spec.Rules[0].Matches = []gwv1.HTTPRouteMatch{{Path: pathPrefix("/")}}
	_, err := cs.GatewayV1().HTTPRoutes(tg.Namespace).Update(ctx(t), hr, metav1.UpdateOptions{})
	require.NoError(t, err)

	w, err := r.ReconcileWeights(ctx(t), tg)
	require.NoError(t, err)
	assert.Equal(t, canary.CanaryWeight(30), w, "the weights are kept")
	hr = getRoute(t, cs, tg)
	assert.Equal(t, wantServiceMatches, hr.Spec.Rules[0].Matches)
	assert.Equal(t, wantServiceFilters, hr.Spec.Rules[0].Filters)

	cs.ClearActions()
	require.NoError(t, r.Reconcile(ctx(t), tg))
	for _, a := range cs.Actions() {
		assert.Equal(t, "get", a.GetVerb(), "a route of the router's shape is only read")
	}

	// a router without the service fields takes them off again
	plain, err := NewHTTPRoute(HTTPRouteOptions{Client: cs, Port: 9898})
	require.NoError(t, err)
	require.NoError(t, plain.Reconcile(ctx(t), tg))
	hr = getRoute(t, cs, tg)
	assert.Equal(t, []gwv1.HTTPRouteMatch{{Path: pathPrefix("/")}}, hr.Spec.Rules[0].Matches)
	assert.Empty(t, hr.Spec.Rules[0].Filters)
}

// ReplacePrefixMatch writes a prefix rewrite; what Gateway API cannot express is refused with
// its path, before any request.
func TestHTTPRouteWithServiceRewriteAndRefusals(t *testing.T) {
	cs := gatewayfake.NewSimpleClientset()
	r := serviceRouter(t, cs, gatewayapi.Service{
		Match:       []istioapi.HTTPMatchRequest{{URI: &istioapi.StringMatch{Prefix: "/old"}}},
		Rewrite:     &istioapi.HTTPRewrite{URI: "/new"},
		RewriteType: gatewayapi.ReplacePrefixMatch,
	})
	tg := newTarget()
	require.NoError(t, r.Reconcile(ctx(t), tg))
	hr := getRoute(t, cs, tg)
	assert.Equal(t, []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterURLRewrite, URLRewrite: &gwv1.HTTPURLRewriteFilter{
		Path: &gwv1.HTTPPathModifier{Type: gwv1.PrefixMatchHTTPPathModifier, ReplacePrefixMatch: ptrTo("/new")}}}}, hr.Spec.Rules[0].Filters)

	base, err := NewHTTPRoute(HTTPRouteOptions{Client: cs, Port: 9898})
	require.NoError(t, err)
	before := len(cs.Actions())
	for _, c := range []struct {
		s    gatewayapi.Service
		want string
	}{
		{gatewayapi.Service{Match: []istioapi.HTTPMatchRequest{{Authority: &istioapi.StringMatch{Exact: "a.example"}}}}, "match[0].authority: Gateway API's HTTPRouteMatch has no authority"},
		{gatewayapi.Service{Match: []istioapi.HTTPMatchRequest{{URI: &istioapi.StringMatch{Exact: "api"}}}}, `match[0].uri.exact: "api" is not an absolute path`},
		{gatewayapi.Service{Match: []istioapi.HTTPMatchRequest{{URI: &istioapi.StringMatch{Prefix: "/a/../b"}}}}, `must not contain "/../"`},
		{gatewayapi.Service{Match: []istioapi.HTTPMatchRequest{{Method: &istioapi.StringMatch{Prefix: "G"}}}}, "match[0].method: Gateway API matches one method exactly"},
		{gatewayapi.Service{Match: []istioapi.HTTPMatchRequest{{Headers: map[string]istioapi.StringMatch{"x-a": {}}}}}, "match[0].headers.x-a: set exact, prefix or regex"},
		{gatewayapi.Service{Rewrite: &istioapi.HTTPRewrite{Authority: "*.example.com"}}, "rewrite.authority:"},
		{gatewayapi.Service{Rewrite: &istioapi.HTTPRewrite{URI: "/x"}, RewriteType: "Prefix"}, "rewrite.type: want ReplaceFullPath or ReplacePrefixMatch"},
		{gatewayapi.Service{Headers: &istioapi.Headers{Request: &istioapi.HeaderOperations{Remove: []string{"x-a", "X-A"}}}}, `headers.request.remove: "X-A" is listed twice`},
		// istioapi's checks come first: a regular expression that is not RE2
		{gatewayapi.Service{Match: []istioapi.HTTPMatchRequest{{URI: &istioapi.StringMatch{Regex: "(?=x)"}}}}, "match[0].uri.regex"},
	} {
		_, err := base.WithService(c.s)
		require.Error(t, err, c.want)
		assert.ErrorIs(t, err, canary.ErrInvalidSpec, c.want)
		assert.Contains(t, err.Error(), c.want)
	}
	assert.Len(t, cs.Actions(), before, "the refusals make no request")
}

// At weight 0 with a cookie to expire, session affinity's expiry rule carries its expiring
// Set-Cookie; with the service's response headers too, both are in the rule's one
// ResponseHeaderModifier (Gateway API refuses a header modifier repeated in a rule), with
// the service's request header modifier and rewrite as on every rule.
func TestHTTPRouteWithServiceMergesAffinitysHeaderFilter(t *testing.T) {
	cs := gatewayfake.NewSimpleClientset()
	r := serviceRouter(t, cs, gatewayService)
	tg := affinityTarget(false, "", "canary=ABC")
	require.NoError(t, r.Reconcile(ctx(t), tg))
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.AllPrimary()))
	hr := getRoute(t, cs, tg)
	require.Len(t, hr.Spec.Rules, 2, "the expiry rule, then the weighted rule")
	for i, rule := range hr.Spec.Rules {
		types := map[gwv1.HTTPRouteFilterType]int{}
		for _, f := range rule.Filters {
			types[f.Type]++
		}
		assert.Equal(t, map[gwv1.HTTPRouteFilterType]int{gwv1.HTTPRouteFilterRequestHeaderModifier: 1, gwv1.HTTPRouteFilterResponseHeaderModifier: 1,
			gwv1.HTTPRouteFilterURLRewrite: 1}, types, "rule %d: one filter of each type", i)
	}
	expiry := hr.Spec.Rules[0].Filters[1].ResponseHeaderModifier
	assert.Equal(t, []gwv1.HTTPHeader{{Name: "x-served-by", Value: "podinfo"}}, expiry.Set)
	assert.Equal(t, []gwv1.HTTPHeader{{Name: "Set-Cookie", Value: "canary=ABC; Max-Age=-1"}}, expiry.Add)
	assert.Equal(t, wantServiceFilters, hr.Spec.Rules[1].Filters, "the weighted rule")

	// the rule's header wins where both name one; removals are listed once
	merged := withFilters([]gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestHeaderModifier, RequestHeaderModifier: &gwv1.HTTPHeaderFilter{
		Set: []gwv1.HTTPHeader{{Name: "x-a", Value: "svc"}, {Name: "x-b", Value: "svc"}}, Remove: []string{"x-c"}}}},
		[]gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestHeaderModifier, RequestHeaderModifier: &gwv1.HTTPHeaderFilter{
			Set: []gwv1.HTTPHeader{{Name: "X-A", Value: "rule"}}, Remove: []string{"X-C", "x-d"}}}, {Type: gwv1.HTTPRouteFilterRequestMirror}})
	assert.Equal(t, []gwv1.HTTPRouteFilter{
		{Type: gwv1.HTTPRouteFilterRequestHeaderModifier, RequestHeaderModifier: &gwv1.HTTPHeaderFilter{
			Set: []gwv1.HTTPHeader{{Name: "x-b", Value: "svc"}, {Name: "X-A", Value: "rule"}}, Remove: []string{"x-c", "x-d"}}},
		{Type: gwv1.HTTPRouteFilterRequestMirror},
	}, merged)
}
