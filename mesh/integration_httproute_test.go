package mesh_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/mesh"
	"github.com/canarykit/canarykit/mesh/meshtest"
)

// httpRouteRBAC is what package doc says the HTTPRoute router needs (services: with Port 0).
var httpRouteRBAC = []rbacv1.PolicyRule{
	{APIGroups: []string{"gateway.networking.k8s.io"}, Resources: []string{"httproutes"}, Verbs: []string{"get", "create", "update", "patch"}},
	{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"get"}},
}

// kubernetesRBAC is what package doc says the Kubernetes router needs.
var kubernetesRBAC = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"get", "patch"}},
}

type routeBed struct {
	*bed
	gw gatewayclient.Interface
}

func newRouteBed(t *testing.T) *routeBed {
	b := &routeBed{bed: newBed(t, httpRouteRBAC...)}
	testenv.InstallCRDs(t, b.admin, testenv.GatewayAPICRDs(t)...)
	return b.withClient(t)
}

// newExperimentalRouteBed is a routeBed on a bed of the test's own, with Gateway API's
// experimental-channel CRDs (the shared bed's tests expect the standard channel's).
func newExperimentalRouteBed(t *testing.T) *routeBed {
	crds := testenv.GatewayAPIExperimentalCRDs(t)
	b := &routeBed{bed: newBedOn(t, testenv.Start(t, testenv.Options{Audit: true, WithoutControllerManager: true}), httpRouteRBAC...)}
	testenv.InstallCRDs(t, b.admin, crds...)
	return b.withClient(t)
}

func (b *routeBed) withClient(t *testing.T) *routeBed {
	var err error
	b.gw, err = gatewayclient.NewForConfig(b.cfg)
	require.NoError(t, err)
	return b
}

func (b *routeBed) router(t *testing.T, o mesh.HTTPRouteOptions) *mesh.HTTPRoute {
	o.Client = b.gw
	r, err := mesh.NewHTTPRoute(o)
	require.NoError(t, err)
	return r
}

func (b *routeBed) inspect(t *testing.T, tg canary.Target) canary.Weights {
	obj, err := b.dyn.Resource(httpRoutes).Namespace(tg.Namespace).Get(bg(t), tg.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	w, err := routeWeights(obj, tg)
	require.NoError(t, err)
	return w
}

// The HTTPRoute router on a real API server with Gateway API's standard CRDs (their CEL
// validation included): the conformance suite with a fixed port, with the apex Service's port,
// and with discovery.
func TestIntegrationHTTPRoute(t *testing.T) {
	b := newRouteBed(t)
	kube, err := newKube(b.cfg)
	require.NoError(t, err)
	disc, err := discovery.NewDiscoveryClientForConfig(b.cfg)
	require.NoError(t, err)
	for name, o := range map[string]mesh.HTTPRouteOptions{
		"Port":        {Port: 9898},
		"ServicePort": {Services: kube.CoreV1()},
		"Discovery":   {Port: 9898, Discovery: disc},
	} {
		t.Run(name, func(t *testing.T) {
			meshtest.Run(t, meshtest.Harness{
				NewRouter:       func(t *testing.T) canary.MeshRouter { return b.router(t, o) },
				NewTarget:       b.target,
				Inspect:         b.inspect,
				Match:           abMatch,
				Mirror:          true,
				SessionAffinity: true,
			})
		})
	}

	t.Run("RequestsPerCall", func(t *testing.T) {
		r, tg := b.router(t, mesh.HTTPRouteOptions{Port: 9898}), b.target(t)
		tg.Match = abMatch
		require.NoError(t, r.Reconcile(bg(t), tg))
		for _, w := range []int{10, 20, 30} {
			counts := b.audit(t, func() { require.NoError(t, r.SetWeights(bg(t), tg, canary.CanaryWeight(w))) })
			assert.Equal(t, testenv.AuditCounts{{User: b.user, Verb: "patch", Resource: "httproutes"}: 1}, counts,
				"SetWeights(%d) costs one request", w)
		}
		counts := b.audit(t, func() { require.NoError(t, r.Reconcile(bg(t), tg)) })
		assert.Equal(t, testenv.AuditCounts{{User: b.user, Verb: "get", Resource: "httproutes"}: 1}, counts,
			"a stored route equals the router's spec, defaults included: Reconcile only reads it")
	})

	t.Run("Shape", func(t *testing.T) {
		r, tg := b.router(t, mesh.HTTPRouteOptions{Port: 9898}), b.target(t)
		tg.Match = abMatch
		require.NoError(t, r.Reconcile(bg(t), tg))
		require.NoError(t, r.SetWeights(bg(t), tg, canary.CanaryWeight(20)))
		hr, err := b.gw.GatewayV1().HTTPRoutes(b.ns).Get(bg(t), tg.ApexService(), metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, gwv1.Group("core"), *hr.Spec.ParentRefs[0].Group)
		assert.Equal(t, gwv1.Kind("Service"), *hr.Spec.ParentRefs[0].Kind)
		assert.Equal(t, gwv1.ObjectName(tg.ApexService()), hr.Spec.ParentRefs[0].Name)
		require.Len(t, hr.Spec.Rules, 2)
		assert.Len(t, hr.Spec.Rules[0].Matches, 2)
		assert.Equal(t, canary.CanaryWeight(20), b.inspect(t, tg))
		require.Len(t, hr.Spec.Rules[1].BackendRefs, 1)
		assert.Equal(t, gwv1.ObjectName(tg.PrimaryService()), hr.Spec.Rules[1].BackendRefs[0].Name)
	})

	t.Run("Rejected", func(t *testing.T) {
		r, tg := b.router(t, mesh.HTTPRouteOptions{Port: 9898}), b.target(t)
		require.NoError(t, r.Reconcile(bg(t), tg))
		// the mesh's controller (here the test, as Linkerd's policy controller would) reports
		// that it does not accept the route for the apex Service
		admin, err := gatewayclient.NewForConfig(b.admin)
		require.NoError(t, err)
		hr, err := admin.GatewayV1().HTTPRoutes(b.ns).Get(bg(t), tg.ApexService(), metav1.GetOptions{})
		require.NoError(t, err)
		status := func(generation int64) {
			hr.Status.Parents = []gwv1.RouteParentStatus{{
				ParentRef:      hr.Spec.ParentRefs[0],
				ControllerName: "linkerd.io/policy-controller",
				Conditions: []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionFalse, Reason: "NoMatchingParent",
					Message: "no port 9898 on the parent", ObservedGeneration: generation, LastTransitionTime: metav1.Now()}},
			}}
			hr, err = admin.GatewayV1().HTTPRoutes(b.ns).UpdateStatus(bg(t), hr, metav1.UpdateOptions{})
			require.NoError(t, err)
		}
		status(hr.Generation)
		_, err = r.Weights(bg(t), tg)
		require.ErrorIs(t, err, mesh.ErrRouteRejected)
		assert.ErrorContains(t, err, "linkerd.io/policy-controller reports Accepted=False for parent Service "+tg.ApexService()+
			" (NoMatchingParent: no port 9898 on the parent)")

		// a verdict on an older generation of the route says nothing about this one
		require.NoError(t, r.SetWeights(bg(t), tg, canary.CanaryWeight(10)))
		_, err = r.Weights(bg(t), tg)
		require.NoError(t, err)
	})

	t.Run("NotOwned", func(t *testing.T) {
		tg := b.target(t)
		theirs := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
			"metadata": map[string]any{"name": tg.ApexService()},
			"spec": map[string]any{"rules": []any{map[string]any{"backendRefs": []any{
				map[string]any{"name": tg.PrimaryService(), "port": int64(9898), "weight": int64(70)},
				map[string]any{"name": tg.CanaryService(), "port": int64(9898), "weight": int64(30)},
			}}}},
		}}
		_, err := b.dyn.Resource(httpRoutes).Namespace(b.ns).Create(bg(t), theirs, metav1.CreateOptions{})
		require.NoError(t, err)
		r := b.router(t, mesh.HTTPRouteOptions{Port: 9898})
		err = r.Reconcile(bg(t), tg)
		assert.ErrorIs(t, err, mesh.ErrNotOwned)
		assert.ErrorContains(t, err, "no "+canary.LabelManagedBy+" label")
		assert.ErrorIs(t, r.SetWeights(bg(t), tg, canary.CanaryWeight(50)), mesh.ErrNotOwned)
		assert.Equal(t, canary.CanaryWeight(30), b.inspect(t, tg), "left alone")
	})
}

// The Kubernetes router on a real API server: blue/green switches of the apex selector.
func TestIntegrationKubernetes(t *testing.T) {
	b := newBed(t, kubernetesRBAC...)
	kube, err := newKube(b.cfg)
	require.NoError(t, err)
	meshtest.Run(t, meshtest.Harness{
		NewRouter: func(t *testing.T) canary.MeshRouter {
			r, err := mesh.NewKubernetes(mesh.KubernetesOptions{Client: kube.CoreV1()})
			require.NoError(t, err)
			return r
		},
		NewTarget: b.target,
		Inspect: func(t *testing.T, tg canary.Target) canary.Weights {
			apex, err := b.kube.CoreV1().Services(b.ns).Get(bg(t), tg.ApexService(), metav1.GetOptions{})
			require.NoError(t, err)
			if apex.Spec.Selector["app"] == tg.Name+"-primary" {
				return canary.AllPrimary()
			}
			return canary.AllCanary()
		},
		Weights: []canary.Weights{canary.AllPrimary(), canary.AllCanary(), canary.AllPrimary()},
	})
}

// On a real API server, an apex another target took after the router read it is not switched:
// the router's write names the version it read, the API server refuses it as a conflict, and
// the router, reading the apex again, refuses it (ErrNotOwned) and leaves it as it is.
func TestIntegrationKubernetesNeverSwitchesAnotherTargetsApex(t *testing.T) {
	b := newBed(t, kubernetesRBAC...)
	kube, err := newKube(b.cfg)
	require.NoError(t, err)
	tg := b.target(t)
	r, err := mesh.NewKubernetes(mesh.KubernetesOptions{Client: kube.CoreV1()})
	require.NoError(t, err)
	require.NoError(t, r.Reconcile(bg(t), tg), "an apex recording no target is adopted")

	apex, err := b.kube.CoreV1().Services(b.ns).Get(bg(t), tg.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	apex.Annotations = map[string]string{canary.AnnotationTarget: "other"}
	apex.Spec.Selector = map[string]string{"app": "other-primary"}
	_, err = b.kube.CoreV1().Services(b.ns).Update(bg(t), apex, metav1.UpdateOptions{})
	require.NoError(t, err)

	require.ErrorIs(t, r.SetWeights(bg(t), tg, canary.AllCanary()), mesh.ErrNotOwned)
	after, err := b.kube.CoreV1().Services(b.ns).Get(bg(t), tg.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"app": "other-primary"}, after.Spec.Selector, "the other target's apex is left as it is")
}
