package mesh_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/mesh"
	"github.com/canarykit/canarykit/mesh/gatewayapi"
	"github.com/canarykit/canarykit/mesh/istioapi"
	"github.com/canarykit/canarykit/mesh/meshtest"
)

// A Canary's spec.service match, headers and rewrite on Gateway API's own HTTPRoute CRDs
// (v1.4.1, CEL validation included), under the router's RBAC: the API server accepts the
// rules' matches and filters as Flagger writes them (with A/B testing, a mirrored step, a
// prefix rewrite), a step is one patch that keeps them, Reconcile finds the stored route equal
// to its own and only reads it, and the conformance suite passes.
func TestIntegrationHTTPRouteService(t *testing.T) {
	b := newRouteBed(t)
	svc := gatewayapi.Service{
		Match: []istioapi.HTTPMatchRequest{
			{URI: &istioapi.StringMatch{Prefix: "/api"}, Method: &istioapi.StringMatch{Exact: "GET"},
				Headers:     map[string]istioapi.StringMatch{"x-tenant": {Exact: "a"}, "accept": {Prefix: "application/json"}},
				QueryParams: map[string]istioapi.StringMatch{"v": {Regex: "[0-9]+"}}},
			{URI: &istioapi.StringMatch{Regex: "/v[0-9]+/.*"}},
			{URI: &istioapi.StringMatch{Exact: "/healthz"}},
		},
		Headers: &istioapi.Headers{
			Request:  &istioapi.HeaderOperations{Set: map[string]string{"x-a": "1"}, Add: map[string]string{"x-trace": "on"}, Remove: []string{"x-debug"}},
			Response: &istioapi.HeaderOperations{Set: map[string]string{"x-served-by": "podinfo"}},
		},
		Rewrite: &istioapi.HTTPRewrite{URI: "/", Authority: "podinfo.internal"},
	}
	router := func(t *testing.T, version string, s gatewayapi.Service) *mesh.HTTPRoute {
		t.Helper()
		r, err := b.router(t, mesh.HTTPRouteOptions{Port: 9898, Version: version}).WithService(s)
		require.NoError(t, err)
		return r
	}
	stored := func(t *testing.T, tg canary.Target) *gwv1.HTTPRoute {
		t.Helper()
		hr, err := b.gw.GatewayV1().HTTPRoutes(b.ns).Get(bg(t), tg.ApexService(), metav1.GetOptions{})
		require.NoError(t, err)
		return hr
	}
	onePatch := testenv.AuditCounts{{User: b.user, Verb: "patch", Resource: "httproutes"}: 1}
	oneGet := testenv.AuditCounts{{User: b.user, Verb: "get", Resource: "httproutes"}: 1}

	for _, version := range []string{"v1", "v1beta1"} {
		t.Run("Steps"+version, func(t *testing.T) {
			r, tg := router(t, version, svc), b.target(t)
			tg.Mirror = 100
			require.NoError(t, r.Reconcile(bg(t), tg))
			hr := stored(t, tg)
			require.Len(t, hr.Spec.Rules, 1)
			assert.Len(t, hr.Spec.Rules[0].Matches, 3)
			assert.Len(t, hr.Spec.Rules[0].Filters, 3, "request and response header modifiers, the rewrite")
			for _, w := range []canary.Weights{canary.MirrorToCanary(), canary.CanaryWeight(10), canary.CanaryWeight(20)} {
				counts := b.audit(t, func() { require.NoError(t, r.SetWeights(bg(t), tg, w)) })
				assert.Equal(t, onePatch, counts, "SetWeights(%s) costs one request", w)
				assert.Equal(t, w.Canary, b.inspect(t, tg).Canary)
				counts = b.audit(t, func() {
					got, err := r.ReconcileWeights(bg(t), tg)
					require.NoError(t, err)
					assert.Equal(t, w, got)
				})
				assert.Equal(t, oneGet, counts, "after SetWeights(%s) the stored route is the router's, defaults included: Reconcile only reads", w)
			}
			hr = stored(t, tg)
			assert.Len(t, hr.Spec.Rules[0].Filters, 3, "the service's filters stay, the mirror is gone")
			assert.Equal(t, gwv1.HTTPRouteFilterURLRewrite, hr.Spec.Rules[0].Filters[2].Type)
		})
	}

	t.Run("ABTesting", func(t *testing.T) {
		r, tg := router(t, "v1", svc), b.target(t)
		tg.Match = abMatch
		require.NoError(t, r.Reconcile(bg(t), tg))
		counts := b.audit(t, func() { require.NoError(t, r.SetWeights(bg(t), tg, canary.CanaryWeight(100))) })
		assert.Equal(t, onePatch, counts)
		hr := stored(t, tg)
		require.Len(t, hr.Spec.Rules, 2)
		assert.Len(t, hr.Spec.Rules[0].Matches, len(abMatch)*len(svc.Match), "each A/B condition in each service match")
		assert.Len(t, hr.Spec.Rules[1].Matches, len(svc.Match))
		assert.Len(t, hr.Spec.Rules[1].Filters, 3)
		counts = b.audit(t, func() { require.NoError(t, r.Reconcile(bg(t), tg)) })
		assert.Equal(t, oneGet, counts)
	})

	t.Run("PrefixRewrite", func(t *testing.T) {
		r, tg := router(t, "v1", gatewayapi.Service{Match: []istioapi.HTTPMatchRequest{{URI: &istioapi.StringMatch{Prefix: "/old"}}},
			Rewrite: &istioapi.HTTPRewrite{URI: "/new"}, RewriteType: gatewayapi.ReplacePrefixMatch}), b.target(t)
		require.NoError(t, r.Reconcile(bg(t), tg))
		require.NoError(t, r.SetWeights(bg(t), tg, canary.CanaryWeight(50)))
		hr := stored(t, tg)
		require.Len(t, hr.Spec.Rules[0].Filters, 1)
		assert.Equal(t, gwv1.PrefixMatchHTTPPathModifier, hr.Spec.Rules[0].Filters[0].URLRewrite.Path.Type)
		assert.Equal(t, "/new", *hr.Spec.Rules[0].Filters[0].URLRewrite.Path.ReplacePrefixMatch)
	})

	t.Run("Conformance", func(t *testing.T) {
		meshtest.Run(t, meshtest.Harness{
			NewRouter:       func(t *testing.T) canary.MeshRouter { return router(t, "", svc) },
			NewTarget:       b.target,
			Inspect:         b.inspect,
			Match:           abMatch,
			Mirror:          true,
			SessionAffinity: true,
		})
	})
}
