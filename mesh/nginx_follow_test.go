package mesh

import (
	"strconv"
	"strings"
	"testing"

	"github.com/go-logr/logr/funcr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/canarykit/canarykit/canary"
)

// trackerCache is an IngressCache over a fake clientset's objects, read without an action (as
// an informer's cache is read without a request); synced false plays a cache not synced yet.
type trackerCache struct {
	cs     *fake.Clientset
	synced bool
}

func (c *trackerCache) CachedIngress(ns, name string) (*networkingv1.Ingress, bool) {
	if !c.synced {
		return nil, false
	}
	obj, err := c.cs.Tracker().Get(networkingv1.SchemeGroupVersion.WithResource("ingresses"), ns, name)
	if err != nil {
		return nil, true
	}
	return obj.(*networkingv1.Ingress), true
}

// namedVerbs lists the requests the clientset received since its last ClearActions, as
// "verb name" ("patch podinfo-canary").
func namedVerbs(cs *fake.Clientset) []string {
	var out []string
	for _, a := range cs.Actions() {
		name := ""
		switch a := a.(type) {
		case interface{ GetName() string }:
			name = a.GetName()
		case interface{ GetObject() runtime.Object }:
			if m, err := meta.Accessor(a.GetObject()); err == nil {
				name = m.GetName()
			}
		}
		out = append(out, strings.TrimSpace(a.GetVerb()+" "+name))
	}
	return out
}

// With a Cache, a weight change follows the user's Ingress as Flagger's every tick does: an
// edit of its rules, labels or annotations during a release reaches the canary Ingress at the
// next step (two reads and an update), and a step with nothing changed stays one patch. Before,
// the canary Ingress followed the user's only at a release's start.
func TestNGINXFollowsTheUsersIngressWithACache(t *testing.T) {
	tg := newTarget()
	cs := fake.NewClientset()
	user, err := cs.NetworkingV1().Ingresses(tg.Namespace).Create(ctx(t), userIngress(tg), metav1.CreateOptions{})
	require.NoError(t, err)
	cache := &trackerCache{cs: cs, synced: true}
	var logged []string
	logger := funcr.New(func(prefix, args string) { logged = append(logged, args) }, funcr.Options{})
	r := newNGINX(t, NGINXOptions{Client: cs.NetworkingV1(), Cache: cache, Logger: logger})
	require.NoError(t, r.Reconcile(ctx(t), tg))
	canaryName := CanaryIngressName(tg)
	refusals := func() int {
		n := 0
		for _, l := range logged {
			if strings.Contains(l, "cannot follow") {
				n++
			}
		}
		return n
	}
	get := func() *networkingv1.Ingress {
		t.Helper()
		ing, err := fakeIngresses(cs)(tg.Namespace, canaryName)
		require.NoError(t, err)
		return ing
	}
	edits := 0
	edit := func(f func(*networkingv1.Ingress)) {
		t.Helper()
		next := user.DeepCopy()
		f(next)
		edits++ // a new resourceVersion, as the API server gives each write (the fake keeps it as sent)
		next.ResourceVersion = "edit-" + strconv.Itoa(edits)
		user, err = cs.NetworkingV1().Ingresses(tg.Namespace).Update(ctx(t), next, metav1.UpdateOptions{})
		require.NoError(t, err)
	}
	step := func(weight int) []string {
		t.Helper()
		cs.ClearActions()
		require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(weight)))
		return namedVerbs(cs)
	}

	assert.Equal(t, []string{"patch " + canaryName}, step(10), "nothing changed: one patch")

	pathType := networkingv1.PathTypePrefix
	edit(func(ing *networkingv1.Ingress) {
		ing.Spec.Rules = append(ing.Spec.Rules, networkingv1.IngressRule{Host: "new.example.com", IngressRuleValue: networkingv1.IngressRuleValue{
			HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &pathType,
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: tg.ApexService(), Port: networkingv1.ServiceBackendPort{Number: 9898}}}}}}}})
		ing.Labels["tier"] = "edge"
	})
	assert.Equal(t, []string{"get " + canaryName, "get " + tg.IngressName(), "update " + canaryName}, step(20))
	got := get()
	require.Len(t, got.Spec.Rules, 2)
	assert.Equal(t, "new.example.com", got.Spec.Rules[1].Host)
	assert.Equal(t, tg.CanaryService(), got.Spec.Rules[1].HTTP.Paths[0].Backend.Service.Name, "the new rule routes to the canary")
	assert.Equal(t, "edge", got.Labels["tier"])
	assert.Equal(t, "20", got.Annotations[ann+"canary-weight"], "reshaped with the step's weight")

	assert.Equal(t, []string{"patch " + canaryName}, step(30), "followed: one patch again")
	assert.Equal(t, "30", get().Annotations[ann+"canary-weight"])

	edit(func(ing *networkingv1.Ingress) { ing.Annotations[ann+"proxy-body-size"] = "8m" })
	assert.Equal(t, []string{"get " + canaryName, "get " + tg.IngressName(), "update " + canaryName}, step(40))
	assert.Equal(t, "8m", get().Annotations[ann+"proxy-body-size"])
	edit(func(ing *networkingv1.Ingress) { delete(ing.Annotations, ann+"proxy-body-size") })
	step(50)
	assert.NotContains(t, get().Annotations, ann+"proxy-body-size", "what the user removes is removed")
	assert.Equal(t, "50", get().Annotations[ann+"canary-weight"])

	// an edit the canary Ingress cannot follow (no backend left for the apex Service) keeps it
	// as it is: the step is taken with its one patch, and the next Reconcile reports the Ingress;
	// the refusal is logged once for that edit, not at every step
	assert.Zero(t, refusals())
	edit(func(ing *networkingv1.Ingress) {
		for i := range ing.Spec.Rules {
			for j := range ing.Spec.Rules[i].HTTP.Paths {
				ing.Spec.Rules[i].HTTP.Paths[j].Backend.Service.Name = "elsewhere"
			}
		}
	})
	assert.Equal(t, []string{"patch " + canaryName}, step(60))
	assert.Equal(t, tg.CanaryService(), get().Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name)
	assert.Equal(t, []string{"patch " + canaryName}, step(60))
	assert.Equal(t, 1, refusals(), "one refusal logged for one edit, over two steps")
	edit(func(ing *networkingv1.Ingress) { ing.Labels["tier"] = "core" }) // another edit, still refused
	step(60)
	step(60)
	assert.Equal(t, 2, refusals(), "each refused edit logged once")
	assert.ErrorContains(t, r.Reconcile(ctx(t), tg), "has no backend for service "+tg.ApexService())

	// a cache that cannot answer (not synced, no list/watch) costs nothing: one patch
	edit(func(ing *networkingv1.Ingress) {
		ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name = tg.ApexService()
	})
	cache.synced = false
	assert.Equal(t, []string{"patch " + canaryName}, step(70))
}

// The user's own annotations under the canary prefix, and the canary state a step writes, never
// count as a change: a cached step after a reshape is one patch, whatever the weights and the
// A/B annotations.
func TestNGINXCacheIgnoresTheCanaryState(t *testing.T) {
	tg := newTarget()
	tg.Match = nginxAB
	cs := fake.NewClientset()
	ing := userIngress(tg)
	ing.Annotations[ann+"canary-by-header"] = "x-user" // the user's own, never copied
	_, err := cs.NetworkingV1().Ingresses(tg.Namespace).Create(ctx(t), ing, metav1.CreateOptions{})
	require.NoError(t, err)
	r := newNGINX(t, NGINXOptions{Client: cs.NetworkingV1(), Cache: &trackerCache{cs: cs, synced: true}})
	require.NoError(t, r.Reconcile(ctx(t), tg))
	for _, w := range []canary.Weights{canary.AllCanary(), canary.AllPrimary(), canary.AllCanary()} {
		cs.ClearActions()
		require.NoError(t, r.SetWeights(ctx(t), tg, w))
		assert.Equal(t, []string{"patch " + CanaryIngressName(tg)}, namedVerbs(cs), "weights %s", w)
	}
}
