package driver

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/kube"
	"github.com/canarykit/canarykit/kube/flagger"
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
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// routeKind is one router under test: its route resource and the CRDs that serve it.
type routeKind struct {
	name   string
	gvr    schema.GroupVersionResource
	crds   func(t testing.TB) []*apiextensionsv1.CustomResourceDefinition // the route CRDs the bed serves
	router flagger.Router
}

var routeKinds = []routeKind{
	{"TrafficSplit", schema.GroupVersionResource{Group: "split.smi-spec.io", Version: "v1alpha2", Resource: "trafficsplits"},
		func(testing.TB) []*apiextensionsv1.CustomResourceDefinition {
			return []*apiextensionsv1.CustomResourceDefinition{testenv.TrafficSplitCRD()}
		},
		flagger.Router{Kind: flagger.RouterSMI, Provider: "linkerd"}},
	{"HTTPRoute", schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"},
		testenv.GatewayAPICRDs,
		flagger.Router{Kind: flagger.RouterHTTPRoute, Provider: "gatewayapi:v1", APIVersion: "v1"}},
	{"VirtualService", schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"},
		testenv.IstioCRDs,
		flagger.Router{Kind: flagger.RouterIstio, Provider: "istio"}},
}

// gitops is an outside writer with its own identity that server-side applies its copies of
// objects (force, its own field manager), as Flux's kustomize-controller does.
type gitops struct {
	ns     string
	route  schema.GroupVersionResource
	client kubernetes.Interface
	dyn    dynamic.Interface
}

const fluxManager = "kustomize-controller"

func (g *gitops) apply(t *testing.T, obj map[string]any) {
	t.Helper()
	body, err := json.Marshal(obj)
	require.NoError(t, err)
	opts := metav1.PatchOptions{FieldManager: fluxManager, Force: ptrTo(true)}
	name := obj["metadata"].(map[string]any)["name"].(string)
	ctx := context.Background()
	switch obj["kind"] {
	case "Deployment":
		_, err = g.client.AppsV1().Deployments(g.ns).Patch(ctx, name, types.ApplyPatchType, body, opts)
	case "Service":
		_, err = g.client.CoreV1().Services(g.ns).Patch(ctx, name, types.ApplyPatchType, body, opts)
	default: // the route object
		_, err = g.dyn.Resource(g.route).Namespace(g.ns).Patch(ctx, name, types.ApplyPatchType, body, opts)
	}
	require.NoError(t, err, "apply %s %s", obj["kind"], name)
}

func ptrTo[T any](v T) *T { return &v }

// The Git copies: the target (with replicas) and the apex Service the user keeps in Git
// (selecting the target's pods, as written before canarykit). The route's copy is taken from
// the cluster once the target is initialized (all traffic on the primary).
func gitDeployment(image string, replicas int) map[string]any {
	labels := map[string]any{"app": "podinfo"}
	return map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "podinfo"},
		"spec": map[string]any{"replicas": replicas, "selector": map[string]any{"matchLabels": labels},
			"template": map[string]any{"metadata": map[string]any{"labels": labels},
				"spec": map[string]any{"containers": []any{map[string]any{"name": "app", "image": image}}}}}}
}

func gitService() map[string]any {
	return map[string]any{"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": "podinfo", "labels": map[string]any{"team": "a"}, "annotations": map[string]any{"git.example/path": "apps/podinfo.yaml"}},
		"spec":     map[string]any{"selector": map[string]any{"app": "podinfo"}, "ports": []any{map[string]any{"name": "http", "port": 9898}}}}
}

// routeCopy is what a GitOps repository would hold of the route: its identity, labels and spec.
func routeCopy(u *unstructured.Unstructured) map[string]any {
	return map[string]any{"apiVersion": u.GetAPIVersion(), "kind": u.GetKind(),
		"metadata": map[string]any{"name": u.GetName(), "labels": u.GetLabels()}, "spec": u.Object["spec"]}
}

// TestGitOpsActorDuringARelease runs a release while an outside writer re-applies, from its
// own copies, the target Deployment (replicas included), the TrafficSplit (all on the primary)
// and the apex Service (selecting the target's pods). The apex Service existed before
// canarykit, kept in Git: it is adopted. The release must end promoted with traffic on the
// primary, never send traffic to a side scaled to zero, and make a bounded number of writes,
// counted by identity in the audit log; after the release, the writer's re-applies start no
// write from canarykit.
func TestGitOpsActorDuringARelease(t *testing.T) {
	for _, rk := range routeKinds {
		t.Run(rk.name, func(t *testing.T) { testGitOpsActor(t, rk) })
	}
}

func testGitOpsActor(t *testing.T, rk routeKind) {
	env := testenv.Shared(t)
	ctx, cancel, ns := bedNamespace(t, env, rk.crds(t)...)

	fluxUser, fluxCfg := env.NewUser(t)
	env.Grant(t, fluxUser, ns,
		rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "patch", "create"}},
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"get", "patch", "create"}},
		rbacv1.PolicyRule{APIGroups: []string{rk.gvr.Group}, Resources: []string{rk.gvr.Resource}, Verbs: []string{"get", "patch", "create"}})
	fc, err := kubernetes.NewForConfig(fluxCfg)
	require.NoError(t, err)
	fd, err := dynamic.NewForConfig(fluxCfg)
	require.NoError(t, err)
	flux := &gitops{ns: ns, route: rk.gvr, client: fc, dyn: fd}
	flux.apply(t, gitDeployment("podinfo:1", 2))
	flux.apply(t, gitService())

	// canarykit's requests are told apart by their user agent
	const agent = "canarykit-gitops-test"
	cfg := rest.CopyConfig(env.Config())
	cfg.UserAgent = agent
	admin, err := dynamic.NewForConfig(env.Config())
	require.NoError(t, err)
	d, err := New(Options{Config: cfg, Identity: "canarykit", Recheck: 50 * time.Millisecond, Logger: testr.New(t)})
	require.NoError(t, err)
	defer d.Close()
	c := &flagger.Canary{Name: "podinfo", Namespace: ns, Target: canary.Target{Namespace: ns, Name: "podinfo"},
		Spec:     canary.Spec{Interval: 400 * time.Millisecond, Threshold: 1, MaxWeight: 50, StepWeight: 10},
		Workload: flagger.Workload{Port: 9898}, Router: rk.router}
	advanced := make(chan int, 16)
	tg, err := d.Target(c, func(e canary.Event) {
		if e.Reason == canary.ReasonAdvanced {
			advanced <- e.Weights.Canary
		}
	})
	require.NoError(t, err)
	started := make(chan error, 1)
	go func() { started <- tg.Start(ctx) }()
	poll := func(what string, cond func() bool) {
		t.Helper()
		require.NoError(t, wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, time.Minute, true,
			func(context.Context) (bool, error) { return cond(), nil }), what)
	}
	poll("initialized", func() bool { return tg.Last().Phase == canary.PhaseInitialized })

	// the user's apex Service is adopted: labelled, pointed at the primary, the user's metadata kept
	apex, err := env.Client().CoreV1().Services(ns).Get(ctx, "podinfo", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, canary.ManagedBy, apex.Labels[canary.LabelManagedBy])
	assert.Equal(t, "podinfo", apex.Annotations[kube.AnnotationTarget])
	assert.Equal(t, "a", apex.Labels["team"], "the user's labels are kept")
	assert.Equal(t, "apps/podinfo.yaml", apex.Annotations["git.example/path"], "the user's annotations are kept")
	assert.Equal(t, map[string]string{"app": "podinfo-primary"}, apex.Spec.Selector)
	assert.Empty(t, apex.OwnerReferences)
	initial, err := admin.Resource(rk.gvr).Namespace(ns).Get(ctx, "podinfo", metav1.GetOptions{})
	require.NoError(t, err)
	require.Zero(t, canaryWeight(initial), "the route as created: all on the primary")
	gitRoute := routeCopy(initial)

	// a watcher of the route and the target: traffic never goes to a side scaled to zero. The
	// route is read before and after the target: the promotion routes all traffic to the
	// primary and scales the target down a moment later, so a route read just before it and a
	// target read just after would seem to say otherwise; a route that sends traffic to the
	// canary both before and after a read of the target at zero does.
	var mu sync.Mutex
	var bad []string
	watchDone := make(chan struct{})
	wctx, stopWatch := context.WithCancel(ctx)
	go func() {
		defer close(watchDone)
		for wctx.Err() == nil {
			ts, err1 := admin.Resource(rk.gvr).Namespace(ns).Get(wctx, "podinfo", metav1.GetOptions{})
			dep, err2 := env.Client().AppsV1().Deployments(ns).Get(wctx, "podinfo", metav1.GetOptions{})
			after, err3 := admin.Resource(rk.gvr).Namespace(ns).Get(wctx, "podinfo", metav1.GetOptions{})
			if err1 == nil && err2 == nil && err3 == nil && canaryWeight(ts) > 0 && canaryWeight(after) > 0 &&
				dep.Spec.Replicas != nil && *dep.Spec.Replicas == 0 {
				mu.Lock()
				bad = append(bad, fmt.Sprintf("canary weight %d with the target at 0 replicas", canaryWeight(ts)))
				mu.Unlock()
			}
			select {
			case <-wctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()

	from := env.AuditMark(t)
	flux.apply(t, gitDeployment("podinfo:2", 2)) // a commit: the new image
	reapplied := 0
	for w := range advanced {
		if w == 20 || w == 40 { // mid-release, the writer re-applies its three copies
			flux.apply(t, gitDeployment("podinfo:2", 1))
			flux.apply(t, gitRoute)
			flux.apply(t, gitService())
			reapplied++
		}
		if w == 50 {
			break
		}
	}
	require.Equal(t, 2, reapplied)
	poll("released", func() bool { return tg.Last().Released && tg.Last().Phase != canary.PhaseProgressing })
	require.Equal(t, canary.PhaseSucceeded, tg.Last().Phase, tg.Last().Reason)
	released := env.AuditMark(t)

	// after the release the writer re-applies again; the idle target writes nothing
	flux.apply(t, gitDeployment("podinfo:2", 2))
	flux.apply(t, gitRoute)
	checks := tg.checks.Load()
	for i := 0; i < 10; i++ {
		tg.Kick()
	}
	poll("idle checks", func() bool { return tg.checks.Load()-checks >= 10 })
	stopWatch()
	<-watchDone

	ts, err := admin.Resource(rk.gvr).Namespace(ns).Get(ctx, "podinfo", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Zero(t, canaryWeight(ts), "traffic on the primary")
	primary, err := env.Client().AppsV1().Deployments(ns).Get(ctx, "podinfo-primary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "podinfo:2", primary.Spec.Template.Spec.Containers[0].Image, "promoted")
	apex, err = env.Client().CoreV1().Services(ns).Get(ctx, "podinfo", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"app": "podinfo-primary"}, apex.Spec.Selector,
		"the apex was pointed back at the primary before the target was scaled down")
	mu.Lock()
	assert.Empty(t, bad)
	mu.Unlock()

	// writes by canarykit's identity: bounded by the release's steps, none after it
	during := byAgent(env.AuditBetween(t, from, released).Calls(), agent)
	writes, refused := map[string]int{}, map[string]int{}
	for _, e := range during {
		if e.Verb != "get" && e.Verb != "list" && e.Resource != "events" && e.Resource != "leases" {
			if e.Code >= 300 {
				refused[e.Verb+" "+e.Resource]++ // a write conditional on what canarykit last wrote
				continue
			}
			writes[e.Verb+" "+e.Resource]++
		}
	}
	t.Logf("canarykit writes during the release (5 steps, 2 re-applies by the writer): %v, refused: %v", writes, refused)
	assert.LessOrEqual(t, writes["patch "+rk.gvr.Resource], 5+2, "one route write per step, and the finish")
	assert.LessOrEqual(t, refused["patch "+rk.gvr.Resource], 2, "at most one refused route write per re-apply")
	assert.LessOrEqual(t, writes["update services"], 2, "the apex corrected once, before scaling down")
	assert.LessOrEqual(t, writes["update deployments"]+writes["patch deployments"], 4, "scale up, promote, scale down")
	after := byAgent(env.AuditSince(t, released).Calls(), agent)
	for _, e := range after {
		if e.Verb != "get" && e.Verb != "list" && e.Resource != "events" && e.Resource != "leases" {
			t.Errorf("write after the release: %s %s/%s", e.Verb, e.Resource, e.Name)
		}
	}
	cancel()
	require.NoError(t, <-started)
}

// canaryWeight finds the canary backend's weight in a TrafficSplit (spec.backends) or an
// HTTPRoute (spec.rules[].backendRefs); -1 if there is none.
func canaryWeight(u *unstructured.Unstructured) int64 {
	var lists [][]any
	if b, ok, _ := unstructured.NestedSlice(u.Object, "spec", "backends"); ok {
		lists = append(lists, b)
	}
	if w, _ := vsCanaryWeight(u); w >= 0 { // an Istio VirtualService
		return w
	}
	rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
	for _, r := range rules {
		if m, ok := r.(map[string]any); ok {
			if b, ok, _ := unstructured.NestedSlice(m, "backendRefs"); ok {
				lists = append(lists, b)
			}
		}
	}
	for _, l := range lists {
		for _, b := range l {
			m, _ := b.(map[string]any)
			name, _ := m["service"].(string)
			if name == "" {
				name, _ = m["name"].(string)
			}
			if !strings.HasSuffix(name, "-canary") {
				continue
			}
			switch w := m["weight"].(type) {
			case int64:
				return w
			case float64:
				return int64(w)
			}
		}
	}
	return -1
}
