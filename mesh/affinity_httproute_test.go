package mesh

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayfake "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned/fake"

	"github.com/canarykit/canarykit/canary"
)

// backendRef is a rule's backendRef as the router writes it at port 9898, with filters.
func backendRef(name string, weight int32, filters ...gwv1.HTTPRouteFilter) gwv1.HTTPBackendRef {
	return gwv1.HTTPBackendRef{BackendRef: gwv1.BackendRef{
		BackendObjectReference: gwv1.BackendObjectReference{Group: ptrTo(gwv1.Group("")), Kind: ptrTo(gwv1.Kind("Service")),
			Name: gwv1.ObjectName(name), Port: ptrTo(gwv1.PortNumber(9898))},
		Weight: ptrTo(weight)}, Filters: filters}
}

// cookieRule is a rule matching a Cookie header by regex, as Flagger writes it (plus the path
// prefix "/" the API server defaults).
func cookieRule(regex string, backends ...gwv1.HTTPBackendRef) gwv1.HTTPRouteRule {
	return gwv1.HTTPRouteRule{
		Matches: []gwv1.HTTPRouteMatch{{Path: pathPrefix("/"), Headers: []gwv1.HTTPHeaderMatch{{
			Type: ptrTo(gwv1.HeaderMatchRegularExpression), Name: "Cookie", Value: regex}}}},
		BackendRefs: backends,
	}
}

func addSetCookie(v string) gwv1.HTTPRouteFilter {
	return gwv1.HTTPRouteFilter{Type: gwv1.HTTPRouteFilterResponseHeaderModifier,
		ResponseHeaderModifier: &gwv1.HTTPHeaderFilter{Add: []gwv1.HTTPHeader{{Name: "Set-Cookie", Value: v}}}}
}

// With canary weight, the HTTPRoute is Flagger's (pkg/router/gateway_api.go
// getSessionAffinityRouteRules): a rule for requests whose Cookie header carries the release's
// cookie, all on the canary; with a primary cookie a rule for it, all on the primary; then the
// weighted rule, whose canary backendRef adds the cookie's Set-Cookie (Max-Age 86400) and whose
// primary backendRef adds the primary cookie's (Max-Age the interval). One JSON patch per
// step; the weights read back are the weighted rule's; Reconcile finds it in shape.
func TestHTTPRouteSessionAffinityWeightedShape(t *testing.T) {
	for _, primary := range []bool{false, true} {
		t.Run(map[bool]string{false: "canary cookie", true: "primary cookie too"}[primary], func(t *testing.T) {
			tg := affinityTarget(primary, "canary=ABC", "")
			cs := gatewayfake.NewSimpleClientset()
			r, err := NewHTTPRoute(HTTPRouteOptions{Client: cs, Port: 9898})
			require.NoError(t, err)
			require.NoError(t, r.Reconcile(ctx(t), tg))

			before := len(cs.Actions())
			require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(10)))
			assert.Equal(t, []string{"patch"}, verbs(&cs.Fake, before), "one request")

			want := []gwv1.HTTPRouteRule{cookieRule(".*canary.*ABC.*", backendRef(tg.PrimaryService(), 0), backendRef(tg.CanaryService(), 100))}
			var primaryFilters []gwv1.HTTPRouteFilter
			if primary {
				want = append(want, cookieRule(".*primary.*DEF.*", backendRef(tg.PrimaryService(), 100), backendRef(tg.CanaryService(), 0)))
				primaryFilters = []gwv1.HTTPRouteFilter{addSetCookie("primary=DEF; Max-Age=30")}
			}
			want = append(want, gwv1.HTTPRouteRule{Matches: []gwv1.HTTPRouteMatch{{Path: pathPrefix("/")}}, BackendRefs: []gwv1.HTTPBackendRef{
				backendRef(tg.PrimaryService(), 90, primaryFilters...),
				backendRef(tg.CanaryService(), 10, addSetCookie("canary=ABC; Max-Age=86400")),
			}})
			assert.Equal(t, want, getRoute(t, cs, tg).Spec.Rules)

			w, err := r.Weights(ctx(t), tg)
			require.NoError(t, err)
			assert.Equal(t, canary.CanaryWeight(10), w)
			before = len(cs.Actions())
			w, err = r.ReconcileWeights(ctx(t), tg)
			require.NoError(t, err)
			assert.Equal(t, canary.CanaryWeight(10), w)
			assert.Equal(t, []string{"get"}, verbs(&cs.Fake, before), "in shape: nothing written")
		})
	}
}

// At weight 0 after a release, a rule for the ending (or previous) cookie sends to the primary
// with the weighted rule's weights and a rule filter adding "<cookie>; Max-Age=-1"; the
// weighted rule follows without any. Before any release, the weighted rule stands alone.
func TestHTTPRouteSessionAffinityExpiresThePreviousCookie(t *testing.T) {
	for name, tg := range map[string]canary.Target{
		"cookie of the release ending": affinityTarget(true, "canary=ABC", ""),
		"previous cookie saved":        affinityTarget(true, "", "canary=ABC"),
	} {
		t.Run(name, func(t *testing.T) {
			cs := gatewayfake.NewSimpleClientset()
			r, err := NewHTTPRoute(HTTPRouteOptions{Client: cs, Port: 9898})
			require.NoError(t, err)
			r, err = r.WithTimeouts("15s", "")
			require.NoError(t, err)
			require.NoError(t, r.Reconcile(ctx(t), tg))
			before := len(cs.Actions())
			require.NoError(t, r.SetWeights(ctx(t), tg, canary.AllPrimary()))
			assert.Equal(t, []string{"patch"}, verbs(&cs.Fake, before), "one request")
			timeouts := &gwv1.HTTPRouteTimeouts{Request: ptrTo(gwv1.Duration("15s"))}
			sticky := cookieRule(".*canary.*ABC.*", backendRef(tg.PrimaryService(), 100), backendRef(tg.CanaryService(), 0))
			sticky.Filters = []gwv1.HTTPRouteFilter{addSetCookie("canary=ABC; Max-Age=-1")}
			sticky.Timeouts = timeouts
			assert.Equal(t, []gwv1.HTTPRouteRule{sticky, {
				Matches:     []gwv1.HTTPRouteMatch{{Path: pathPrefix("/")}},
				BackendRefs: []gwv1.HTTPBackendRef{backendRef(tg.PrimaryService(), 100), backendRef(tg.CanaryService(), 0)},
				Timeouts:    timeouts,
			}}, getRoute(t, cs, tg).Spec.Rules)
			w, err := r.Weights(ctx(t), tg)
			require.NoError(t, err)
			assert.Equal(t, canary.AllPrimary(), w)
		})
	}
	tg := affinityTarget(false, "", "")
	cs := gatewayfake.NewSimpleClientset()
	r, err := NewHTTPRoute(HTTPRouteOptions{Client: cs, Port: 9898})
	require.NoError(t, err)
	require.NoError(t, r.Reconcile(ctx(t), tg))
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.AllPrimary()))
	assert.Len(t, getRoute(t, cs, tg).Spec.Rules, 1)
}

// Reconcile puts back the routes of the status' cookie and removes cookie rules from the route
// of a target without session affinity; bad cookies are refused before any request.
func TestHTTPRouteSessionAffinityDriftAndRefusals(t *testing.T) {
	tg := affinityTarget(false, "canary=ABC", "")
	cs := gatewayfake.NewSimpleClientset()
	r, err := NewHTTPRoute(HTTPRouteOptions{Client: cs, Port: 9898})
	require.NoError(t, err)
	require.NoError(t, r.Reconcile(ctx(t), tg))
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(10)))
	hr := getRoute(t, cs, tg)
	hr.Spec.Rules[0].Matches[0].Headers[0].Value = ".*"
	_, err = cs.GatewayV1().HTTPRoutes(tg.Namespace).Update(ctx(t), hr, metav1.UpdateOptions{})
	require.NoError(t, err)
	w, err := r.ReconcileWeights(ctx(t), tg)
	require.NoError(t, err)
	assert.Equal(t, canary.CanaryWeight(10), w)
	assert.Equal(t, ".*canary.*ABC.*", getRoute(t, cs, tg).Spec.Rules[0].Matches[0].Headers[0].Value)

	plain := tg
	plain.Affinity = nil
	w, err = r.ReconcileWeights(ctx(t), plain)
	require.NoError(t, err)
	assert.Equal(t, canary.CanaryWeight(10), w)
	assert.Len(t, getRoute(t, cs, tg).Spec.Rules, 1)
	assert.Empty(t, getRoute(t, cs, tg).Spec.Rules[0].BackendRefs[1].Filters)

	bad := affinityTarget(false, "canary=A\r\nB", "")
	before := len(cs.Actions())
	err = r.SetWeights(ctx(t), bad, canary.CanaryWeight(10))
	require.ErrorIs(t, err, canary.ErrInvalidSpec)
	assert.Len(t, cs.Actions(), before, "no request")
}
