package driver

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/kube"
	"github.com/canarykit/canarykit/kube/flagger"
)

// istioRules are the Istio router's rules as mesh's package doc and the README list them.
var istioRules = []rbacv1.PolicyRule{
	{APIGroups: []string{"networking.istio.io"}, Resources: []string{"virtualservices"}, Verbs: []string{"get", "create", "update", "patch", "delete"}},
	{APIGroups: []string{"networking.istio.io"}, Resources: []string{"destinationrules"}, Verbs: []string{"get", "create", "update", "delete"}},
}

// embeddedRules are the rules of the embedded ClusterRoles docs (kube.RBAC() and the like).
func embeddedRules(t *testing.T, docs ...[]byte) []rbacv1.PolicyRule {
	t.Helper()
	var rules []rbacv1.PolicyRule
	for _, doc := range docs {
		var role rbacv1.ClusterRole
		require.NoError(t, yaml.UnmarshalStrict(doc, &role))
		rules = append(rules, role.Rules...)
	}
	return rules
}

// istioCanary is seed 003's frontend Canary (A/B by user-agent and the insider cookie) with
// provider istio, hosts, gateways and Istio fields of Flagger's Istio tutorial (a match, a
// timeout, retries, a traffic policy), for podinfo in ns, without its metrics (no Prometheus
// here) and with a 400 ms interval; weighted instead of A/B when ab is false.
func istioCanary(t *testing.T, ns string, ab bool) *flagger.Canary {
	analysis := `interval: 1s
    threshold: 10
    iterations: 3
    match:
      - headers:
          user-agent:
            regex: ".*Firefox.*"
      - headers:
          cookie:
            regex: "^(.*?;)?(type=insider)(;.*)?$"`
	if !ab {
		analysis = "{interval: 1s, threshold: 10, stepWeight: 20, maxWeight: 60}"
	}
	c, err := flagger.LoadCanary([]byte(fmt.Sprintf(`apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: %s}
spec:
  provider: istio
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service:
    port: 9898
    hosts: [app.example.com]
    gateways: [istio-system/public-gateway]
    match: [{uri: {prefix: /}}]
    timeout: 30s
    retries: {attempts: 3, perTryTimeout: 1s, retryOn: "gateway-error,connect-failure,refused-stream"}
    trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
  analysis:
    %s
`, ns, analysis)))
	require.NoError(t, err)
	c.Spec.Interval = 400 * time.Millisecond // shorter than a manifest may say, for the test's sake
	return c
}

// tcpCanary is a Canary of a TCP service (appProtocol tcp) with provider istio, its port
// matched and a traffic policy, for podinfo in ns, weighted, with a 400 ms interval.
func tcpCanary(t *testing.T, ns string) *flagger.Canary {
	c, err := flagger.LoadCanary([]byte(fmt.Sprintf(`apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: %s}
spec:
  provider: istio
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service:
    port: 9898
    appProtocol: tcp
    hosts: [app.example.com]
    gateways: [istio-system/public-gateway]
    match: [{port: 9898}]
    trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
  analysis: {interval: 1s, threshold: 10, stepWeight: 20, maxWeight: 60}
`, ns)))
	require.NoError(t, err)
	c.Spec.Interval = 400 * time.Millisecond
	return c
}

// vsCanaryWeight is the canary destination's weight in the first HTTP route (the TCP route of
// a VirtualService without HTTP routes), and whether the route has match conditions; -1
// without a canary destination.
func vsCanaryWeight(u *unstructured.Unstructured) (int64, bool) {
	http, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
	if len(http) == 0 {
		http, _, _ = unstructured.NestedSlice(u.Object, "spec", "tcp")
	}
	if len(http) == 0 {
		return -1, false
	}
	first, _ := http[0].(map[string]any)
	_, matched := first["match"]
	dests, _, _ := unstructured.NestedSlice(first, "route")
	for _, d := range dests {
		dm, _ := d.(map[string]any)
		if host, _, _ := unstructured.NestedString(dm, "destination", "host"); strings.HasSuffix(host, "-canary") {
			w, _, _ := unstructured.NestedInt64(dm, "weight")
			return w, matched
		}
	}
	return -1, matched
}

// TestIstioRelease drives seed 003's frontend release through Istio on the real API server,
// under exactly kube.RBAC(), kube.RevertRBAC() (the revert at the end) and the Istio router's
// rules: A/B testing with Istio's CRDs as
// shipped (v1 used), a weighted release with only v1beta1 served, and a weighted release of a
// TCP service (its VirtualService's TCP route). A watcher records every canary weight the
// VirtualService held.
func TestIstioRelease(t *testing.T) {
	env := testenv.Shared(t)
	crds := testenv.IstioCRDs(t)
	testenv.InstallCRDs(t, env.Config(), crds...)
	t.Cleanup(func() { testenv.InstallCRDs(t, env.Config(), crds...) })
	base := embeddedRules(t, kube.RBAC(), kube.RevertRBAC())

	for _, tc := range []struct {
		name    string
		served  string // "": as shipped
		ab      bool
		tcp     bool
		weights []int64 // the canary weights the route holds, in order (repeats folded)
	}{
		{"ABTesting", "", true, false, []int64{0, 100, 0}},
		{"TCP", "", false, true, []int64{0, 20, 40, 60, 0}},
		{"WeightedV1beta1Only", "v1beta1", false, false, []int64{0, 20, 40, 60, 0}}, // last: it changes the CRDs
	} {
		t.Run(tc.name, func(t *testing.T) {
			version := "v1"
			if tc.served != "" {
				version = tc.served
				for _, crd := range crds {
					testenv.InstallCRDs(t, env.Config(), testenv.IstioCRDServing(crd, tc.served))
				}
			}
			vsGVR := schema.GroupVersionResource{Group: "networking.istio.io", Version: version, Resource: "virtualservices"}
			ctx, _, ns := bedNamespace(t, env)
			ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
			defer cancel()
			createPodinfo(ctx, t, env, ns)
			user, cfg := env.NewUser(t)
			env.Grant(t, user, ns, slices.Concat(base, istioRules)...)
			admin, err := dynamic.NewForConfig(env.Config())
			require.NoError(t, err)

			d, err := New(Options{Config: cfg, Identity: "canarykit", Recheck: 50 * time.Millisecond, Logger: testr.New(t)})
			require.NoError(t, err)
			defer d.Close()
			c := istioCanary(t, ns, tc.ab)
			if tc.tcp {
				c = tcpCanary(t, ns)
			}
			tg, err := d.Target(c, nil)
			require.NoError(t, err)
			started := make(chan error, 1)
			go func() { started <- tg.Start(ctx) }()
			poll := func(what string, cond func() bool) {
				t.Helper()
				require.NoError(t, wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 2*time.Minute, true,
					func(context.Context) (bool, error) { return cond(), nil }), what)
			}
			poll("initialized", func() bool { return tg.Last().Phase == canary.PhaseInitialized })

			// every version of the VirtualService from here on
			list, err := admin.Resource(vsGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
			require.NoError(t, err)
			require.Len(t, list.Items, 1)
			w, err := admin.Resource(vsGVR).Namespace(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: list.GetResourceVersion()})
			require.NoError(t, err)
			var mu sync.Mutex
			seen := []int64{}
			matchedAt := map[int64]bool{}
			record := func(u *unstructured.Unstructured) {
				cw, matched := vsCanaryWeight(u)
				mu.Lock()
				defer mu.Unlock()
				if len(seen) == 0 || seen[len(seen)-1] != cw {
					seen = append(seen, cw)
				}
				matchedAt[cw] = matched
			}
			record(&list.Items[0])
			watched := make(chan struct{})
			go func() {
				defer close(watched)
				for ev := range w.ResultChan() {
					if u, ok := ev.Object.(*unstructured.Unstructured); ok {
						record(u)
					}
				}
			}()

			patch := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"podinfo:2"}]}}}}`)
			_, err = env.Client().AppsV1().Deployments(ns).Patch(ctx, "podinfo", types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			require.NoError(t, err)
			poll("released", func() bool { return tg.Last().Phase == canary.PhaseSucceeded })
			cur, err := admin.Resource(vsGVR).Namespace(ns).Get(ctx, "podinfo", metav1.GetOptions{})
			require.NoError(t, err)
			w.Stop()
			<-watched
			cancel()
			<-started

			mu.Lock()
			defer mu.Unlock()
			assert.Equal(t, tc.weights, seen, "the canary weights the VirtualService held")
			if tc.ab {
				assert.True(t, matchedAt[100], "the canary's traffic is the matched requests'")
			}
			hosts, _, _ := unstructured.NestedStringSlice(cur.Object, "spec", "hosts")
			assert.Equal(t, []string{"app.example.com", "podinfo"}, hosts)
			gateways, _, _ := unstructured.NestedStringSlice(cur.Object, "spec", "gateways")
			assert.Equal(t, []string{"istio-system/public-gateway"}, gateways)
			http, _, _ := unstructured.NestedSlice(cur.Object, "spec", "http")
			if tc.tcp {
				assert.Empty(t, http, "a TCP service has no HTTP route")
				tcp, _, _ := unstructured.NestedSlice(cur.Object, "spec", "tcp")
				require.Len(t, tcp, 1)
				assert.Equal(t, []any{map[string]any{"port": int64(9898)}}, tcp[0].(map[string]any)["match"])
				svc, err := env.Client().CoreV1().Services(ns).Get(context.Background(), "podinfo", metav1.GetOptions{})
				require.NoError(t, err)
				require.NotNil(t, svc.Spec.Ports[0].AppProtocol)
				assert.Equal(t, "tcp", *svc.Spec.Ports[0].AppProtocol, "the apex Service's port says tcp")
			} else {
				require.NotEmpty(t, http)
			}
			for i, r := range http {
				route := r.(map[string]any)
				assert.Equal(t, "30s", route["timeout"], "http[%d]", i)
				assert.Equal(t, map[string]any{"attempts": int64(3), "perTryTimeout": "1s", "retryOn": "gateway-error,connect-failure,refused-stream"},
					route["retries"], "http[%d]", i)
				matches, _, _ := unstructured.NestedSlice(route, "match")
				require.NotEmpty(t, matches, "http[%d]: the service's match", i)
				for j, m := range matches {
					prefix, _, _ := unstructured.NestedString(m.(map[string]any), "uri", "prefix")
					assert.Equal(t, "/", prefix, "http[%d].match[%d]", i, j)
				}
			}
			for _, name := range []string{"podinfo-primary", "podinfo-canary"} {
				dr, err := admin.Resource(schema.GroupVersionResource{Group: "networking.istio.io", Version: version, Resource: "destinationrules"}).
					Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
				require.NoError(t, err)
				h, _, _ := unstructured.NestedString(dr.Object, "spec", "host")
				assert.Equal(t, name, h)
				mode, _, _ := unstructured.NestedString(dr.Object, "spec", "trafficPolicy", "tls", "mode")
				assert.Equal(t, "ISTIO_MUTUAL", mode, name)
			}
			primary, err := env.Client().AppsV1().Deployments(ns).Get(context.Background(), "podinfo-primary", metav1.GetOptions{})
			require.NoError(t, err)
			assert.Equal(t, "podinfo:2", primary.Spec.Template.Spec.Containers[0].Image, "promoted")

			// spec.revertOnDeletion: the VirtualService and the DestinationRules go with the primary
			rctx, rcancel := context.WithTimeout(context.Background(), time.Minute)
			defer rcancel()
			require.NoError(t, d.Retire(rctx, c, Retirement{Revert: true}))
			for _, o := range []struct{ resource, name string }{
				{"virtualservices", "podinfo"}, {"destinationrules", "podinfo-primary"}, {"destinationrules", "podinfo-canary"},
			} {
				_, err := admin.Resource(schema.GroupVersionResource{Group: "networking.istio.io", Version: version, Resource: o.resource}).
					Namespace(ns).Get(rctx, o.name, metav1.GetOptions{})
				assert.True(t, apierrors.IsNotFound(err), "%s %s is deleted: %v", o.resource, o.name, err)
			}
			_, err = env.Client().AppsV1().Deployments(ns).Get(rctx, "podinfo-primary", metav1.GetOptions{})
			assert.True(t, apierrors.IsNotFound(err), "the primary is removed once the route is: %v", err)
		})
	}
}
