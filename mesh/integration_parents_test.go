package mesh_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh"
	"github.com/canarykit/canarykit/mesh/gatewayapi"
	"github.com/canarykit/canarykit/mesh/meshtest"
)

// A router WithParents on a real API server (Gateway API's CRDs, their CEL validation and
// defaults): the conformance suite with a Gateway and a Service as parents, and the stored
// route is in shape as the API server defaulted it (a second Reconcile writes nothing).
func TestIntegrationHTTPRouteParents(t *testing.T) {
	b := newRouteBed(t)
	base := b.router(t, mesh.HTTPRouteOptions{Port: 80})
	parents := []gwv1.ParentReference{
		{Name: "public", Namespace: ptr.To(gwv1.Namespace(b.ns)), SectionName: ptr.To(gwv1.SectionName("web"))},
		{Group: ptr.To(gwv1.Group("core")), Kind: ptr.To(gwv1.Kind("Service")), Name: "podinfo-apex", Port: ptr.To(gwv1.PortNumber(9898))},
	}
	r, err := base.WithParents(9898, parents...)
	require.NoError(t, err)
	meshtest.Run(t, meshtest.Harness{
		NewRouter:       func(*testing.T) canary.MeshRouter { return r },
		NewTarget:       b.target,
		Inspect:         b.inspect,
		Match:           abMatch,
		Mirror:          true,
		SessionAffinity: true,
	})

	tg := b.target(t)
	require.NoError(t, r.Reconcile(bg(t), tg))
	require.NoError(t, r.SetWeights(bg(t), tg, canary.CanaryWeight(40)))
	stored, err := b.gw.GatewayV1().HTTPRoutes(b.ns).Get(bg(t), tg.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	require.Len(t, stored.Spec.ParentRefs, 2)
	assert.Equal(t, gwv1.Kind("Gateway"), *stored.Spec.ParentRefs[0].Kind)
	assert.Equal(t, gwv1.Group(gatewayapi.Group), *stored.Spec.ParentRefs[0].Group)
	assert.Equal(t, gwv1.SectionName("web"), *stored.Spec.ParentRefs[0].SectionName)
	assert.Equal(t, gwv1.ObjectName("podinfo-apex"), stored.Spec.ParentRefs[1].Name)
	w, err := r.ReconcileWeights(bg(t), tg)
	require.NoError(t, err)
	assert.Equal(t, canary.CanaryWeight(40), w)
	again, err := b.gw.GatewayV1().HTTPRoutes(b.ns).Get(bg(t), tg.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, stored.ResourceVersion, again.ResourceVersion, "the stored route is in shape: nothing rewritten")
}
