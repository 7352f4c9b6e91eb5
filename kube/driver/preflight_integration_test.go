package driver

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/go-logr/logr/testr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"
	gatewayclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"
)

// A Canary whose route the API server refuses, spec.service.corsPolicy on the shared bed's
// Gateway API standard-channel HTTPRoute CRD (it has no CORS filter), fails before anything is
// made for its target: no primary, no Services, no route. The error names the field and the
// channel it needs. With the policy left out, the same Canary initializes.
func TestRouteRefusedBeforeTheWorkloadIsTouched(t *testing.T) {
	env := testenv.Shared(t)
	ctx, _, ns := bedNamespace(t, env, testenv.GatewayAPICRDs(t)...)
	createPodinfo(ctx, t, env, ns)
	load := func(service string) *flagger.Canary {
		c, err := flagger.LoadCanary(fmt.Appendf(nil, `apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: %s}
spec:
  provider: gatewayapi:v1
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898, gatewayRefs: [{name: public, namespace: gateways}]%s}
  analysis: {interval: 1s, threshold: 2, stepWeight: 50, maxWeight: 50}
`, ns, service))
		require.NoError(t, err)
		return c
	}
	gw, err := gatewayclient.NewForConfig(env.Config())
	require.NoError(t, err)

	d := refusedUntouched(ctx, t, env, load(", corsPolicy: {allowOrigin: [\"https://example.com\"], maxAge: 1h}"),
		"the HTTPRoute CRD refuses the CORS filter (a Canary's spec.service.corsPolicy): "+
			"Gateway API's standard channel has none, install the experimental channel's HTTPRoute CRD or leave corsPolicy out")
	_, err = gw.GatewayV1().HTTPRoutes(ns).Get(ctx, "podinfo", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "HTTPRoute podinfo: %v", err)

	// the preflight itself writes nothing: the same Canary without the policy initializes
	rel, err := d.Release(ctx, load(""), nil)
	require.NoError(t, err)
	res, err := rel.Run(ctx)
	require.NoError(t, err)
	assert.Equal(t, canary.PhaseInitialized, res.Phase)
	route, err := gw.GatewayV1().HTTPRoutes(ns).Get(ctx, "podinfo", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Len(t, route.Spec.Rules, 1)
}

// denyCreates makes the API server refuse every creation of resource (group/version) in ns
// with message (and every operation of also, such as an update), as a cluster's admission
// policy would (a ValidatingAdmissionPolicy bound to ns alone), and waits until it does: a
// dry-run creation of probe, an object of that kind valid by its schema, is refused. The
// returned func lifts the policy and waits until the probe is accepted again; the test's end
// lifts it too.
func denyCreates(ctx context.Context, t *testing.T, env *testenv.Env, ns string, gvr schema.GroupVersionResource, probe map[string]any, message string,
	also ...admissionv1.OperationType) (lift func()) {
	t.Helper()
	adm := env.Client().AdmissionregistrationV1()
	name := "deny-" + gvr.Resource + "-" + ns
	_, err := adm.ValidatingAdmissionPolicies().Create(ctx, &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionv1.Fail),
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{Operations: append([]admissionv1.OperationType{admissionv1.Create}, also...),
					Rule: admissionv1.Rule{APIGroups: []string{gvr.Group}, APIVersions: []string{"*"}, Resources: []string{gvr.Resource}}}}}},
			Validations: []admissionv1.Validation{{Expression: "false", Message: message}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = adm.ValidatingAdmissionPolicyBindings().Create(ctx, &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: name, ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
			MatchResources: &admissionv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{corev1.LabelMetadataName: ns}}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	dyn, err := dynamic.NewForConfig(env.Config())
	require.NoError(t, err)
	obj := &unstructured.Unstructured{Object: probe}
	obj.SetName("probe")
	refused := func(ctx context.Context) (bool, error) {
		_, err := dyn.Resource(gvr).Namespace(ns).Create(ctx, obj.DeepCopy(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil && !strings.Contains(err.Error(), message) {
			return false, err // the probe itself is wrong
		}
		return err != nil, nil
	}
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, refused), "the policy in force")
	lifted := false
	lift = func() {
		if lifted {
			return
		}
		lifted = true
		bg := context.Background()
		assert.NoError(t, adm.ValidatingAdmissionPolicyBindings().Delete(bg, name, metav1.DeleteOptions{}))
		assert.NoError(t, adm.ValidatingAdmissionPolicies().Delete(bg, name, metav1.DeleteOptions{}))
		assert.NoError(t, wait.PollUntilContextTimeout(bg, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			r, err := refused(ctx)
			return !r, err
		}), "the policy lifted")
	}
	t.Cleanup(lift)
	return lift
}

// A Canary whose route objects a cluster's admission policy refuses fails before anything is
// made for its target, for every router that creates objects of a CRD or an Ingress: no
// primary, no Services, no route; the error is the policy's. The same Canary initializes
// once the policy is lifted (the preflight stored nothing).
func TestRouteRefusedByAdmissionBeforeTheWorkloadIsTouched(t *testing.T) {
	env := testenv.Shared(t)
	testenv.InstallCRDs(t, env.Config(), append(testenv.IstioCRDs(t), testenv.TrafficSplitCRD())...)
	backend := map[string]any{"service": map[string]any{"name": "podinfo", "port": map[string]any{"number": int64(9898)}}}
	for _, c := range []struct {
		provider string
		gvr      schema.GroupVersionResource
		probe    map[string]any
		ingress  bool     // the Canary routes through Ingress podinfo-public
		routes   []string // what the router would create, as resource/name
	}{
		{"linkerd", schema.GroupVersionResource{Group: "split.smi-spec.io", Version: "v1alpha2", Resource: "trafficsplits"},
			map[string]any{"apiVersion": "split.smi-spec.io/v1alpha2", "kind": "TrafficSplit",
				"spec": map[string]any{"service": "probe", "backends": []any{map[string]any{"service": "probe", "weight": int64(100)}}}},
			false, []string{"trafficsplits/podinfo"}},
		{"istio", schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"},
			map[string]any{"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "spec": map[string]any{"hosts": []any{"probe"}}},
			false, []string{"virtualservices/podinfo", "destinationrules/podinfo-primary", "destinationrules/podinfo-canary"}},
		{"nginx", schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"},
			map[string]any{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "spec": map[string]any{"defaultBackend": backend}},
			true, []string{"ingresses/podinfo-public-canary"}},
	} {
		t.Run(c.provider, func(t *testing.T) {
			ctx, _, ns := bedNamespace(t, env)
			createPodinfo(ctx, t, env, ns)
			dyn, err := dynamic.NewForConfig(env.Config())
			require.NoError(t, err)
			ref := ""
			if c.ingress {
				ing := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
					"metadata": map[string]any{"name": "podinfo-public"}, "spec": map[string]any{"defaultBackend": backend}}}
				_, err := dyn.Resource(c.gvr).Namespace(ns).Create(ctx, ing, metav1.CreateOptions{})
				require.NoError(t, err)
				ref = "\n  ingressRef: {apiVersion: networking.k8s.io/v1, kind: Ingress, name: podinfo-public}"
			}
			const message = "routes in this namespace are made by the platform team"
			lift := denyCreates(ctx, t, env, ns, c.gvr, c.probe, message)
			cr, err := flagger.LoadCanary(fmt.Appendf(nil, `apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: %s}
spec:
  provider: %s
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}%s
  service: {port: 9898}
  analysis: {interval: 1s, threshold: 2, stepWeight: 50, maxWeight: 50}
`, ns, c.provider, ref))
			require.NoError(t, err)
			d := refusedUntouched(ctx, t, env, cr, message)
			requireRoutes := func(exist bool) {
				t.Helper()
				for _, route := range c.routes {
					resource, name, _ := strings.Cut(route, "/")
					gvr := c.gvr
					gvr.Resource = resource
					_, err := dyn.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
					if exist {
						assert.NoError(t, err, route)
					} else {
						assert.True(t, apierrors.IsNotFound(err), "%s: %v", route, err)
					}
				}
			}
			requireRoutes(false)

			lift()
			rel, err := d.Release(ctx, cr, nil)
			require.NoError(t, err)
			res, err := rel.Run(ctx)
			require.NoError(t, err)
			assert.Equal(t, canary.PhaseInitialized, res.Phase)
			requireRoutes(true)
		})
	}
}

// A Canary whose ingressRef names an Ingress that routes nothing to its apex Service fails
// before anything is made for its target: the NGINX router's preflight reads the Ingress.
func TestNGINXIngressWithoutTheApexRefusedBeforeTheWorkloadIsTouched(t *testing.T) {
	env := testenv.Shared(t)
	ctx, _, ns := bedNamespace(t, env)
	createPodinfo(ctx, t, env, ns)
	prefix := networkingv1.PathTypePrefix
	_, err := env.Client().NetworkingV1().Ingresses(ns).Create(ctx, &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo-public"},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "app.example.com", IngressRuleValue: networkingv1.IngressRuleValue{
			HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &prefix,
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "frontend", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	cr, err := flagger.LoadCanary(nginxManifest(ns, "\n    stepWeight: 50\n    maxWeight: 50"))
	require.NoError(t, err)
	refusedUntouched(ctx, t, env, cr, "Ingress "+ns+"/podinfo-public has no backend for service podinfo")
}

// refusedUntouched runs a release of cr, the Canary of Deployment podinfo, through a new
// driver, and checks that it failed for good with an error that says want, recorded as a
// Warning Event, with nothing made for its target: no primary, no Services. It returns the
// driver.
func refusedUntouched(ctx context.Context, t *testing.T, env *testenv.Env, cr *flagger.Canary, want string) *Driver {
	t.Helper()
	d, err := New(Options{Config: env.Config(), Identity: "canarykit", Logger: testr.New(t)})
	require.NoError(t, err)
	t.Cleanup(d.Close)
	rel, err := d.Release(ctx, cr, nil)
	require.NoError(t, err)
	_, err = rel.Run(ctx)
	require.Error(t, err)
	assert.True(t, canary.IsPermanent(err), "%v", err)
	assert.Contains(t, err.Error(), want)
	_, err = env.Client().AppsV1().Deployments(cr.Namespace).Get(ctx, "podinfo-primary", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "Deployment podinfo-primary: %v", err)
	for _, name := range []string{"podinfo", "podinfo-primary", "podinfo-canary"} {
		_, err := env.Client().CoreV1().Services(cr.Namespace).Get(ctx, name, metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err), "Service %s: %v", name, err)
	}
	assert.NoError(t, wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		list, err := env.Client().CoreV1().Events(cr.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		return slices.ContainsFunc(list.Items, func(e corev1.Event) bool {
			return e.Type == corev1.EventTypeWarning && strings.Contains(e.Message, want)
		}), nil
	}), "a Warning Event that says %q", want)
	return d
}

// A Canary whose route object is there already and managed by someone else (a TrafficSplit a
// GitOps tool applied) fails before anything is made for its target, and the object is left
// as it was: the preflight's dry run finds it and reads it, as Reconcile would.
func TestRouteSomeoneElseOwnsRefusedBeforeTheWorkloadIsTouched(t *testing.T) {
	env := testenv.Shared(t)
	ctx, _, ns := bedNamespace(t, env, testenv.TrafficSplitCRD())
	createPodinfo(ctx, t, env, ns)
	dyn, err := dynamic.NewForConfig(env.Config())
	require.NoError(t, err)
	gvr := schema.GroupVersionResource{Group: "split.smi-spec.io", Version: "v1alpha2", Resource: "trafficsplits"}
	theirs, err := dyn.Resource(gvr).Namespace(ns).Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "split.smi-spec.io/v1alpha2", "kind": "TrafficSplit",
		"metadata": map[string]any{"name": "podinfo", "labels": map[string]any{"app.kubernetes.io/managed-by": "argocd"}},
		"spec":     map[string]any{"service": "podinfo", "backends": []any{map[string]any{"service": "podinfo-v2", "weight": int64(100)}}},
	}}, metav1.CreateOptions{})
	require.NoError(t, err)
	cr, err := flagger.LoadCanary(fmt.Appendf(nil, `apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: %s}
spec:
  provider: linkerd
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898}
  analysis: {interval: 1s, threshold: 2, stepWeight: 50, maxWeight: 50}
`, ns))
	require.NoError(t, err)
	refusedUntouched(ctx, t, env, cr, "TrafficSplit "+ns+"/podinfo has app.kubernetes.io/managed-by=argocd, not app.kubernetes.io/managed-by=canarykit")
	now, err := dyn.Resource(gvr).Namespace(ns).Get(ctx, "podinfo", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, theirs.GetResourceVersion(), now.GetResourceVersion(), "left as it was")
}
