package mesh_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/mesh"
)

// firstHTTPRoute is a stored VirtualService's weighted route.
func firstHTTPRoute(t *testing.T, vs *unstructured.Unstructured) map[string]any {
	t.Helper()
	http, _, err := unstructured.NestedSlice(vs.Object, "spec", "http")
	require.NoError(t, err)
	require.NotEmpty(t, http)
	route, ok := http[0].(map[string]any)
	require.True(t, ok)
	return route
}

// A mirrored step on Istio's own CRDs (v1, read back at v1beta1 too), under the router's RBAC:
// the schema accepts Flagger's mirror and mirrorPercentage (and a mirror's port), the step and
// the step that ends the mirroring are one patch each, the weights read back say whether the
// route mirrors, and Reconcile finds the stored object equal to its own, mirror included, so
// it only reads.
func TestIntegrationIstioMirror(t *testing.T) {
	b := &istioBed{bed: newBed(t, istioRBAC...)}
	testenv.InstallCRDs(t, b.admin, testenv.IstioCRDs(t)...)
	b.served(t, mesh.IstioGroup, "v1", "v1alpha3", "v1beta1")
	var err error
	b.userDyn, err = dynamic.NewForConfig(b.cfg)
	require.NoError(t, err)

	for _, c := range []struct {
		name    string
		pct     int
		port    int32
		mirror  func(tg canary.Target) map[string]any
		percent any
	}{
		{"Percentage", 30, 0, func(tg canary.Target) map[string]any { return map[string]any{"host": tg.CanaryService()} },
			map[string]any{"value": int64(30)}},
		{"EveryRequestWithPort", 100, 9898, func(tg canary.Target) map[string]any {
			return map[string]any{"host": tg.CanaryService(), "port": map[string]any{"number": int64(9898)}}
		}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := b.router(t, mesh.IstioOptions{Version: "v1"})
			if c.port != 0 {
				r, err = r.WithDestinationPort(c.port)
				require.NoError(t, err)
			}
			tg := b.target(t)
			tg.Mirror = c.pct
			require.NoError(t, r.Reconcile(bg(t), tg))

			counts := b.audit(t, func() { require.NoError(t, r.SetWeights(bg(t), tg, canary.MirrorToCanary())) })
			assert.Equal(t, testenv.AuditCounts{{User: b.user, Verb: "patch", Resource: "virtualservices"}: 1}, counts, "the mirrored step is one patch")
			for _, version := range []string{"v1", "v1beta1"} {
				route := firstHTTPRoute(t, b.vs(t, version, tg))
				assert.Equal(t, c.mirror(tg), route["mirror"], version)
				assert.Equal(t, c.percent, route["mirrorPercentage"], version)
			}
			assert.Equal(t, canary.AllPrimary(), b.inspect("v1")(t, tg))
			got, err := r.Weights(bg(t), tg)
			require.NoError(t, err)
			assert.Equal(t, canary.MirrorToCanary(), got)
			counts = b.audit(t, func() {
				w, err := r.ReconcileWeights(bg(t), tg)
				require.NoError(t, err)
				assert.Equal(t, canary.MirrorToCanary(), w)
			})
			assert.Equal(t, testenv.AuditCounts{
				{User: b.user, Verb: "get", Resource: "virtualservices"}:  1,
				{User: b.user, Verb: "get", Resource: "destinationrules"}: 2,
			}, counts, "the stored mirror is the router's: Reconcile only reads")

			counts = b.audit(t, func() { require.NoError(t, r.SetWeights(bg(t), tg, canary.CanaryWeight(10))) })
			assert.Equal(t, testenv.AuditCounts{{User: b.user, Verb: "patch", Resource: "virtualservices"}: 1}, counts, "the next step is one patch")
			route := firstHTTPRoute(t, b.vs(t, "v1", tg))
			assert.NotContains(t, route, "mirror")
			assert.NotContains(t, route, "mirrorPercentage")
			assert.Equal(t, canary.CanaryWeight(10), b.inspect("v1")(t, tg))

			// a reshape (the mirror share changed) writes the whole route, accepted too
			require.NoError(t, r.SetWeights(bg(t), tg, canary.MirrorToCanary()))
			tg.Mirror = 5
			require.NoError(t, r.Reconcile(bg(t), tg))
			assert.Equal(t, map[string]any{"value": int64(5)}, firstHTTPRoute(t, b.vs(t, "v1", tg))["mirrorPercentage"])
			// and the rollback leaves no mirror
			require.NoError(t, r.SetWeights(bg(t), tg, canary.AllPrimary()))
			route = firstHTTPRoute(t, b.vs(t, "v1", tg))
			assert.NotContains(t, route, "mirror")
			assert.NotContains(t, route, "mirrorPercentage")
		})
	}
}

// A mirrored step on Gateway API's standard CRDs (their CEL rules included), under the
// router's RBAC: the RequestMirror filter with percent is accepted (the standard channel's
// CRDs of v1.4 have it), the step and the one after it are one patch each, the weights read
// back say whether the route mirrors, and Reconcile finds the stored route, defaults included,
// equal to its own, so it only reads.
func TestIntegrationHTTPRouteMirror(t *testing.T) {
	b := newRouteBed(t)
	for _, c := range []struct {
		name    string
		pct     int
		version string
		percent *int32
	}{
		{"PercentV1", 30, "v1", ptr.To(int32(30))},
		{"EveryRequestV1beta1", 100, "v1beta1", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, tg := b.router(t, mesh.HTTPRouteOptions{Port: 9898, Version: c.version}), b.target(t)
			tg.Mirror = c.pct
			require.NoError(t, r.Reconcile(bg(t), tg))

			counts := b.audit(t, func() { require.NoError(t, r.SetWeights(bg(t), tg, canary.MirrorToCanary())) })
			assert.Equal(t, testenv.AuditCounts{{User: b.user, Verb: "patch", Resource: "httproutes"}: 1}, counts, "the mirrored step is one patch")
			hr, err := b.gw.GatewayV1().HTTPRoutes(b.ns).Get(bg(t), tg.ApexService(), metav1.GetOptions{})
			require.NoError(t, err)
			require.Len(t, hr.Spec.Rules, 1)
			assert.Equal(t, []gwv1.HTTPRouteFilter{{
				Type: gwv1.HTTPRouteFilterRequestMirror,
				RequestMirror: &gwv1.HTTPRequestMirrorFilter{
					BackendRef: gwv1.BackendObjectReference{Group: ptr.To(gwv1.Group("")), Kind: ptr.To(gwv1.Kind("Service")),
						Name: gwv1.ObjectName(tg.CanaryService()), Port: ptr.To(gwv1.PortNumber(9898))},
					Percent: c.percent,
				},
			}}, hr.Spec.Rules[0].Filters)
			assert.Equal(t, canary.AllPrimary(), b.inspect(t, tg))
			got, err := r.Weights(bg(t), tg)
			require.NoError(t, err)
			assert.Equal(t, canary.MirrorToCanary(), got)
			counts = b.audit(t, func() {
				w, err := r.ReconcileWeights(bg(t), tg)
				require.NoError(t, err)
				assert.Equal(t, canary.MirrorToCanary(), w)
			})
			assert.Equal(t, testenv.AuditCounts{{User: b.user, Verb: "get", Resource: "httproutes"}: 1}, counts,
				"the stored filter, defaults included, is the router's: Reconcile only reads")

			counts = b.audit(t, func() { require.NoError(t, r.SetWeights(bg(t), tg, canary.CanaryWeight(10))) })
			assert.Equal(t, testenv.AuditCounts{{User: b.user, Verb: "patch", Resource: "httproutes"}: 1}, counts, "the next step is one patch")
			hr, err = b.gw.GatewayV1().HTTPRoutes(b.ns).Get(bg(t), tg.ApexService(), metav1.GetOptions{})
			require.NoError(t, err)
			assert.Empty(t, hr.Spec.Rules[0].Filters)
			assert.Equal(t, canary.CanaryWeight(10), b.inspect(t, tg))

			// a reshape (the mirror share changed) writes the whole route, accepted too
			require.NoError(t, r.SetWeights(bg(t), tg, canary.MirrorToCanary()))
			tg.Mirror = 5
			require.NoError(t, r.Reconcile(bg(t), tg))
			hr, err = b.gw.GatewayV1().HTTPRoutes(b.ns).Get(bg(t), tg.ApexService(), metav1.GetOptions{})
			require.NoError(t, err)
			require.Len(t, hr.Spec.Rules[0].Filters, 1)
			assert.Equal(t, ptr.To(int32(5)), hr.Spec.Rules[0].Filters[0].RequestMirror.Percent)
			// and the rollback leaves no mirror
			require.NoError(t, r.SetWeights(bg(t), tg, canary.AllPrimary()))
			hr, err = b.gw.GatewayV1().HTTPRoutes(b.ns).Get(bg(t), tg.ApexService(), metav1.GetOptions{})
			require.NoError(t, err)
			assert.Empty(t, hr.Spec.Rules[0].Filters)
		})
	}
}
