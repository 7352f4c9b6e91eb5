package testenv_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/canarykit/canarykit/internal/testenv"
)

func TestTrafficSplitCRDAsLinkerdSMIShipsIt(t *testing.T) {
	env := testenv.Shared(t)
	ns := env.Namespace(t)
	testenv.InstallCRDs(t, env.Config(), testenv.TrafficSplitCRD())
	dyn, err := dynamic.NewForConfig(env.Config())
	require.NoError(t, err)
	ctx := context.Background()

	v1alpha1 := schema.GroupVersionResource{Group: testenv.SMISplitGroup, Version: "v1alpha1", Resource: "trafficsplits"}
	ts := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "split.smi-spec.io/v1alpha1",
		"kind":       "TrafficSplit",
		"metadata":   map[string]any{"name": "podinfo"},
		"spec": map[string]any{
			"service": "podinfo",
			"backends": []any{
				map[string]any{"service": "podinfo-canary", "weight": "500m"},
				map[string]any{"service": "podinfo-primary", "weight": int64(99)},
			},
		},
	}}
	_, err = dyn.Resource(v1alpha1).Namespace(ns).Create(ctx, ts, metav1.CreateOptions{})
	require.NoError(t, err)

	// v1alpha2 is served from the same storage with no conversion.
	v1alpha2 := v1alpha1
	v1alpha2.Version = "v1alpha2"
	got, err := dyn.Resource(v1alpha2).Namespace(ns).Get(ctx, "podinfo", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "split.smi-spec.io/v1alpha2", got.GetAPIVersion())
	backends, _, err := unstructured.NestedSlice(got.Object, "spec", "backends")
	require.NoError(t, err)
	require.Len(t, backends, 2)

	// v1alpha2 weights are integers: the schema refuses a quantity string.
	bad := ts.DeepCopy()
	bad.SetName("bad")
	bad.SetAPIVersion("split.smi-spec.io/v1alpha2")
	_, err = dyn.Resource(v1alpha2).Namespace(ns).Create(ctx, bad, metav1.CreateOptions{})
	require.Error(t, err)

	// Versions linkerd-smi does not serve are absent.
	_, err = dyn.Resource(schema.GroupVersionResource{Group: testenv.SMISplitGroup, Version: "v1alpha3", Resource: "trafficsplits"}).
		Namespace(ns).List(ctx, metav1.ListOptions{})
	require.Error(t, err)
}

func TestHTTPRouteGroupCRD(t *testing.T) {
	env := testenv.Shared(t)
	ns := env.Namespace(t)
	testenv.InstallCRDs(t, env.Config(), testenv.HTTPRouteGroupCRD())
	dyn, err := dynamic.NewForConfig(env.Config())
	require.NoError(t, err)

	hrg := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "specs.smi-spec.io/v1alpha4",
		"kind":       "HTTPRouteGroup",
		"metadata":   map[string]any{"name": "podinfo-ab"},
		"spec": map[string]any{"matches": []any{map[string]any{
			"name":    "firefox",
			"headers": map[string]any{"user-agent": ".*Firefox.*"},
		}}},
	}}
	gvr := schema.GroupVersionResource{Group: testenv.SMISpecsGroup, Version: "v1alpha4", Resource: "httproutegroups"}
	_, err = dyn.Resource(gvr).Namespace(ns).Create(context.Background(), hrg, metav1.CreateOptions{})
	require.NoError(t, err)
}

func TestGatewayAPICRDs(t *testing.T) {
	env := testenv.Shared(t)
	ns := env.Namespace(t)
	crds := testenv.GatewayAPICRDs(t)
	names := make([]string, 0, len(crds))
	for _, c := range crds {
		names = append(names, c.Name)
	}
	require.Contains(t, names, "httproutes.gateway.networking.k8s.io")
	testenv.InstallCRDs(t, env.Config(), crds...)

	dyn, err := dynamic.NewForConfig(env.Config())
	require.NoError(t, err)
	route := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1",
		"kind":       "HTTPRoute",
		"metadata":   map[string]any{"name": "podinfo"},
		"spec": map[string]any{
			"parentRefs": []any{map[string]any{"group": "", "kind": "Service", "name": "podinfo", "port": int64(9898)}},
			"rules": []any{map[string]any{"backendRefs": []any{
				map[string]any{"name": "podinfo-primary", "port": int64(9898), "weight": int64(90)},
				map[string]any{"name": "podinfo-canary", "port": int64(9898), "weight": int64(10)},
			}}},
		},
	}}
	gvr := schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}
	created, err := dyn.Resource(gvr).Namespace(ns).Create(context.Background(), route, metav1.CreateOptions{})
	require.NoError(t, err)
	rules, _, err := unstructured.NestedSlice(created.Object, "spec", "rules")
	require.NoError(t, err)
	require.Len(t, rules, 1)
}
