package mesh

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayfake "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned/fake"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh/gatewayapi"
	"github.com/canarykit/canarykit/mesh/istioapi"
)

// mirrorCORSService is gatewayService with a Canary's spec.service mirror (one Service in the
// route's namespace, one in another) and corsPolicy.
var mirrorCORSService = func() gatewayapi.Service {
	s := gatewayService
	s.Mirror = []gatewayapi.Mirror{{Name: "shadow", Port: 8080}, {Kind: "Service", Name: "audit", Namespace: "observability", Port: 80}}
	s.CORS = &istioapi.CorsPolicy{AllowOrigin: []string{"https://example.com"}, AllowOrigins: []istioapi.StringMatch{{Exact: "https://*.example.org"}},
		AllowMethods: []string{"GET", "POST"}, AllowHeaders: []string{"x-api-key"}, ExposeHeaders: []string{"x-request-id"},
		MaxAge: istioapi.Duration(24 * time.Hour), AllowCredentials: true}
	return s
}()

// The filters Flagger's Gateway API router writes for mirrorCORSService (makeFilters: header
// modifiers, rewrite, a RequestMirror per mirror entry, the CORS filter from toV1CORSFilter),
// with the defaults the API server sets (a backendRef's group and kind) and the exact
// allowOrigins, which Flagger leaves out.
var wantMirrorCORSFilters = append(append([]gwv1.HTTPRouteFilter{}, wantServiceFilters...),
	gwv1.HTTPRouteFilter{Type: gwv1.HTTPRouteFilterRequestMirror, RequestMirror: &gwv1.HTTPRequestMirrorFilter{BackendRef: gwv1.BackendObjectReference{
		Group: ptrTo(gwv1.Group("")), Kind: ptrTo(gwv1.Kind("Service")), Name: "shadow", Port: ptrTo(gwv1.PortNumber(8080))}}},
	gwv1.HTTPRouteFilter{Type: gwv1.HTTPRouteFilterRequestMirror, RequestMirror: &gwv1.HTTPRequestMirrorFilter{BackendRef: gwv1.BackendObjectReference{
		Group: ptrTo(gwv1.Group("")), Kind: ptrTo(gwv1.Kind("Service")), Namespace: ptrTo(gwv1.Namespace("observability")), Name: "audit", Port: ptrTo(gwv1.PortNumber(80))}}},
	gwv1.HTTPRouteFilter{Type: gwv1.HTTPRouteFilterCORS, CORS: &gwv1.HTTPCORSFilter{
		AllowOrigins:     []gwv1.CORSOrigin{"https://example.com", "https://*.example.org"},
		AllowMethods:     []gwv1.HTTPMethodWithWildcard{"GET", "POST"},
		AllowHeaders:     []gwv1.HTTPHeaderName{"x-api-key"},
		ExposeHeaders:    []gwv1.HTTPHeaderName{"x-request-id"},
		AllowCredentials: ptrTo(true),
		MaxAge:           86400,
	}},
)

// Every rule carries the service's mirrors and CORS filter after its other filters, as in
// Flagger; a step writes them whole in its one patch, a mirrored step adds its own mirror to
// the canary last, and only that one reads back as mirrored.
func TestHTTPRouteWithServiceMirrorAndCORS(t *testing.T) {
	cs := gatewayfake.NewSimpleClientset()
	r := serviceRouter(t, cs, mirrorCORSService)
	assert.Equal(t, mirrorCORSService, r.Service())
	tg := newTarget()
	tg.Mirror = 100
	require.NoError(t, r.Reconcile(ctx(t), tg))
	hr := getRoute(t, cs, tg)
	assert.Equal(t, wantMirrorCORSFilters, hr.Spec.Rules[0].Filters)
	w, err := r.Weights(ctx(t), tg)
	require.NoError(t, err)
	assert.Equal(t, canary.AllPrimary(), w, "the service's mirrors are no mirrored step")

	for _, w := range []canary.Weights{canary.MirrorToCanary(), canary.CanaryWeight(20), canary.AllPrimary()} {
		cs.ClearActions()
		require.NoError(t, r.SetWeights(ctx(t), tg, w))
		require.Len(t, cs.Actions(), 1, "SetWeights(%s) is one request", w)
		assert.Equal(t, "patch", cs.Actions()[0].GetVerb())
		hr = getRoute(t, cs, tg)
		want := wantMirrorCORSFilters
		if w.Mirrored {
			want = append(append([]gwv1.HTTPRouteFilter{}, want...), mirrorFilters(tg, 9898)...)
		}
		assert.Equal(t, want, hr.Spec.Rules[0].Filters, "at %s", w)
		got, err := r.ReconcileWeights(ctx(t), tg)
		require.NoError(t, err)
		assert.Equal(t, w, got, "the route is the router's shape at %s", w)
	}

	// with A/B testing both rules carry them
	ab := newTarget()
	ab.Match = abMatch
	require.NoError(t, r.Reconcile(ctx(t), ab))
	require.NoError(t, r.SetWeights(ctx(t), ab, canary.CanaryWeight(100)))
	hr = getRoute(t, cs, ab)
	require.Len(t, hr.Spec.Rules, 2)
	for i, rule := range hr.Spec.Rules {
		assert.Equal(t, wantMirrorCORSFilters, rule.Filters, "rule %d", i)
	}
}

// A service mirror to a Service named like the canary in another namespace is not the
// mirrored step's; one to the target's own apex, primary or canary Service is refused,
// permanently and before any write.
func TestHTTPRouteServiceMirrorOfTheTargetsServices(t *testing.T) {
	cs := gatewayfake.NewSimpleClientset()
	tg := newTarget()
	elsewhere := gatewayService
	elsewhere.Mirror = []gatewayapi.Mirror{{Name: tg.CanaryService(), Namespace: "other", Port: 9898}}
	r := serviceRouter(t, cs, elsewhere)
	require.NoError(t, r.Reconcile(ctx(t), tg))
	w, err := r.Weights(ctx(t), tg)
	require.NoError(t, err)
	assert.Equal(t, canary.AllPrimary(), w)

	for _, name := range []func(canary.Target) string{canary.Target.ApexService, canary.Target.PrimaryService, canary.Target.CanaryService} {
		for _, ns := range []string{"", tg.Namespace} {
			fresh := newTarget()
			s := gatewayService
			s.Mirror = []gatewayapi.Mirror{{Name: name(fresh), Namespace: ns, Port: 9898}}
			r := serviceRouter(t, cs, s)
			cs.ClearActions()
			err := r.Reconcile(ctx(t), fresh)
			require.Error(t, err, s.Mirror[0].Name)
			assert.True(t, canary.IsPermanent(err), "%v", err)
			assert.ErrorIs(t, err, canary.ErrInvalidSpec)
			assert.Contains(t, err.Error(), "mirror[0].backendRef.name: \""+s.Mirror[0].Name+"\" is one of the Services the canary routes between")
			err = r.SetWeights(ctx(t), fresh, canary.CanaryWeight(10))
			require.Error(t, err)
			assert.True(t, canary.IsPermanent(err), "%v", err)
			assert.Empty(t, cs.Actions(), "refused before any request")
		}
	}
	_, err = cs.GatewayV1().HTTPRoutes(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
}

// What a RequestMirror or CORS filter cannot carry is refused by WithService, at its path.
func TestHTTPRouteWithServiceMirrorAndCORSRefusals(t *testing.T) {
	base, err := NewHTTPRoute(HTTPRouteOptions{Client: gatewayfake.NewSimpleClientset(), Port: 9898})
	require.NoError(t, err)
	for _, c := range []struct {
		s    gatewayapi.Service
		want string
	}{
		{gatewayapi.Service{Mirror: []gatewayapi.Mirror{{Kind: "Backend", Name: "s", Port: 1}}}, "mirror[0].backendRef.kind:"},
		{gatewayapi.Service{CORS: &istioapi.CorsPolicy{AllowOrigins: []istioapi.StringMatch{{Regex: "https://.*"}}}}, "corsPolicy.allowOrigins[0]: Gateway API's CORS filter takes origins"},
		// istioapi's checks come first
		{gatewayapi.Service{CORS: &istioapi.CorsPolicy{AllowMethods: []string{"FETCH"}}}, "corsPolicy.allowMethods[0]: must be one of"},
	} {
		_, err := base.WithService(c.s)
		require.Error(t, err, c.want)
		assert.ErrorIs(t, err, canary.ErrInvalidSpec, c.want)
		assert.Contains(t, err.Error(), c.want)
	}
}
