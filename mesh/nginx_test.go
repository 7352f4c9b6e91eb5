package mesh

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh/meshtest"
)

const ann = NGINXAnnotationPrefix + "/"

// nginxAB is what ingress-nginx can match: one header, one cookie (by name).
var nginxAB = []canary.Match{
	{Headers: map[string]canary.StringMatch{"x-canary": {Exact: "insider"}}},
	{Headers: map[string]canary.StringMatch{"cookie": {Exact: "canary"}}},
}

// userIngress is an Ingress in front of tg's apex Service, as a user writes it: two hosts'
// paths to the apex, one path to another service, a TLS section, and the annotations seed 000
// gives its Ingress.
func userIngress(tg canary.Target) *networkingv1.Ingress {
	pathType := networkingv1.PathTypePrefix
	backend := func(svc string) networkingv1.IngressBackend {
		return networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Number: 9898}}}
	}
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: tg.IngressName(), Namespace: tg.Namespace,
			Labels: map[string]string{"app": tg.Name},
			Annotations: map[string]string{
				"kubernetes.io/ingress.class":                      "nginx",
				ann + "configuration-snippet":                      "proxy_set_header l5d-dst-override $service_name.$namespace.svc.cluster.local:$service_port;",
				"kubectl.kubernetes.io/last-applied-configuration": "{}",
			}},
		Spec: networkingv1.IngressSpec{
			TLS: []networkingv1.IngressTLS{{Hosts: []string{"app.example.com"}, SecretName: "app-tls"}},
			Rules: []networkingv1.IngressRule{{Host: "app.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{
					{Path: "/", PathType: &pathType, Backend: backend(tg.ApexService())},
					{Path: "/static", PathType: &pathType, Backend: backend("static")},
				}}}}},
		},
	}
}

// nginxInspect reads the canary Ingress's annotations without the router: the A/B
// annotations mean all matching requests on the canary, else canary-weight out of 100.
func nginxInspect(t *testing.T, get func(ns, name string) (*networkingv1.Ingress, error)) func(*testing.T, canary.Target) canary.Weights {
	return func(t *testing.T, tg canary.Target) canary.Weights {
		t.Helper()
		ing, err := get(tg.Namespace, tg.IngressName()+"-canary")
		require.NoError(t, err)
		a := ing.Annotations
		require.Equal(t, "true", a[ann+"canary"])
		if a[ann+"canary-by-header"] != "" || a[ann+"canary-by-cookie"] != "" {
			require.Equal(t, "0", a[ann+"canary-weight"], "A/B: requests that do not match stay on the primary")
			return canary.AllCanary()
		}
		n, err := strconv.Atoi(a[ann+"canary-weight"])
		require.NoError(t, err)
		return canary.CanaryWeight(n)
	}
}

func fakeIngresses(cs *fake.Clientset) func(ns, name string) (*networkingv1.Ingress, error) {
	return func(ns, name string) (*networkingv1.Ingress, error) {
		return cs.NetworkingV1().Ingresses(ns).Get(context.Background(), name, metav1.GetOptions{})
	}
}

func newNGINX(t *testing.T, o NGINXOptions) *NGINX {
	t.Helper()
	r, err := NewNGINX(o)
	require.NoError(t, err)
	return r
}

func TestNGINXConformanceOnFakes(t *testing.T) {
	cs := fake.NewClientset()
	meshtest.Run(t, meshtest.Harness{
		NewRouter: func(t *testing.T) canary.MeshRouter { return newNGINX(t, NGINXOptions{Client: cs.NetworkingV1()}) },
		NewTarget: func(t *testing.T) canary.Target {
			tg := newTarget()
			_, err := cs.NetworkingV1().Ingresses(tg.Namespace).Create(ctx(t), userIngress(tg), metav1.CreateOptions{})
			require.NoError(t, err)
			return tg
		},
		Inspect:      nginxInspect(t, fakeIngresses(cs)),
		Match:        nginxAB,
		MatchWeights: []canary.Weights{canary.AllPrimary(), canary.AllCanary(), canary.AllPrimary()},
	})
}

// The canary Ingress is the user's with the apex backends pointed at the canary Service, its
// labels and annotations (not kubectl's last applied configuration), owned by the router for
// the target; the user's Ingress is only read.
func TestNGINXCanaryIngressShape(t *testing.T) {
	tg := newTarget()
	tg.Ingress = "public"
	user := userIngress(tg)
	cs := fake.NewClientset(user.DeepCopy())
	r := newNGINX(t, NGINXOptions{Client: cs.NetworkingV1()})
	require.NoError(t, r.Reconcile(ctx(t), tg))
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(25)))

	got, err := cs.NetworkingV1().Ingresses(tg.Namespace).Get(ctx(t), "public-canary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"app": tg.Name, canary.LabelManagedBy: canary.ManagedBy}, got.Labels)
	assert.Equal(t, map[string]string{
		canary.AnnotationTarget:       tg.Name,
		"kubernetes.io/ingress.class": "nginx",
		ann + "configuration-snippet": user.Annotations[ann+"configuration-snippet"],
		ann + "canary":                "true",
		ann + "canary-weight":         "25",
		// what was copied from the user's Ingress, removed from the canary Ingress once the
		// user removes it
		canary.AnnotationMetadata: `{"labels":["app"],"annotations":["kubernetes.io/ingress.class","` + ann + `configuration-snippet"]}`,
	}, got.Annotations)
	want := user.Spec.DeepCopy()
	want.Rules[0].HTTP.Paths[0].Backend.Service.Name = tg.CanaryService()
	assert.Equal(t, *want, got.Spec, "only the apex backend is retargeted")

	after, err := cs.NetworkingV1().Ingresses(tg.Namespace).Get(ctx(t), "public", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, user, after, "the user's Ingress is unchanged")
	for _, a := range cs.Actions() {
		if a.GetVerb() != "get" {
			assert.NotEqual(t, "public", nameOf(a), "%s of the user's Ingress", a.GetVerb())
		}
	}
}

func nameOf(a interface{ GetVerb() string }) string {
	switch a := a.(type) {
	case interface{ GetName() string }:
		return a.GetName()
	case interface{ GetObject() any }:
		if o, ok := a.GetObject().(metav1.Object); ok {
			return o.GetName()
		}
	}
	return ""
}

// The canary Ingress's annotations at each step of a weighted release and of an A/B test.
func TestNGINXAnnotationsPerStep(t *testing.T) {
	state := func(t *testing.T, cs *fake.Clientset, tg canary.Target) map[string]string {
		ing, err := cs.NetworkingV1().Ingresses(tg.Namespace).Get(ctx(t), CanaryIngressName(tg), metav1.GetOptions{})
		require.NoError(t, err)
		out := map[string]string{}
		for k, v := range ing.Annotations {
			if len(k) > len(ann) && k[:len(ann)] == ann && k != ann+"configuration-snippet" {
				out[k[len(ann):]] = v
			}
		}
		return out
	}
	t.Run("Weighted", func(t *testing.T) {
		tg := newTarget()
		cs := fake.NewClientset(userIngress(tg))
		r := newNGINX(t, NGINXOptions{Client: cs.NetworkingV1()})
		require.NoError(t, r.Reconcile(ctx(t), tg))
		assert.Equal(t, map[string]string{"canary": "true", "canary-weight": "0"}, state(t, cs, tg), "created")
		for _, c := range []int{5, 10, 50, 0} {
			from := len(cs.Actions())
			require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(c)))
			assert.Equal(t, []string{"patch"}, verbs(&cs.Fake, from), "one request per step")
			assert.Equal(t, map[string]string{"canary": "true", "canary-weight": strconv.Itoa(c)}, state(t, cs, tg), "weight %d", c)
		}
	})
	t.Run("AB", func(t *testing.T) {
		for name, c := range map[string]struct {
			match []canary.Match
			want  map[string]string
		}{
			"header exact and cookie": {nginxAB, map[string]string{"canary-by-header": "x-canary", "canary-by-header-value": "insider", "canary-by-cookie": "canary"}},
			"header prefix":           {[]canary.Match{{Headers: map[string]canary.StringMatch{"user-agent": {Prefix: "Mozilla/5.0 (X11"}}}}, map[string]string{"canary-by-header": "user-agent", "canary-by-header-pattern": `^Mozilla/5\.0 \(X11.*`}},
			"header suffix":           {[]canary.Match{{Headers: map[string]canary.StringMatch{"x-tier": {Suffix: "+gold"}}}}, map[string]string{"canary-by-header": "x-tier", "canary-by-header-pattern": `.*\+gold$`}},
			"header regex":            {[]canary.Match{{Headers: map[string]canary.StringMatch{"user-agent": {Regex: "(?i).*firefox.*"}}}}, map[string]string{"canary-by-header": "user-agent", "canary-by-header-pattern": "(?i).*firefox.*"}},
			"cookie only":             {[]canary.Match{{Headers: map[string]canary.StringMatch{"Cookie": {Exact: "beta"}}}}, map[string]string{"canary-by-cookie": "beta"}},
		} {
			t.Run(name, func(t *testing.T) {
				tg := newTarget()
				tg.Match = c.match
				cs := fake.NewClientset(userIngress(tg))
				r := newNGINX(t, NGINXOptions{Client: cs.NetworkingV1()})
				require.NoError(t, r.Reconcile(ctx(t), tg))
				require.NoError(t, r.SetWeights(ctx(t), tg, canary.AllCanary()))
				want := map[string]string{"canary": "true", "canary-weight": "0"}
				maps.Copy(want, c.want)
				assert.Equal(t, want, state(t, cs, tg), "matching requests on the canary")
				require.NoError(t, r.SetWeights(ctx(t), tg, canary.AllPrimary()))
				assert.Equal(t, map[string]string{"canary": "true", "canary-weight": "0"}, state(t, cs, tg), "promoted or rolled back: no match left")
				require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(80)))
				w, err := r.Weights(ctx(t), tg)
				require.NoError(t, err)
				assert.Equal(t, canary.AllCanary(), w, "a weight above 0 sends every matching request to the canary")
			})
		}
	})
}

// Match conditions ingress-nginx cannot express are refused before any request.
func TestNGINXMatchUnsupported(t *testing.T) {
	for name, m := range map[string][]canary.Match{
		"two conditions in one entry": {{Headers: map[string]canary.StringMatch{"x-canary": {Exact: "a"}, "user-agent": {Prefix: "b"}}}},
		"two headers":                 {{Headers: map[string]canary.StringMatch{"x-canary": {Exact: "a"}}}, {Headers: map[string]canary.StringMatch{"x-other": {Exact: "b"}}}},
		"two cookies":                 {{Headers: map[string]canary.StringMatch{"cookie": {Exact: "a"}}}, {Headers: map[string]canary.StringMatch{"cookie": {Exact: "b"}}}},
		"cookie regex":                {{Headers: map[string]canary.StringMatch{"cookie": {Regex: "^(.*?;)?(type=insider)(;.*)?$"}}}},
	} {
		tg := newTarget()
		tg.Match = m
		cs := fake.NewClientset(userIngress(tg))
		r := newNGINX(t, NGINXOptions{Client: cs.NetworkingV1()})
		err := r.Reconcile(ctx(t), tg)
		assert.ErrorIs(t, err, canary.ErrMatchUnsupported, name)
		assert.True(t, canary.IsPermanent(err), name)
		assert.ErrorIs(t, r.SetWeights(ctx(t), tg, canary.AllCanary()), canary.ErrMatchUnsupported, name)
		assert.Empty(t, cs.Actions(), "%s: no request", name)
	}
}

func TestNGINXRefuses(t *testing.T) {
	t.Run("SomeoneElsesCanaryIngress", func(t *testing.T) {
		tg := newTarget()
		theirs := userIngress(tg)
		theirs.Name = CanaryIngressName(tg)
		cs := fake.NewClientset(userIngress(tg), theirs.DeepCopy())
		r := newNGINX(t, NGINXOptions{Client: cs.NetworkingV1()})
		err := r.Reconcile(ctx(t), tg)
		require.ErrorIs(t, err, ErrNotOwned)
		assert.True(t, canary.IsPermanent(err))
		err = r.SetWeights(ctx(t), tg, canary.CanaryWeight(10))
		require.ErrorIs(t, err, ErrNotOwned)
		got, err := cs.NetworkingV1().Ingresses(tg.Namespace).Get(ctx(t), theirs.Name, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, theirs, got, "left alone")
	})
	t.Run("NoApexBackend", func(t *testing.T) {
		tg := newTarget()
		ing := userIngress(tg)
		ing.Spec.Rules[0].HTTP.Paths = ing.Spec.Rules[0].HTTP.Paths[1:]
		r := newNGINX(t, NGINXOptions{Client: fake.NewClientset(ing).NetworkingV1()})
		err := r.Reconcile(ctx(t), tg)
		require.Error(t, err)
		assert.True(t, canary.IsPermanent(err))
		assert.Contains(t, err.Error(), "has no backend for service "+tg.ApexService())
	})
	t.Run("UserIngressIsACanary", func(t *testing.T) {
		tg := newTarget()
		ing := userIngress(tg)
		ing.Annotations[ann+"canary"] = "true"
		r := newNGINX(t, NGINXOptions{Client: fake.NewClientset(ing).NetworkingV1()})
		err := r.Reconcile(ctx(t), tg)
		require.Error(t, err)
		assert.True(t, canary.IsPermanent(err))
		assert.Contains(t, err.Error(), "is itself a canary Ingress")
	})
	t.Run("NoUserIngress", func(t *testing.T) {
		tg := newTarget()
		err := newNGINX(t, NGINXOptions{Client: fake.NewClientset().NetworkingV1()}).Reconcile(ctx(t), tg)
		require.Error(t, err)
		assert.False(t, canary.IsPermanent(err), "the Ingress may be applied with the Canary: retried")
		assert.Contains(t, err.Error(), "get Ingress test/"+tg.Name)
	})
	t.Run("Options", func(t *testing.T) {
		_, err := NewNGINX(NGINXOptions{AnnotationPrefix: "bad prefix/"})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "Client is required")
		assert.Contains(t, err.Error(), `AnnotationPrefix "bad prefix/"`)
	})
}

// The default backend (seed 000's Ingress has only one) is retargeted like a rule's.
func TestNGINXDefaultBackend(t *testing.T) {
	tg := newTarget()
	ing := userIngress(tg)
	ing.Spec = networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
		Name: tg.ApexService(), Port: networkingv1.ServiceBackendPort{Number: 9898}}}}
	cs := fake.NewClientset(ing)
	require.NoError(t, newNGINX(t, NGINXOptions{Client: cs.NetworkingV1()}).Reconcile(ctx(t), tg))
	got, err := cs.NetworkingV1().Ingresses(tg.Namespace).Get(ctx(t), CanaryIngressName(tg), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, tg.CanaryService(), got.Spec.DefaultBackend.Service.Name)
}

// Reconcile follows the user's Ingress (a new path, a changed annotation) and keeps the weights;
// a canary Ingress someone stripped of its annotations is put back by the next step.
func TestNGINXFollowsTheUserIngress(t *testing.T) {
	tg := newTarget()
	cs := fake.NewClientset(userIngress(tg))
	r := newNGINX(t, NGINXOptions{Client: cs.NetworkingV1(), AnnotationPrefix: "ingress.example.com"})
	require.NoError(t, r.Reconcile(ctx(t), tg))
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(30)))

	user, err := cs.NetworkingV1().Ingresses(tg.Namespace).Get(ctx(t), tg.IngressName(), metav1.GetOptions{})
	require.NoError(t, err)
	user.Annotations["kubernetes.io/ingress.class"] = "public"
	user.Spec.Rules = append(user.Spec.Rules, networkingv1.IngressRule{Host: "www.example.com", IngressRuleValue: user.Spec.Rules[0].IngressRuleValue})
	_, err = cs.NetworkingV1().Ingresses(tg.Namespace).Update(ctx(t), user, metav1.UpdateOptions{})
	require.NoError(t, err)

	w, err := r.ReconcileWeights(ctx(t), tg)
	require.NoError(t, err)
	assert.Equal(t, canary.CanaryWeight(30), w)
	got, err := cs.NetworkingV1().Ingresses(tg.Namespace).Get(ctx(t), CanaryIngressName(tg), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "public", got.Annotations["kubernetes.io/ingress.class"])
	assert.Equal(t, "30", got.Annotations["ingress.example.com/canary-weight"], "the prefix given")
	require.Len(t, got.Spec.Rules, 2)
	assert.Equal(t, tg.CanaryService(), got.Spec.Rules[1].HTTP.Paths[0].Backend.Service.Name)

	from := len(cs.Actions())
	require.NoError(t, r.Reconcile(ctx(t), tg))
	assert.Equal(t, []string{"get", "get"}, verbs(&cs.Fake, from), "in shape: Reconcile only reads")

	got.Annotations = nil
	_, err = cs.NetworkingV1().Ingresses(tg.Namespace).Update(ctx(t), got, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(40)))
	w, err = r.Weights(ctx(t), tg)
	require.NoError(t, err)
	assert.Equal(t, canary.CanaryWeight(40), w, "the rejected patch is followed by a reshape")
}

// Weights read what another writer may have stored: canary-weight-total, a missing weight, a
// canary Ingress that is not one.
func TestNGINXWeightsRead(t *testing.T) {
	r := newNGINX(t, NGINXOptions{Client: fake.NewClientset().NetworkingV1()})
	tg := newTarget()
	for name, c := range map[string]struct {
		a    map[string]string
		want canary.Weights
		err  string
	}{
		"percent":        {map[string]string{"canary": "true", "canary-weight": "35"}, canary.CanaryWeight(35), ""},
		"missing weight": {map[string]string{"canary": "true"}, canary.AllPrimary(), ""},
		"total":          {map[string]string{"canary": "true", "canary-weight": "250", "canary-weight-total": "1000"}, canary.CanaryWeight(25), ""},
		"not a canary":   {map[string]string{"canary-weight": "10"}, canary.Weights{}, "not \"true\""},
		"bad weight":     {map[string]string{"canary": "true", "canary-weight": "ten"}, canary.Weights{}, `"ten" is not a non-negative integer`},
		"long value":     {map[string]string{"canary": strings.Repeat("x", 10000)}, canary.Weights{}, `is "` + strings.Repeat("x", 64) + `"…, not`},
		"over total":     {map[string]string{"canary": "true", "canary-weight": "120"}, canary.Weights{}, "out of a total of 100"},
	} {
		ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "test", Annotations: map[string]string{}}}
		for k, v := range c.a {
			ing.Annotations[ann+k] = v
		}
		w, err := r.weights(ing, tg)
		if c.err != "" {
			require.Error(t, err, name)
			assert.Contains(t, err.Error(), c.err, name)
			continue
		}
		require.NoError(t, err, name)
		assert.Equal(t, c.want, w, name)
	}
}

// Reconcile brings the A/B annotations in line with the target's match conditions: new
// conditions replace the old ones while matching requests go to the canary, and a target that
// no longer tests A/B loses them.
func TestNGINXReconcileFollowsTheMatch(t *testing.T) {
	tg := newTarget()
	tg.Match = nginxAB
	cs := fake.NewClientset(userIngress(tg))
	r := newNGINX(t, NGINXOptions{Client: cs.NetworkingV1()})
	require.NoError(t, r.Reconcile(ctx(t), tg))
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.AllCanary()))
	annotations := func() map[string]string {
		ing, err := cs.NetworkingV1().Ingresses(tg.Namespace).Get(ctx(t), CanaryIngressName(tg), metav1.GetOptions{})
		require.NoError(t, err)
		return ing.Annotations
	}

	tg.Match = []canary.Match{{Headers: map[string]canary.StringMatch{"x-canary": {Exact: "beta"}}}}
	w, err := r.ReconcileWeights(ctx(t), tg)
	require.NoError(t, err)
	assert.Equal(t, canary.AllCanary(), w)
	a := annotations()
	assert.Equal(t, "beta", a[ann+"canary-by-header-value"])
	assert.NotContains(t, a, ann+"canary-by-cookie", "the cookie condition is gone")

	tg.Match = nil
	w, err = r.ReconcileWeights(ctx(t), tg)
	require.NoError(t, err)
	assert.Equal(t, canary.AllPrimary(), w, "canary-weight stayed 0 during the A/B test")
	a = annotations()
	for _, k := range []string{"canary-by-header", "canary-by-header-value", "canary-by-cookie"} {
		assert.NotContains(t, a, ann+k)
	}
	assert.Equal(t, "true", a[ann+"canary"])
}

// A label or annotation the user removes from their Ingress is removed from the canary
// Ingress at its next reshape; what others wrote on the canary Ingress itself is kept. Before,
// everything once copied stayed for the canary Ingress's life (an auth or rate-limit
// annotation the user took off went on applying to the canary's share of the traffic).
func TestNGINXReshapeFollowsTheUsersIngress(t *testing.T) {
	tg := newTarget()
	tg.Ingress = "public"
	cs := fake.NewClientset(userIngress(tg))
	r := newNGINX(t, NGINXOptions{Client: cs.NetworkingV1()})
	require.NoError(t, r.Reconcile(ctx(t), tg))
	ings := cs.NetworkingV1().Ingresses(tg.Namespace)

	canaryIng, err := ings.Get(ctx(t), "public-canary", metav1.GetOptions{})
	require.NoError(t, err)
	canaryIng.Annotations["example.com/audited"] = "yes" // another tool's, on the canary Ingress
	_, err = ings.Update(ctx(t), canaryIng, metav1.UpdateOptions{})
	require.NoError(t, err)
	user, err := ings.Get(ctx(t), "public", metav1.GetOptions{})
	require.NoError(t, err)
	delete(user.Annotations, ann+"configuration-snippet")
	user.Annotations[ann+"auth-url"] = "https://auth.example.com/"
	user.Labels = map[string]string{"team": "web"}
	_, err = ings.Update(ctx(t), user, metav1.UpdateOptions{})
	require.NoError(t, err)

	require.NoError(t, r.Reconcile(ctx(t), tg))
	got, err := ings.Get(ctx(t), "public-canary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.NotContains(t, got.Annotations, ann+"configuration-snippet", "removed from the user's Ingress")
	assert.Equal(t, "https://auth.example.com/", got.Annotations[ann+"auth-url"])
	assert.Equal(t, "yes", got.Annotations["example.com/audited"], "another's annotation on the canary Ingress is kept")
	assert.Equal(t, map[string]string{"team": "web", canary.LabelManagedBy: canary.ManagedBy}, got.Labels)
	assert.Equal(t, "true", got.Annotations[ann+"canary"])
	assert.Equal(t, tg.Name, got.Annotations[canary.AnnotationTarget])
}

// The copy follows the user's Ingress however many labels and annotations it has: a
// Kubernetes object may hold more than a canary.Metadata of a spec (64 of each), and the
// record of what was copied listed them all but was read back as none, so an annotation the
// user removed stayed on the canary Ingress.
func TestNGINXReshapeFollowsAUsersIngressOfManyAnnotations(t *testing.T) {
	tg := newTarget()
	tg.Ingress = "public"
	user := userIngress(tg)
	for i := range 80 {
		user.Annotations[fmt.Sprintf("example.com/a%02d", i)] = "x"
		user.Labels[fmt.Sprintf("l%02d", i)] = "x"
	}
	cs := fake.NewClientset(user)
	r := newNGINX(t, NGINXOptions{Client: cs.NetworkingV1()})
	require.NoError(t, r.Reconcile(ctx(t), tg))
	ings := cs.NetworkingV1().Ingresses(tg.Namespace)
	got, err := ings.Get(ctx(t), "public-canary", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "x", got.Annotations["example.com/a00"])
	require.Equal(t, "x", got.Labels["l00"])

	user, err = ings.Get(ctx(t), "public", metav1.GetOptions{})
	require.NoError(t, err)
	delete(user.Annotations, "example.com/a00")
	delete(user.Labels, "l00")
	_, err = ings.Update(ctx(t), user, metav1.UpdateOptions{})
	require.NoError(t, err)

	require.NoError(t, r.Reconcile(ctx(t), tg))
	got, err = ings.Get(ctx(t), "public-canary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.NotContains(t, got.Annotations, "example.com/a00", "removed from the user's Ingress")
	assert.NotContains(t, got.Labels, "l00", "removed from the user's Ingress")
	assert.Equal(t, "x", got.Annotations["example.com/a01"])
}
