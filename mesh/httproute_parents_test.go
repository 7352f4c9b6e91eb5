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
)

// A router WithParents attaches its targets' routes to the given Gateway and Service parents
// (defaults filled in as the API server would), while the router it came from keeps attaching
// to the apex Service: parents are per target, clients are shared.
func TestHTTPRouteWithParents(t *testing.T) {
	cs := gatewayfake.NewSimpleClientset()
	base, err := NewHTTPRoute(HTTPRouteOptions{Client: cs, Port: 80})
	require.NoError(t, err)
	gw := gwv1.ParentReference{Name: "public", Namespace: ptrTo(gwv1.Namespace("gateways")), SectionName: ptrTo(gwv1.SectionName("web"))}
	svc := gwv1.ParentReference{Group: ptrTo(gwv1.Group("core")), Kind: ptrTo(gwv1.Kind("Service")), Name: "podinfo", Port: ptrTo(gwv1.PortNumber(9898))}
	r, err := base.WithParents(9898, gw, svc)
	require.NoError(t, err)

	tg, other := newTarget(), newTarget()
	require.NoError(t, r.Reconcile(ctx(t), tg))
	require.NoError(t, base.Reconcile(ctx(t), other))
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(20)))

	hr, err := cs.GatewayV1().HTTPRoutes(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	wantGW := gw
	wantGW.Group, wantGW.Kind = ptrTo(gwv1.Group(gatewayapi.Group)), ptrTo(gwv1.Kind("Gateway"))
	assert.Equal(t, []gwv1.ParentReference{wantGW, svc}, hr.Spec.ParentRefs)
	assert.Equal(t, gwv1.PortNumber(9898), *hr.Spec.Rules[0].BackendRefs[0].Port, "the backends use the target's port")
	assert.Equal(t, canary.CanaryWeight(20), routeInspect(cs)(t, tg))
	assert.Nil(t, gw.Group, "the caller's parent is not changed")

	hr, err = cs.GatewayV1().HTTPRoutes(other.Namespace).Get(ctx(t), other.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	require.Len(t, hr.Spec.ParentRefs, 1)
	assert.Equal(t, gwv1.ObjectName(other.ApexService()), hr.Spec.ParentRefs[0].Name, "the shared router still uses the apex Service")
	assert.Equal(t, gwv1.PortNumber(80), *hr.Spec.ParentRefs[0].Port)

	// a route attached to the apex Service is moved to the new parents, weights kept
	moved, err := base.WithParents(0, gw)
	require.NoError(t, err)
	require.NoError(t, moved.Reconcile(ctx(t), other))
	hr, err = cs.GatewayV1().HTTPRoutes(other.Namespace).Get(ctx(t), other.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, []gwv1.ParentReference{wantGW}, hr.Spec.ParentRefs)
	assert.Equal(t, gwv1.PortNumber(80), *hr.Spec.Rules[0].BackendRefs[0].Port, "port 0 keeps the router's")

	_, err = base.WithParents(-1, gwv1.ParentReference{}, gwv1.ParentReference{Name: "x", Port: ptrTo(gwv1.PortNumber(0))})
	require.Error(t, err)
	assert.ErrorContains(t, err, "port -1 is not a port number")
	assert.ErrorContains(t, err, "parents[0].name is required")
	assert.ErrorContains(t, err, "parents[1].port 0 is not a port number")
}

// A Gateway parent that does not accept the route stops the release; the same condition for
// a parent the router did not set is someone else's business.
func TestRouteRejectedByAGatewayParent(t *testing.T) {
	tg := newTarget()
	gw := gwv1.ParentReference{Group: ptrTo(gwv1.Group(gatewayapi.Group)), Kind: ptrTo(gwv1.Kind("Gateway")), Name: "public"}
	status := func(ref gwv1.ParentReference) *gwv1.HTTPRoute {
		return &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: tg.ApexService(), Namespace: tg.Namespace, Generation: 1},
			Status: gwv1.HTTPRouteStatus{RouteStatus: gwv1.RouteStatus{Parents: []gwv1.RouteParentStatus{{
				ParentRef: ref, ControllerName: "example.com/gateway",
				Conditions: []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionFalse, ObservedGeneration: 1, Reason: "NotAllowedByListeners"}},
			}}}}}
	}
	err := routeRejected(status(gwv1.ParentReference{Name: "public"}), tg, []gwv1.ParentReference{gw})
	require.ErrorIs(t, err, ErrRouteRejected)
	assert.ErrorContains(t, err, "parent Gateway public (NotAllowedByListeners")
	assert.NoError(t, routeRejected(status(gwv1.ParentReference{Name: "internal"}), tg, []gwv1.ParentReference{gw}))
	assert.NoError(t, routeRejected(status(gwv1.ParentReference{Name: "public", Namespace: ptrTo(gwv1.Namespace("elsewhere"))}), tg,
		[]gwv1.ParentReference{gw}), "same name in another namespace")
}

// A pinned version is used without discovery; an unknown one is refused.
func TestHTTPRoutePinnedVersion(t *testing.T) {
	cs := gatewayfake.NewSimpleClientset()
	r, err := NewHTTPRoute(HTTPRouteOptions{Client: cs, Port: 80, Version: "v1beta1"})
	require.NoError(t, err)
	v, err := r.APIVersion(ctx(t))
	require.NoError(t, err)
	assert.Equal(t, gatewayapi.Group+"/v1beta1", v)
	tg := newTarget()
	require.NoError(t, r.Reconcile(ctx(t), tg))
	_, err = cs.GatewayV1beta1().HTTPRoutes(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	_, err = NewHTTPRoute(HTTPRouteOptions{Client: cs, Port: 80, Version: "v2"})
	assert.ErrorContains(t, err, `Version "v2" is not v1 or v1beta1`)
}

// A router WithHostnames writes them on its targets' routes (a route made without them gets
// them at the next Reconcile, weights kept); a hostname Gateway API would refuse is an error.
func TestHTTPRouteWithHostnames(t *testing.T) {
	cs := gatewayfake.NewSimpleClientset()
	base, err := NewHTTPRoute(HTTPRouteOptions{Client: cs, Port: 80})
	require.NoError(t, err)
	tg := newTarget()
	require.NoError(t, base.Reconcile(ctx(t), tg))
	require.NoError(t, base.SetWeights(ctx(t), tg, canary.CanaryWeight(30)))

	r, err := base.WithHostnames("app.example.com", "*.example.org")
	require.NoError(t, err)
	require.NoError(t, r.Reconcile(ctx(t), tg))
	hr, err := cs.GatewayV1().HTTPRoutes(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, []gwv1.Hostname{"app.example.com", "*.example.org"}, hr.Spec.Hostnames)
	assert.Equal(t, canary.CanaryWeight(30), routeInspect(cs)(t, tg), "the weights are kept")

	// and without them again, the hostnames are removed
	require.NoError(t, base.Reconcile(ctx(t), tg))
	hr, err = cs.GatewayV1().HTTPRoutes(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Empty(t, hr.Spec.Hostnames)

	_, err = base.WithHostnames("*", "10.0.0.1", "Upper.example.com", "a.example.com", "a.example.com")
	require.Error(t, err)
	assert.ErrorContains(t, err, `hostnames[0]: "*" is not a hostname`)
	assert.ErrorContains(t, err, `hostnames[1]: "10.0.0.1" is an IP address`)
	assert.ErrorContains(t, err, `hostnames[2]: "Upper.example.com" is not a DNS name`)
	assert.ErrorContains(t, err, `hostnames[4]: "a.example.com" is listed twice`)
}
