package mesh_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/mesh"
	"github.com/canarykit/canarykit/mesh/gatewayapi"
	"github.com/canarykit/canarykit/mesh/istioapi"
)

// headersAndRewrite is a Canary's spec.service headers and rewrite: the filters before the
// mirrors.
var headersAndRewrite = gatewayapi.Service{
	Headers: &istioapi.Headers{Request: &istioapi.HeaderOperations{Set: map[string]string{"x-a": "1"}}},
	Rewrite: &istioapi.HTTPRewrite{URI: "/v2"},
}

// serviceMirrors are a Canary's spec.service.mirror entries: a Service in the route's
// namespace and one in another (which a ReferenceGrant there would let a controller resolve).
var serviceMirrors = []gatewayapi.Mirror{{Name: "shadow", Port: 8080}, {Kind: "Service", Name: "audit", Namespace: "observability", Port: 80}}

// corsPolicy is a Canary's spec.service.corsPolicy that a CORS filter carries.
var corsPolicy = &istioapi.CorsPolicy{AllowOrigin: []string{"https://example.com"}, AllowOrigins: []istioapi.StringMatch{{Exact: "https://*.example.org:8443"}},
	AllowMethods: []string{"GET", "POST"}, AllowHeaders: []string{"x-api-key"}, ExposeHeaders: []string{"x-request-id"},
	MaxAge: istioapi.Duration(24 * time.Hour), AllowCredentials: true}

// stepsKeepServiceFilters takes r through a mirrored step and two weights at version: each is
// one patch, after which Reconcile only reads the route (the stored route, defaults included,
// is the router's), and the weighted rule carries the service's filters (want types, in
// order) and, in the mirrored step only, the step's mirror to the canary last.
func stepsKeepServiceFilters(t *testing.T, b *routeBed, version string, s gatewayapi.Service, want []gwv1.HTTPRouteFilterType) {
	r, err := b.router(t, mesh.HTTPRouteOptions{Port: 9898, Version: version}).WithService(s)
	require.NoError(t, err)
	tg := b.target(t)
	tg.Mirror = 100
	require.NoError(t, r.Reconcile(bg(t), tg))
	onePatch := testenv.AuditCounts{{User: b.user, Verb: "patch", Resource: "httproutes"}: 1}
	oneGet := testenv.AuditCounts{{User: b.user, Verb: "get", Resource: "httproutes"}: 1}
	for _, w := range []canary.Weights{canary.MirrorToCanary(), canary.CanaryWeight(10), canary.CanaryWeight(30)} {
		counts := b.audit(t, func() { require.NoError(t, r.SetWeights(bg(t), tg, w)) })
		assert.Equal(t, onePatch, counts, "SetWeights(%s) costs one request", w)
		hr, err := b.gw.GatewayV1().HTTPRoutes(b.ns).Get(bg(t), tg.ApexService(), metav1.GetOptions{})
		require.NoError(t, err)
		var types []gwv1.HTTPRouteFilterType
		for _, f := range hr.Spec.Rules[0].Filters {
			types = append(types, f.Type)
		}
		wantTypes := want
		if w.Mirrored {
			wantTypes = append(append([]gwv1.HTTPRouteFilterType{}, want...), gwv1.HTTPRouteFilterRequestMirror)
			assert.Equal(t, gwv1.ObjectName(tg.CanaryService()), hr.Spec.Rules[0].Filters[len(want)].RequestMirror.BackendRef.Name)
		}
		assert.Equal(t, wantTypes, types, "at %s", w)
		counts = b.audit(t, func() {
			got, err := r.ReconcileWeights(bg(t), tg)
			require.NoError(t, err)
			assert.Equal(t, w, got)
		})
		assert.Equal(t, oneGet, counts, "after SetWeights(%s) Reconcile only reads", w)
	}
}

// A Canary's spec.service.mirror on Gateway API's standard-channel HTTPRoute CRDs (v1.4.1,
// CEL included), at v1 and v1beta1: each entry a RequestMirror filter on the rule beside the
// other service filters and a mirrored step's own mirror, a step one patch. The standard
// channel has no CORS filter: a route with spec.service.corsPolicy is refused by the API
// server, and the router says which channel it needs.
func TestIntegrationHTTPRouteServiceMirrorStandardChannel(t *testing.T) {
	b := newRouteBed(t)
	s := headersAndRewrite
	s.Mirror = serviceMirrors
	for _, version := range []string{"v1", "v1beta1"} {
		t.Run(version, func(t *testing.T) {
			stepsKeepServiceFilters(t, b, version, s, []gwv1.HTTPRouteFilterType{gwv1.HTTPRouteFilterRequestHeaderModifier,
				gwv1.HTTPRouteFilterURLRewrite, gwv1.HTTPRouteFilterRequestMirror, gwv1.HTTPRouteFilterRequestMirror})
		})
	}
	t.Run("CORSRefused", func(t *testing.T) {
		s.CORS = corsPolicy
		r, err := b.router(t, mesh.HTTPRouteOptions{Port: 9898}).WithService(s)
		require.NoError(t, err)
		tg := b.target(t)
		// the preflight (a dry run) is refused alike, and stores nothing
		for _, call := range []func() error{func() error { return r.PreflightRoute(bg(t), tg) }, func() error { return r.Reconcile(bg(t), tg) }} {
			err = call()
			require.Error(t, err)
			assert.True(t, canary.IsPermanent(err), "%v", err)
			assert.Contains(t, err.Error(), "the HTTPRoute CRD refuses the CORS filter (a Canary's spec.service.corsPolicy): Gateway API's standard channel has none")
			assert.Contains(t, err.Error(), `Unsupported value: "CORS"`, "the API server's own words")
			_, err = b.gw.GatewayV1().HTTPRoutes(b.ns).Get(bg(t), tg.ApexService(), metav1.GetOptions{})
			assert.True(t, apierrors.IsNotFound(err), "no route: %v", err)
		}
	})
}

// spec.service.corsPolicy and mirror on Gateway API's experimental-channel HTTPRoute CRD of
// the same release, on a bed of the test's own: the API server accepts the CORS filter as
// canarykit maps it (origins, methods, headers, maxAge, allowCredentials) at v1 and v1beta1,
// with the mirrors and a mirrored step's own, each step one patch.
func TestIntegrationHTTPRouteServiceCORSExperimentalChannel(t *testing.T) {
	b := newExperimentalRouteBed(t)
	s := headersAndRewrite
	s.Mirror, s.CORS = serviceMirrors, corsPolicy
	for _, version := range []string{"v1", "v1beta1"} {
		t.Run(version, func(t *testing.T) {
			stepsKeepServiceFilters(t, b, version, s, []gwv1.HTTPRouteFilterType{gwv1.HTTPRouteFilterRequestHeaderModifier,
				gwv1.HTTPRouteFilterURLRewrite, gwv1.HTTPRouteFilterRequestMirror, gwv1.HTTPRouteFilterRequestMirror, gwv1.HTTPRouteFilterCORS})
		})
	}
	t.Run("Stored", func(t *testing.T) {
		r, err := b.router(t, mesh.HTTPRouteOptions{Port: 9898}).WithService(s)
		require.NoError(t, err)
		tg := b.target(t)
		require.NoError(t, r.PreflightRoute(bg(t), tg), "the experimental channel's CRD accepts the route")
		_, err = b.gw.GatewayV1().HTTPRoutes(b.ns).Get(bg(t), tg.ApexService(), metav1.GetOptions{})
		require.True(t, apierrors.IsNotFound(err), "the preflight stores nothing: %v", err)
		require.NoError(t, r.Reconcile(bg(t), tg))
		hr, err := b.gw.GatewayV1().HTTPRoutes(b.ns).Get(bg(t), tg.ApexService(), metav1.GetOptions{})
		require.NoError(t, err)
		f := hr.Spec.Rules[0].Filters
		require.Len(t, f, 5)
		assert.Equal(t, &gwv1.HTTPCORSFilter{AllowOrigins: []gwv1.CORSOrigin{"https://example.com", "https://*.example.org:8443"},
			AllowMethods: []gwv1.HTTPMethodWithWildcard{"GET", "POST"}, AllowHeaders: []gwv1.HTTPHeaderName{"x-api-key"},
			ExposeHeaders: []gwv1.HTTPHeaderName{"x-request-id"}, AllowCredentials: ptr.To(true), MaxAge: 86400}, f[4].CORS)
		assert.Equal(t, gwv1.Namespace("observability"), *f[3].RequestMirror.BackendRef.Namespace)

		// without maxAge the API server's default, 5 s, is what the router writes: the stored
		// route is its own
		noAge := s
		noAge.CORS = &istioapi.CorsPolicy{AllowOrigin: []string{"*"}}
		r, err = b.router(t, mesh.HTTPRouteOptions{Port: 9898}).WithService(noAge)
		require.NoError(t, err)
		tg = b.target(t)
		require.NoError(t, r.Reconcile(bg(t), tg))
		counts := b.audit(t, func() { require.NoError(t, r.Reconcile(bg(t), tg)) })
		assert.Equal(t, testenv.AuditCounts{{User: b.user, Verb: "get", Resource: "httproutes"}: 1}, counts)
	})
}
