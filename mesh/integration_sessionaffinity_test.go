package mesh_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/mesh"
)

// withAffinity is tg with session affinity, every Set-Cookie attribute, a primary cookie, and
// the cookies given.
func withAffinity(tg canary.Target, cookie, previous string) canary.Target {
	tg.Affinity = &canary.Affinity{SessionAffinity: canary.SessionAffinity{CookieName: "flagger-cookie", PrimaryCookieName: "flagger-primary",
		MaxAge: time.Hour, Domain: "example.com", Path: "/", SameSite: "Lax", HTTPOnly: true, Partitioned: true, Secure: true},
		PrimaryMaxAge: 30 * time.Second, Cookie: cookie, PrimaryCookie: "flagger-primary=PRIMARYVALUE", PreviousCookie: previous}
	return tg
}

const (
	releaseCookie = "flagger-cookie=RELEASEVALUE"
	cookieRegex   = ".*flagger-cookie.*RELEASEVALUE.*"
	cookieAttrs   = "; Domain=example.com; HttpOnly; Partitioned; Path=/; SameSite=Lax; Secure"
)

func istioHTTPRoutes(t *testing.T, vs *unstructured.Unstructured) []map[string]any {
	t.Helper()
	http, _, err := unstructured.NestedSlice(vs.Object, "spec", "http")
	require.NoError(t, err)
	out := make([]map[string]any, len(http))
	for i, r := range http {
		out[i] = r.(map[string]any)
	}
	return out
}

// Session affinity on Istio's own CRDs (v1, read back at v1beta1 too), under the router's
// RBAC: the schema accepts Flagger's cookie routes (Cookie header regex matches, a
// destination's response header additions, a route's Set-Cookie expiry), each step is one
// patch, the weights read back are the weighted route's, and Reconcile finds the stored
// object equal to its own, so it only reads.
func TestIntegrationIstioSessionAffinity(t *testing.T) {
	b := &istioBed{bed: newBed(t, istioRBAC...)}
	testenv.InstallCRDs(t, b.admin, testenv.IstioCRDs(t)...)
	b.served(t, mesh.IstioGroup, "v1", "v1alpha3", "v1beta1")
	var err error
	b.userDyn, err = dynamic.NewForConfig(b.cfg)
	require.NoError(t, err)
	r := b.router(t, mesh.IstioOptions{Version: "v1"})
	tg := withAffinity(b.target(t), "", "")
	require.NoError(t, r.Reconcile(bg(t), tg))
	onlyReads := func(t *testing.T, tg canary.Target, want canary.Weights) {
		t.Helper()
		counts := b.audit(t, func() {
			w, err := r.ReconcileWeights(bg(t), tg)
			require.NoError(t, err)
			assert.Equal(t, want, w)
		})
		assert.Equal(t, testenv.AuditCounts{
			{User: b.user, Verb: "get", Resource: "virtualservices"}:  1,
			{User: b.user, Verb: "get", Resource: "destinationrules"}: 2,
		}, counts, "the stored routes are the router's: Reconcile only reads")
	}

	tg = withAffinity(tg, releaseCookie, "")
	for _, w := range []int{10, 20} {
		counts := b.audit(t, func() { require.NoError(t, r.SetWeights(bg(t), tg, canary.CanaryWeight(w))) })
		assert.Equal(t, testenv.AuditCounts{{User: b.user, Verb: "patch", Resource: "virtualservices"}: 1}, counts, "one patch per step")
	}
	for _, version := range []string{"v1", "v1beta1"} {
		http := istioHTTPRoutes(t, b.vs(t, version, tg))
		require.Len(t, http, 3, version)
		assert.Equal(t, []any{map[string]any{"headers": map[string]any{"Cookie": map[string]any{"regex": cookieRegex}}}}, http[0]["match"])
		assert.Equal(t, []any{map[string]any{"headers": map[string]any{"Cookie": map[string]any{"regex": ".*flagger-primary.*PRIMARYVALUE.*"}}}}, http[1]["match"])
		dests := http[2]["route"].([]any)
		assert.Equal(t, map[string]any{"response": map[string]any{"add": map[string]any{"Set-Cookie": releaseCookie + "; Max-Age=3600" + cookieAttrs}}},
			dests[1].(map[string]any)["headers"], version)
		assert.Equal(t, map[string]any{"response": map[string]any{"add": map[string]any{"Set-Cookie": "flagger-primary=PRIMARYVALUE; Max-Age=30" + cookieAttrs}}},
			dests[0].(map[string]any)["headers"], version)
	}
	got, err := r.Weights(bg(t), tg)
	require.NoError(t, err)
	assert.Equal(t, canary.CanaryWeight(20), got)
	onlyReads(t, tg, canary.CanaryWeight(20))

	// the promotion's step back to the primary expires the cookie
	tg = withAffinity(tg, "", releaseCookie)
	counts := b.audit(t, func() { require.NoError(t, r.SetWeights(bg(t), tg, canary.AllPrimary())) })
	assert.Equal(t, testenv.AuditCounts{{User: b.user, Verb: "patch", Resource: "virtualservices"}: 1}, counts, "one patch")
	http := istioHTTPRoutes(t, b.vs(t, "v1", tg))
	require.Len(t, http, 2)
	assert.Equal(t, []any{map[string]any{"headers": map[string]any{"Cookie": map[string]any{"regex": cookieRegex}}}}, http[0]["match"])
	assert.Equal(t, map[string]any{"response": map[string]any{"add": map[string]any{"Set-Cookie": releaseCookie + "; Max-Age=-1"}}}, http[0]["headers"])
	assert.NotContains(t, http[1], "match")
	got, err = r.Weights(bg(t), tg)
	require.NoError(t, err)
	assert.Equal(t, canary.AllPrimary(), got)
	onlyReads(t, tg, canary.AllPrimary())
}

// Session affinity on Gateway API's standard CRDs (their CEL rules included), under the
// router's RBAC: the RegularExpression Cookie header matches and the ResponseHeaderModifier
// filters (on backendRefs, and on the expiring rule) are accepted, each step is one patch,
// the weights read back are the weighted rule's, and Reconcile finds the stored route,
// defaults included, equal to its own, so it only reads.
func TestIntegrationHTTPRouteSessionAffinity(t *testing.T) {
	b := newRouteBed(t)
	for _, version := range []string{"v1", "v1beta1"} {
		t.Run(version, func(t *testing.T) {
			r := b.router(t, mesh.HTTPRouteOptions{Port: 9898, Version: version})
			tg := withAffinity(b.target(t), "", "")
			require.NoError(t, r.Reconcile(bg(t), tg))
			onlyReads := func(t *testing.T, tg canary.Target, want canary.Weights) {
				t.Helper()
				counts := b.audit(t, func() {
					w, err := r.ReconcileWeights(bg(t), tg)
					require.NoError(t, err)
					assert.Equal(t, want, w)
				})
				assert.Equal(t, testenv.AuditCounts{{User: b.user, Verb: "get", Resource: "httproutes"}: 1}, counts,
					"the stored route is the router's: Reconcile only reads")
			}
			get := func(t *testing.T) *gwv1.HTTPRoute {
				hr, err := b.gw.GatewayV1().HTTPRoutes(b.ns).Get(bg(t), tg.ApexService(), metav1.GetOptions{})
				require.NoError(t, err)
				return hr
			}
			setCookie := func(v string) []gwv1.HTTPRouteFilter {
				return []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterResponseHeaderModifier,
					ResponseHeaderModifier: &gwv1.HTTPHeaderFilter{Add: []gwv1.HTTPHeader{{Name: "Set-Cookie", Value: v}}}}}
			}

			tg = withAffinity(tg, releaseCookie, "")
			for _, w := range []int{10, 20} {
				counts := b.audit(t, func() { require.NoError(t, r.SetWeights(bg(t), tg, canary.CanaryWeight(w))) })
				assert.Equal(t, testenv.AuditCounts{{User: b.user, Verb: "patch", Resource: "httproutes"}: 1}, counts, "one patch per step")
			}
			rules := get(t).Spec.Rules
			require.Len(t, rules, 3)
			assert.Equal(t, cookieRegex, rules[0].Matches[0].Headers[0].Value)
			assert.Equal(t, gwv1.HeaderMatchRegularExpression, *rules[0].Matches[0].Headers[0].Type)
			assert.Equal(t, int32(100), *rules[0].BackendRefs[1].Weight)
			assert.Equal(t, ".*flagger-primary.*PRIMARYVALUE.*", rules[1].Matches[0].Headers[0].Value)
			assert.Equal(t, setCookie(releaseCookie+"; Max-Age=3600"+cookieAttrs), rules[2].BackendRefs[1].Filters)
			assert.Equal(t, setCookie("flagger-primary=PRIMARYVALUE; Max-Age=30"+cookieAttrs), rules[2].BackendRefs[0].Filters)
			got, err := r.Weights(bg(t), tg)
			require.NoError(t, err)
			assert.Equal(t, canary.CanaryWeight(20), got)
			onlyReads(t, tg, canary.CanaryWeight(20))

			tg = withAffinity(tg, "", releaseCookie)
			counts := b.audit(t, func() { require.NoError(t, r.SetWeights(bg(t), tg, canary.AllPrimary())) })
			assert.Equal(t, testenv.AuditCounts{{User: b.user, Verb: "patch", Resource: "httproutes"}: 1}, counts, "one patch")
			rules = get(t).Spec.Rules
			require.Len(t, rules, 2)
			assert.Equal(t, cookieRegex, rules[0].Matches[0].Headers[0].Value)
			assert.Equal(t, setCookie(releaseCookie+"; Max-Age=-1"), rules[0].Filters)
			assert.Empty(t, rules[1].Filters)
			assert.Empty(t, rules[1].BackendRefs[1].Filters)
			got, err = r.Weights(bg(t), tg)
			require.NoError(t, err)
			assert.Equal(t, canary.AllPrimary(), got)
			onlyReads(t, tg, canary.AllPrimary())
		})
	}
}
