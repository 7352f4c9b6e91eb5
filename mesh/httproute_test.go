package mesh

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubefake "k8s.io/client-go/kubernetes/fake"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayfake "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned/fake"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh/gatewayapi"
	"github.com/canarykit/canarykit/mesh/meshtest"
)

// routeInspect reads an HTTPRoute's weighted rule through the fake clientset.
func routeInspect(cs *gatewayfake.Clientset) func(t *testing.T, tg canary.Target) canary.Weights {
	return func(t *testing.T, tg canary.Target) canary.Weights {
		t.Helper()
		hr, err := cs.GatewayV1().HTTPRoutes(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
		require.NoError(t, err)
		require.NotEmpty(t, hr.Spec.Rules)
		byName := map[string]int{}
		for _, b := range hr.Spec.Rules[0].BackendRefs {
			byName[string(b.Name)] = int(*b.Weight)
		}
		return canary.Weights{Primary: byName[tg.PrimaryService()], Canary: byName[tg.CanaryService()]}
	}
}

// The HTTPRoute router passes the conformance suite on a fake clientset: without service
// fields, with a Canary's spec.service match, headers and rewrite, with its mirrors and CORS
// policy, and with A/B conditions beyond headers (a path, a method, query parameters).
func TestHTTPRouteConformanceOnFakes(t *testing.T) {
	for _, c := range []struct {
		name  string
		svc   gatewayapi.Service
		match []canary.Match
	}{
		{"Plain", gatewayapi.Service{}, abMatch},
		{"ServiceFields", gatewayService, abMatch},
		{"ServiceMirrorAndCORS", mirrorCORSService, abMatch},
		{"MatchFields", gatewayapi.Service{}, routeMatchFields},
	} {
		t.Run(c.name, func(t *testing.T) {
			cs := gatewayfake.NewSimpleClientset()
			meshtest.Run(t, meshtest.Harness{
				NewRouter:       func(t *testing.T) canary.MeshRouter { return serviceRouter(t, cs, c.svc) },
				NewTarget:       func(*testing.T) canary.Target { return newTarget() },
				Inspect:         routeInspect(cs),
				Match:           c.match,
				Mirror:          true,
				SessionAffinity: true,
			})
		})
	}
}

func TestHTTPRouteShape(t *testing.T) {
	tg := newTarget()
	tg.Match = abMatch
	kube := kubefake.NewSimpleClientset(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: tg.ApexService(), Namespace: tg.Namespace},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 9898}, {Name: "grpc", Port: 9999}}}})
	cs := gatewayfake.NewSimpleClientset()
	r, err := NewHTTPRoute(HTTPRouteOptions{Client: cs, Services: kube.CoreV1()})
	require.NoError(t, err)
	require.NoError(t, r.Reconcile(ctx(t), tg))
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(25)))

	hr, err := cs.GatewayV1().HTTPRoutes(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "canarykit", hr.Labels[canary.LabelManagedBy])
	require.Len(t, hr.Spec.ParentRefs, 1)
	parent := hr.Spec.ParentRefs[0]
	assert.Equal(t, gwv1.Group("core"), *parent.Group)
	assert.Equal(t, gwv1.Kind("Service"), *parent.Kind)
	assert.Equal(t, gwv1.ObjectName(tg.ApexService()), parent.Name)
	assert.Equal(t, gwv1.PortNumber(9898), *parent.Port, "the apex Service's first port")

	require.Len(t, hr.Spec.Rules, 2, "matching requests, then everything else")
	ab := hr.Spec.Rules[0]
	require.Len(t, ab.Matches, 2)
	header := func(m gwv1.HTTPRouteMatch) map[string]string {
		out := map[string]string{}
		for _, h := range m.Headers {
			out[string(*h.Type)+" "+string(h.Name)] = h.Value
		}
		return out
	}
	assert.Equal(t, map[string]string{"Exact x-canary": "in.sider", "RegularExpression user-agent": `^Mozilla/5\.0 \(X11.*`}, header(ab.Matches[0]))
	assert.Equal(t, map[string]string{"RegularExpression cookie": "^(.*?;)?(type=insider)(;.*)?$", "RegularExpression x-tier": `.*\+gold$`},
		header(ab.Matches[1]))
	require.Len(t, ab.BackendRefs, 2)
	assert.Equal(t, gwv1.ObjectName(tg.PrimaryService()), ab.BackendRefs[0].Name)
	assert.Equal(t, int32(75), *ab.BackendRefs[0].Weight)
	assert.Equal(t, gwv1.ObjectName(tg.CanaryService()), ab.BackendRefs[1].Name)
	assert.Equal(t, int32(25), *ab.BackendRefs[1].Weight)
	assert.Equal(t, gwv1.PortNumber(9898), *ab.BackendRefs[1].Port)
	rest := hr.Spec.Rules[1]
	require.Len(t, rest.BackendRefs, 1)
	assert.Equal(t, gwv1.ObjectName(tg.PrimaryService()), rest.BackendRefs[0].Name)
	assert.Equal(t, int32(100), *rest.BackendRefs[0].Weight)
	assert.Empty(t, rest.Matches[0].Headers)
}

func TestHTTPRouteNotOwned(t *testing.T) {
	tg := newTarget()
	theirs := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: tg.ApexService(), Namespace: tg.Namespace,
		Labels: map[string]string{canary.LabelManagedBy: "flagger"}}}
	cs := gatewayfake.NewSimpleClientset(theirs)
	r, err := NewHTTPRoute(HTTPRouteOptions{Client: cs, Port: 80})
	require.NoError(t, err)
	err = r.Reconcile(ctx(t), tg)
	requirePermanent(t, err)
	assert.ErrorIs(t, err, ErrNotOwned)
	assert.ErrorContains(t, err, canary.LabelManagedBy+"=flagger")
	err = r.SetWeights(ctx(t), tg, canary.CanaryWeight(10))
	requirePermanent(t, err)
	assert.ErrorIs(t, err, ErrNotOwned)
	got, err := cs.GatewayV1().HTTPRoutes(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, theirs.Spec, got.Spec)
}

func TestHTTPRouteMissingCRD(t *testing.T) {
	cs := gatewayfake.NewSimpleClientset()
	crdMissingReactor(&cs.Fake, gatewayapi.Group, "httproutes")
	r, err := NewHTTPRoute(HTTPRouteOptions{Client: cs, Port: 80})
	require.NoError(t, err)
	err = r.Reconcile(ctx(t), newTarget())
	requirePermanent(t, err)
	assert.ErrorIs(t, err, ErrCRDMissing)
	assert.ErrorContains(t, err, "httproutes.gateway.networking.k8s.io")

	none, err := NewHTTPRoute(HTTPRouteOptions{Client: cs, Port: 80, Discovery: discoveryServing("apps/v1")})
	require.NoError(t, err)
	err = none.Reconcile(ctx(t), newTarget())
	assert.ErrorIs(t, err, ErrCRDMissing)
	assert.ErrorContains(t, err, "httproutes.gateway.networking.k8s.io v1 or v1beta1")
}

func TestHTTPRouteUsesV1beta1WhereV1IsNotServed(t *testing.T) {
	cs := gatewayfake.NewSimpleClientset()
	disc := discoveryServing("gateway.networking.k8s.io/v1beta1")
	r, err := NewHTTPRoute(HTTPRouteOptions{Client: cs, Port: 80, Discovery: disc})
	require.NoError(t, err)
	v, err := r.APIVersion(ctx(t))
	require.NoError(t, err)
	assert.Equal(t, "gateway.networking.k8s.io/v1beta1", v)
	tg := newTarget()
	require.NoError(t, r.Reconcile(ctx(t), tg))
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(60)))
	got, err := r.Weights(ctx(t), tg)
	require.NoError(t, err)
	assert.Equal(t, canary.CanaryWeight(60), got)
	_, err = cs.GatewayV1beta1().HTTPRoutes(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, 1, countGroups(disc))
}

func TestHTTPRouteSetWeightsIsOneRequestAndHeals(t *testing.T) {
	cs := gatewayfake.NewSimpleClientset()
	r, err := NewHTTPRoute(HTTPRouteOptions{Client: cs, Port: 80})
	require.NoError(t, err)
	tg := newTarget()
	require.NoError(t, r.Reconcile(ctx(t), tg))
	for _, c := range []int{10, 20, 30} {
		n := len(cs.Actions())
		require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(c)))
		assert.Equal(t, []string{"patch"}, verbs(&cs.Fake, n))
	}
	n := len(cs.Actions())
	require.NoError(t, r.Reconcile(ctx(t), tg))
	assert.Equal(t, []string{"get"}, verbs(&cs.Fake, n), "Reconcile of a route in shape only reads it")

	// someone swaps the backends: the guarded patch is refused, the route put back in shape
	hr, err := cs.GatewayV1().HTTPRoutes(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	refs := hr.Spec.Rules[0].BackendRefs
	refs[0], refs[1] = refs[1], refs[0]
	_, err = cs.GatewayV1().HTTPRoutes(tg.Namespace).Update(ctx(t), hr, metav1.UpdateOptions{})
	require.NoError(t, err)
	n = len(cs.Actions())
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(40)))
	assert.Equal(t, []string{"patch", "get", "update"}, verbs(&cs.Fake, n))
	assert.Equal(t, canary.CanaryWeight(40), routeInspect(cs)(t, tg))

	// deleted: created again
	require.NoError(t, cs.GatewayV1().HTTPRoutes(tg.Namespace).Delete(ctx(t), tg.ApexService(), metav1.DeleteOptions{}))
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(50)))
	assert.Equal(t, canary.CanaryWeight(50), routeInspect(cs)(t, tg))
}

func TestHTTPRouteReconcileReshapesKeepingWeights(t *testing.T) {
	cs := gatewayfake.NewSimpleClientset()
	r, err := NewHTTPRoute(HTTPRouteOptions{Client: cs, Port: 80})
	require.NoError(t, err)
	tg := newTarget()
	require.NoError(t, r.Reconcile(ctx(t), tg))
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(30)))
	tg.Match = abMatch
	require.NoError(t, r.Reconcile(ctx(t), tg), "adding match conditions reshapes the route")
	hr, err := cs.GatewayV1().HTTPRoutes(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Len(t, hr.Spec.Rules, 2)
	assert.Equal(t, canary.CanaryWeight(30), routeInspect(cs)(t, tg), "weights kept")
}

func TestNewHTTPRouteReportsEveryProblem(t *testing.T) {
	_, err := NewHTTPRoute(HTTPRouteOptions{Port: -1})
	assert.ErrorContains(t, err, "Client is required")
	assert.ErrorContains(t, err, "Port -1")
	_, err = NewHTTPRoute(HTTPRouteOptions{Client: gatewayfake.NewSimpleClientset()})
	assert.ErrorContains(t, err, "Services is required when Port is 0")
}

func TestRouteRejected(t *testing.T) {
	tg := newTarget()
	route := func(parent string, kind gwv1.Kind, typ string, status metav1.ConditionStatus, gen int64) *gwv1.HTTPRoute {
		return &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: tg.ApexService(), Namespace: tg.Namespace, Generation: 3},
			Status: gwv1.HTTPRouteStatus{RouteStatus: gwv1.RouteStatus{Parents: []gwv1.RouteParentStatus{{
				ParentRef:      gwv1.ParentReference{Kind: &kind, Name: gwv1.ObjectName(parent)},
				ControllerName: "linkerd.io/policy-controller",
				Conditions:     []metav1.Condition{{Type: typ, Status: status, ObservedGeneration: gen, Reason: "R", Message: "m"}},
			}}}}}
	}
	for name, c := range map[string]struct {
		route    *gwv1.HTTPRoute
		rejected bool
	}{
		"accepted":               {route(tg.ApexService(), "Service", "Accepted", metav1.ConditionTrue, 3), false},
		"not accepted":           {route(tg.ApexService(), "Service", "Accepted", metav1.ConditionFalse, 3), true},
		"backends not resolved":  {route(tg.ApexService(), "Service", "ResolvedRefs", metav1.ConditionFalse, 3), true},
		"older generation":       {route(tg.ApexService(), "Service", "Accepted", metav1.ConditionFalse, 2), false},
		"another parent":         {route("other", "Service", "Accepted", metav1.ConditionFalse, 3), false},
		"a Gateway parent":       {route(tg.ApexService(), "Gateway", "Accepted", metav1.ConditionFalse, 3), false},
		"another condition type": {route(tg.ApexService(), "Service", "PartiallyInvalid", metav1.ConditionFalse, 3), false},
		"no status":              {&gwv1.HTTPRoute{}, false},
	} {
		err := routeRejected(c.route, tg, nil)
		if !c.rejected {
			assert.NoError(t, err, name)
			continue
		}
		assert.ErrorIs(t, err, ErrRouteRejected, name)
		assert.True(t, isPermanent(err), "%s: a rejected route stops the release", name)
	}
}
