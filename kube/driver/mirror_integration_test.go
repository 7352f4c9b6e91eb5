package driver

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/kube"
	"github.com/canarykit/canarykit/kube/flagger"
)

// routeStep is what a route object routes: the canary's weight, and the mirror of its weighted
// route or rule ("" without one; the mirror's host and share otherwise).
type routeStep struct {
	Canary int64
	Mirror string
}

func (s routeStep) String() string { return fmt.Sprintf("%d%s", s.Canary, s.Mirror) }

// httpRouteStepOf reads an HTTPRoute's step: the canary backend's weight and the weighted
// rule's RequestMirror filter.
func httpRouteStepOf(u *unstructured.Unstructured) routeStep {
	s := routeStep{Canary: -1}
	rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
	if len(rules) == 0 {
		return s
	}
	rule, _ := rules[0].(map[string]any)
	backends, _, _ := unstructured.NestedSlice(rule, "backendRefs")
	for _, b := range backends {
		bm, _ := b.(map[string]any)
		if name, _, _ := unstructured.NestedString(bm, "name"); name == "podinfo-canary" {
			s.Canary, _, _ = unstructured.NestedInt64(bm, "weight")
		}
	}
	filters, _, _ := unstructured.NestedSlice(rule, "filters")
	for _, f := range filters {
		fm, _ := f.(map[string]any)
		if name, ok, _ := unstructured.NestedString(fm, "requestMirror", "backendRef", "name"); ok {
			s.Mirror = " mirrored to " + name
			if v, ok, _ := unstructured.NestedFieldNoCopy(fm, "requestMirror", "percent"); ok {
				s.Mirror += fmt.Sprintf(" %v%%", v)
			}
		}
	}
	return s
}

// vsStepOf reads a VirtualService's step: the canary destination's weight and the weighted
// route's mirror.
func vsStepOf(u *unstructured.Unstructured) routeStep {
	cw, _ := vsCanaryWeight(u)
	s := routeStep{Canary: cw}
	http, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
	if len(http) == 0 {
		return s
	}
	route, _ := http[0].(map[string]any)
	if host, ok, _ := unstructured.NestedString(route, "mirror", "host"); ok {
		s.Mirror = " mirrored to " + host
		if v, ok, _ := unstructured.NestedFieldNoCopy(route, "mirrorPercentage", "value"); ok {
			s.Mirror += fmt.Sprintf(" %v%%", v)
		}
	}
	return s
}

// mirroredCanary is a Flagger Canary for podinfo in ns with the provider and traffic mirroring,
// as Flagger's Istio docs write it: a weighted canary with a mirror step and mirrorWeight, or
// blue/green mirrored for its iterations.
func mirroredCanary(t *testing.T, ns, provider, analysis string) *flagger.Canary {
	c, err := flagger.LoadCanary(fmt.Appendf(nil, `apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: %s}
spec:
  provider: %s
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898}
  analysis: {interval: 1s, threshold: 10, %s}
`, ns, provider, analysis))
	require.NoError(t, err)
	require.True(t, c.Spec.Mirror)
	c.Spec.Interval = 400 * time.Millisecond // shorter than a manifest may say, for the test's sake
	return c
}

// mirrorRoute is a router under a mirrored release: its provider, the route resource and the
// CRDs that serve it, the router's rules, and how a state of the route reads.
type mirrorRoute struct {
	name     string
	provider string
	gvr      schema.GroupVersionResource
	crds     func(testing.TB) []*apiextensionsv1.CustomResourceDefinition
	rules    []rbacv1.PolicyRule
	step     func(*unstructured.Unstructured) routeStep
}

// TestReleaseMirrored drives Flagger's traffic mirroring through Istio and through Gateway API
// on the real API server with their CRDs, under exactly kube.RBAC() and the router's rules, and
// records every state of the route: a weighted canary mirrors (mirrorWeight 50) for one step at
// weight 0 before its first weight, and a driver stopped during that step is followed by one
// that continues from it (no second start, no second mirrored step); blue/green mirrors until
// all traffic goes to the canary. No mirror is left once the release is over.
func TestReleaseMirrored(t *testing.T) {
	env := testenv.Shared(t)
	// the hooks count their calls: one pre-rollout call, and confirm-traffic-increase asked
	// before the mirrored step and before 20 → 40, not for the step that ends the mirroring
	var hooksMu sync.Mutex
	hooks := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hooksMu.Lock()
		hooks[r.URL.Path]++
		hooksMu.Unlock()
	}))
	defer srv.Close()
	webhooks := fmt.Sprintf(`webhooks: [{name: pre, type: pre-rollout, url: "%s/pre"}, {name: more, type: confirm-traffic-increase, url: "%s/more"}]`,
		srv.URL, srv.URL)

	for _, rk := range []mirrorRoute{
		{"Istio", "istio", schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"},
			testenv.IstioCRDs, istioRules, vsStepOf},
		{"GatewayAPI", "gatewayapi:v1", schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"},
			testenv.GatewayAPICRDs, []rbacv1.PolicyRule{{APIGroups: []string{"gateway.networking.k8s.io"}, Resources: []string{"httproutes"},
				Verbs: []string{"get", "create", "update", "patch"}}}, httpRouteStepOf},
	} {
		t.Run(rk.name, func(t *testing.T) { releaseMirrored(t, env, rk, webhooks, &hooksMu, hooks) })
	}
}

func releaseMirrored(t *testing.T, env *testenv.Env, rk mirrorRoute, webhooks string, hooksMu *sync.Mutex, hooks map[string]int) {
	testenv.InstallCRDs(t, env.Config(), rk.crds(t)...)
	routeGVR := rk.gvr
	for _, tc := range []struct {
		name     string
		analysis string
		restart  bool // stop the driver in the mirrored step, and start another
		steps    []routeStep
		hooks    map[string]int
	}{
		{"WeightedWithMirrorStep", "stepWeight: 20, maxWeight: 40, mirror: true, mirrorWeight: 50, " + webhooks, true,
			[]routeStep{{0, ""}, {0, " mirrored to podinfo-canary 50%"}, {20, ""}, {40, ""}, {0, ""}},
			map[string]int{"/pre": 1, "/more": 2}},
		{"BlueGreenMirrored", "iterations: 2, mirror: true", false,
			[]routeStep{{0, ""}, {0, " mirrored to podinfo-canary"}, {100, ""}, {0, ""}}, map[string]int{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hooksMu.Lock()
			clear(hooks)
			hooksMu.Unlock()
			ctx, _, ns := bedNamespace(t, env)
			ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
			defer cancel()
			createPodinfo(ctx, t, env, ns)
			user, cfg := env.NewUser(t)
			env.Grant(t, user, ns, slices.Concat(embeddedRules(t, kube.RBAC()), rk.rules)...)
			admin, err := dynamic.NewForConfig(env.Config())
			require.NoError(t, err)
			poll := func(what string, cond func() bool) {
				t.Helper()
				require.NoError(t, wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 2*time.Minute, true,
					func(context.Context) (bool, error) { return cond(), nil }), what)
			}
			start := func(ctx context.Context) (*Target, <-chan error) {
				d, err := New(Options{Config: cfg, Identity: "canarykit", Recheck: 50 * time.Millisecond, Logger: testr.New(t)})
				require.NoError(t, err)
				t.Cleanup(d.Close)
				tg, err := d.Target(mirroredCanary(t, ns, rk.provider, tc.analysis), nil)
				require.NoError(t, err)
				started := make(chan error, 1)
				go func() { started <- tg.Start(ctx) }()
				return tg, started
			}
			first, stopFirst := context.WithCancel(ctx)
			defer stopFirst()
			tg, started := start(first)
			poll("initialized", func() bool { return tg.Last().Phase == canary.PhaseInitialized })

			// every version of the route from here on
			list, err := admin.Resource(routeGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
			require.NoError(t, err)
			require.Len(t, list.Items, 1)
			w, err := admin.Resource(routeGVR).Namespace(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: list.GetResourceVersion()})
			require.NoError(t, err)
			var mu sync.Mutex
			seen := []routeStep{}
			mirrored := make(chan struct{})
			record := func(u *unstructured.Unstructured) {
				s := rk.step(u)
				mu.Lock()
				defer mu.Unlock()
				if len(seen) == 0 || seen[len(seen)-1] != s {
					seen = append(seen, s)
					if s.Mirror != "" && s.Canary == 0 && len(seen) == 2 {
						close(mirrored)
					}
				}
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
			if tc.restart {
				select {
				case <-mirrored:
				case <-ctx.Done():
					require.FailNow(t, "the route was never mirrored")
				}
				stopFirst()
				<-started
				tg, started = start(ctx)
			}
			poll("released", func() bool { return tg.Last().Phase == canary.PhaseSucceeded })
			cur, err := admin.Resource(routeGVR).Namespace(ns).Get(ctx, "podinfo", metav1.GetOptions{})
			require.NoError(t, err)
			w.Stop()
			<-watched
			cancel()
			<-started

			mu.Lock()
			defer mu.Unlock()
			assert.Equal(t, tc.steps, seen, "the states the route went through")
			assert.Equal(t, routeStep{0, ""}, rk.step(cur), "all traffic on the primary, no mirror")
			primary, err := env.Client().AppsV1().Deployments(ns).Get(context.Background(), "podinfo-primary", metav1.GetOptions{})
			require.NoError(t, err)
			assert.Equal(t, "podinfo:2", primary.Spec.Template.Spec.Containers[0].Image, "promoted")
			hooksMu.Lock()
			defer hooksMu.Unlock()
			assert.Equal(t, tc.hooks, hooks, "hook calls: no second start after the restart, no gate to end the mirroring")
		})
	}
}

// TestRetireMidMirror retires a target whose release was stopped in its mirrored step, as the
// controller does for a deleted Canary: the route sends everything to the primary and mirrors
// nothing any more.
func TestRetireMidMirror(t *testing.T) {
	env := testenv.Shared(t)
	for _, rk := range []mirrorRoute{
		{"Istio", "istio", schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"},
			testenv.IstioCRDs, istioRules, vsStepOf},
		{"GatewayAPI", "gatewayapi:v1", schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"},
			testenv.GatewayAPICRDs, []rbacv1.PolicyRule{{APIGroups: []string{"gateway.networking.k8s.io"}, Resources: []string{"httproutes"},
				Verbs: []string{"get", "create", "update", "patch"}}}, httpRouteStepOf},
	} {
		t.Run(rk.name, func(t *testing.T) {
			testenv.InstallCRDs(t, env.Config(), rk.crds(t)...)
			ctx, _, ns := bedNamespace(t, env)
			ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
			defer cancel()
			createPodinfo(ctx, t, env, ns)
			user, cfg := env.NewUser(t)
			env.Grant(t, user, ns, slices.Concat(embeddedRules(t, kube.RBAC()), rk.rules)...)
			admin, err := dynamic.NewForConfig(env.Config())
			require.NoError(t, err)
			step := func() routeStep {
				u, err := admin.Resource(rk.gvr).Namespace(ns).Get(ctx, "podinfo", metav1.GetOptions{})
				if err != nil {
					return routeStep{Canary: -1}
				}
				return rk.step(u)
			}
			poll := func(what string, cond func() bool) {
				t.Helper()
				require.NoError(t, wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 2*time.Minute, true,
					func(context.Context) (bool, error) { return cond(), nil }), what)
			}
			d, err := New(Options{Config: cfg, Identity: "canarykit", Recheck: 50 * time.Millisecond, Logger: testr.New(t)})
			require.NoError(t, err)
			t.Cleanup(d.Close)
			c := mirroredCanary(t, ns, rk.provider, "stepWeight: 20, maxWeight: 40, mirror: true")
			c.Spec.Interval = 3 * time.Second // long enough to stop the driver in the mirrored step
			tg, err := d.Target(c, nil)
			require.NoError(t, err)
			run, stop := context.WithCancel(ctx)
			started := make(chan error, 1)
			go func() { started <- tg.Start(run) }()
			poll("initialized", func() bool { return tg.Last().Phase == canary.PhaseInitialized })
			patch := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"podinfo:2"}]}}}}`)
			_, err = env.Client().AppsV1().Deployments(ns).Patch(ctx, "podinfo", types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			require.NoError(t, err)
			poll("mirrored", func() bool { s := step(); return s.Canary == 0 && s.Mirror != "" })
			stop()
			<-started
			require.NotEmpty(t, step().Mirror, "stopped in the mirrored step")

			require.NoError(t, d.Retire(ctx, mirroredCanary(t, ns, rk.provider, "stepWeight: 20, maxWeight: 40, mirror: true"), Retirement{}))
			assert.Equal(t, routeStep{0, ""}, step(), "all traffic on the primary, no mirror")
		})
	}
}
