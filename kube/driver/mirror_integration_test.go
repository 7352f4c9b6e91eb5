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

// vsStep is what a VirtualService routes: the canary's weight, and the mirror of its weighted
// route ("" without one; the mirror's host and percentage otherwise).
type vsStep struct {
	Canary int64
	Mirror string
}

func (s vsStep) String() string { return fmt.Sprintf("%d%s", s.Canary, s.Mirror) }

func vsStepOf(u *unstructured.Unstructured) vsStep {
	cw, _ := vsCanaryWeight(u)
	s := vsStep{Canary: cw}
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

// mirroredCanary is a Flagger Canary for podinfo in ns with provider istio and traffic
// mirroring, as Flagger's Istio docs write it: a weighted canary with a mirror step and
// mirrorWeight, or blue/green mirrored for its iterations.
func mirroredCanary(t *testing.T, ns, analysis string) *flagger.Canary {
	c, err := flagger.LoadCanary(fmt.Appendf(nil, `apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: %s}
spec:
  provider: istio
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898}
  analysis: {interval: 1s, threshold: 10, %s}
`, ns, analysis))
	require.NoError(t, err)
	require.True(t, c.Spec.Mirror)
	c.Spec.Interval = 400 * time.Millisecond // shorter than a manifest may say, for the test's sake
	return c
}

// TestIstioReleaseMirrored drives Flagger's traffic mirroring through Istio on the real API
// server with Istio's CRDs, under exactly kube.RBAC() and the Istio router's rules, and records
// every state of the VirtualService: a weighted canary mirrors (mirrorWeight 50) for one step
// at weight 0 before its first weight, and a driver stopped during that step is followed by
// one that continues from it (no second mirrored step); blue/green mirrors until all traffic
// goes to the canary. No mirror is left once the release is over.
func TestIstioReleaseMirrored(t *testing.T) {
	env := testenv.Shared(t)
	crds := testenv.IstioCRDs(t)
	testenv.InstallCRDs(t, env.Config(), crds...)
	vsGVR := schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}
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

	for _, tc := range []struct {
		name     string
		analysis string
		restart  bool // stop the driver in the mirrored step, and start another
		steps    []vsStep
		hooks    map[string]int
	}{
		{"WeightedWithMirrorStep", "stepWeight: 20, maxWeight: 40, mirror: true, mirrorWeight: 50, " + webhooks, true,
			[]vsStep{{0, ""}, {0, " mirrored to podinfo-canary 50%"}, {20, ""}, {40, ""}, {0, ""}},
			map[string]int{"/pre": 1, "/more": 2}},
		{"BlueGreenMirrored", "iterations: 2, mirror: true", false,
			[]vsStep{{0, ""}, {0, " mirrored to podinfo-canary"}, {100, ""}, {0, ""}}, map[string]int{}},
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
			env.Grant(t, user, ns, slices.Concat(embeddedRules(t, kube.RBAC()), istioRules)...)
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
				tg, err := d.Target(mirroredCanary(t, ns, tc.analysis), nil)
				require.NoError(t, err)
				started := make(chan error, 1)
				go func() { started <- tg.Start(ctx) }()
				return tg, started
			}
			first, stopFirst := context.WithCancel(ctx)
			defer stopFirst()
			tg, started := start(first)
			poll("initialized", func() bool { return tg.Last().Phase == canary.PhaseInitialized })

			// every version of the VirtualService from here on
			list, err := admin.Resource(vsGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
			require.NoError(t, err)
			require.Len(t, list.Items, 1)
			w, err := admin.Resource(vsGVR).Namespace(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: list.GetResourceVersion()})
			require.NoError(t, err)
			var mu sync.Mutex
			seen := []vsStep{}
			mirrored := make(chan struct{})
			record := func(u *unstructured.Unstructured) {
				s := vsStepOf(u)
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
			cur, err := admin.Resource(vsGVR).Namespace(ns).Get(ctx, "podinfo", metav1.GetOptions{})
			require.NoError(t, err)
			w.Stop()
			<-watched
			cancel()
			<-started

			mu.Lock()
			defer mu.Unlock()
			assert.Equal(t, tc.steps, seen, "the states the VirtualService went through")
			assert.Equal(t, vsStep{0, ""}, vsStepOf(cur), "all traffic on the primary, no mirror")
			primary, err := env.Client().AppsV1().Deployments(ns).Get(context.Background(), "podinfo-primary", metav1.GetOptions{})
			require.NoError(t, err)
			assert.Equal(t, "podinfo:2", primary.Spec.Template.Spec.Containers[0].Image, "promoted")
			hooksMu.Lock()
			defer hooksMu.Unlock()
			assert.Equal(t, tc.hooks, hooks, "hook calls: no second start after the restart, no gate to end the mirroring")
		})
	}
}
