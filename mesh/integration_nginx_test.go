package mesh_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/mesh"
	"github.com/canarykit/canarykit/mesh/meshtest"
)

// nginxRBAC is what package doc says the NGINX router needs.
var nginxRBAC = []rbacv1.PolicyRule{
	{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"}, Verbs: []string{"get", "create", "update", "patch"}},
}

const nginxPrefix = mesh.NGINXAnnotationPrefix + "/"

// nginxMatch is the A/B test ingress-nginx can express: one header, one cookie by name.
var nginxMatch = []canary.Match{
	{Headers: map[string]canary.StringMatch{"x-canary": {Exact: "insider"}}},
	{Headers: map[string]canary.StringMatch{"cookie": {Exact: "canary"}}},
}

type nginxBed struct {
	*bed
	client kubernetes.Interface // the router's, with nginxRBAC only
}

func newNGINXBed(t *testing.T) *nginxBed {
	b := &nginxBed{bed: newBed(t, nginxRBAC...)}
	var err error
	b.client, err = kubernetes.NewForConfig(b.cfg)
	require.NoError(t, err)
	return b
}

func (b *nginxBed) router(t *testing.T) *mesh.NGINX {
	r, err := mesh.NewNGINX(mesh.NGINXOptions{Client: b.client.NetworkingV1()})
	require.NoError(t, err)
	return r
}

// target is a target with its Services and, created by the admin, the user's Ingress in front
// of the apex Service, named after the target with an "-public" suffix, as seed 000 writes it
// (ingress class annotation, Linkerd's l5d-dst-override snippet) plus a second host.
func (b *nginxBed) target(t *testing.T) canary.Target {
	tg := b.bed.target(t)
	tg.Ingress = tg.Name + "-public"
	prefix := networkingv1.PathTypePrefix
	paths := networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
		Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
			Name: tg.ApexService(), Port: networkingv1.ServiceBackendPort{Number: 9898}}},
	}}}}
	_, err := b.kube.NetworkingV1().Ingresses(b.ns).Create(bg(t), &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: tg.Ingress, Labels: map[string]string{"app": tg.Name}, Annotations: map[string]string{
			"kubernetes.io/ingress.class":         "nginx",
			nginxPrefix + "configuration-snippet": "proxy_set_header l5d-dst-override $service_name.$namespace.svc.cluster.local:$service_port;\n",
		}},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{
			{Host: "app.example.com", IngressRuleValue: paths},
			{Host: "www.example.com", IngressRuleValue: paths},
		}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	return tg
}

// canaryAnnotations reads the canary Ingress's canary annotations (prefix cut) as stored.
func (b *nginxBed) canaryAnnotations(t *testing.T, tg canary.Target) map[string]string {
	t.Helper()
	ing, err := b.kube.NetworkingV1().Ingresses(b.ns).Get(bg(t), mesh.CanaryIngressName(tg), metav1.GetOptions{})
	require.NoError(t, err)
	out := map[string]string{}
	for k, v := range ing.Annotations {
		if rest, ok := strings.CutPrefix(k, nginxPrefix+"canary"); ok {
			out["canary"+rest] = v
		}
	}
	return out
}

// inspect reads the weights from the stored annotations without the router.
func (b *nginxBed) inspect(t *testing.T, tg canary.Target) canary.Weights {
	a := b.canaryAnnotations(t, tg)
	require.Equal(t, "true", a["canary"])
	if a["canary-by-header"] != "" || a["canary-by-cookie"] != "" {
		require.Equal(t, "0", a["canary-weight"])
		return canary.AllCanary()
	}
	n, err := strconv.Atoi(a["canary-weight"])
	require.NoError(t, err)
	return canary.CanaryWeight(n)
}

// The NGINX router on a real API server, with only the RBAC its package doc lists: the
// conformance suite, the annotations of a weighted release and of an A/B test at each step,
// the requests each call costs, and the user's Ingress never written.
func TestIntegrationNGINX(t *testing.T) {
	b := newNGINXBed(t)
	meshtest.Run(t, meshtest.Harness{
		NewRouter:    func(t *testing.T) canary.MeshRouter { return b.router(t) },
		NewTarget:    b.target,
		Inspect:      b.inspect,
		Match:        nginxMatch,
		MatchWeights: []canary.Weights{canary.AllPrimary(), canary.AllCanary(), canary.AllPrimary()},
	})

	// release runs steps on a new target and checks the canary annotations after each, and
	// that the user's Ingress was never written.
	release := func(t *testing.T, match []canary.Match, steps []canary.Weights, want []map[string]string) {
		r, tg := b.router(t), b.target(t)
		tg.Match = match
		user, err := b.kube.NetworkingV1().Ingresses(b.ns).Get(bg(t), tg.Ingress, metav1.GetOptions{})
		require.NoError(t, err)
		var events testenv.AuditEvents
		counts := b.audit(t, func() {
			mark := b.env.AuditMark(t)
			require.NoError(t, r.Reconcile(bg(t), tg))
			assert.Equal(t, map[string]string{"canary": "true", "canary-weight": "0"}, b.canaryAnnotations(t, tg), "created at 100% primary")
			for i, w := range steps {
				require.NoError(t, r.SetWeights(bg(t), tg, w))
				assert.Equal(t, want[i], b.canaryAnnotations(t, tg), "after SetWeights(%s)", w)
				got, err := r.Weights(bg(t), tg)
				require.NoError(t, err)
				want := w
				if len(match) > 0 && w.Canary > 0 {
					want = canary.AllCanary()
				}
				assert.Equal(t, want, got, "read back after SetWeights(%s)", w)
			}
			events = b.env.AuditSince(t, mark).ForUser(b.user)
		})
		for _, e := range events {
			if e.Name == tg.Ingress {
				assert.Equal(t, "get", e.Verb, "the user's Ingress is only read")
			}
		}
		assert.Equal(t, len(steps), counts[testenv.AuditKey{User: b.user, Verb: "patch", Resource: "ingresses"}], "one patch per step")
		after, err := b.kube.NetworkingV1().Ingresses(b.ns).Get(bg(t), tg.Ingress, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, user.ResourceVersion, after.ResourceVersion, "the user's Ingress is unchanged")

		canaryIng, err := b.kube.NetworkingV1().Ingresses(b.ns).Get(bg(t), mesh.CanaryIngressName(tg), metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, canary.ManagedBy, canaryIng.Labels[canary.LabelManagedBy])
		assert.Equal(t, "nginx", canaryIng.Annotations["kubernetes.io/ingress.class"])
		assert.Equal(t, user.Annotations[nginxPrefix+"configuration-snippet"], canaryIng.Annotations[nginxPrefix+"configuration-snippet"])
		require.Len(t, canaryIng.Spec.Rules, 2)
		for _, rule := range canaryIng.Spec.Rules {
			assert.Equal(t, tg.CanaryService(), rule.HTTP.Paths[0].Backend.Service.Name)
		}
	}
	weighted := func(c int) map[string]string {
		return map[string]string{"canary": "true", "canary-weight": strconv.Itoa(c)}
	}
	atRest := weighted(0)

	t.Run("WeightedPromotion", func(t *testing.T) {
		steps := []canary.Weights{canary.CanaryWeight(10), canary.CanaryWeight(20), canary.CanaryWeight(30), canary.AllPrimary()}
		release(t, nil, steps, []map[string]string{weighted(10), weighted(20), weighted(30), atRest})
	})
	t.Run("WeightedRollback", func(t *testing.T) {
		steps := []canary.Weights{canary.CanaryWeight(5), canary.AllPrimary()}
		release(t, nil, steps, []map[string]string{weighted(5), atRest})
	})
	t.Run("ABHeader", func(t *testing.T) {
		match := []canary.Match{{Headers: map[string]canary.StringMatch{"user-agent": {Regex: ".*Firefox.*"}}}}
		ab := map[string]string{"canary": "true", "canary-weight": "0", "canary-by-header": "user-agent", "canary-by-header-pattern": ".*Firefox.*"}
		release(t, match, []canary.Weights{canary.AllCanary(), canary.AllCanary(), canary.AllPrimary()}, []map[string]string{ab, ab, atRest})
	})
	t.Run("ABHeaderAndCookie", func(t *testing.T) {
		ab := map[string]string{"canary": "true", "canary-weight": "0", "canary-by-header": "x-canary", "canary-by-header-value": "insider",
			"canary-by-cookie": "canary"}
		release(t, nginxMatch, []canary.Weights{canary.AllCanary(), canary.AllPrimary()}, []map[string]string{ab, atRest})
	})

	t.Run("RequestsPerCall", func(t *testing.T) {
		r, tg := b.router(t), b.target(t)
		require.NoError(t, r.Reconcile(bg(t), tg))
		counts := b.audit(t, func() { require.NoError(t, r.SetWeights(bg(t), tg, canary.CanaryWeight(10))) })
		assert.Equal(t, testenv.AuditCounts{{User: b.user, Verb: "patch", Resource: "ingresses"}: 1}, counts, "SetWeights costs one request")
		counts = b.audit(t, func() { require.NoError(t, r.Reconcile(bg(t), tg)) })
		assert.Equal(t, testenv.AuditCounts{{User: b.user, Verb: "get", Resource: "ingresses"}: 2}, counts,
			"a stored canary Ingress equals the router's, defaults included: Reconcile reads it and the user's")
	})

	// A GitOps tool re-applying the user's Ingress with a change (a new host, another class)
	// changes no weight; the next Reconcile carries the change to the canary Ingress.
	t.Run("FollowsTheUserIngress", func(t *testing.T) {
		r, tg := b.router(t), b.target(t)
		require.NoError(t, r.Reconcile(bg(t), tg))
		require.NoError(t, r.SetWeights(bg(t), tg, canary.CanaryWeight(30)))
		user, err := b.kube.NetworkingV1().Ingresses(b.ns).Get(bg(t), tg.Ingress, metav1.GetOptions{})
		require.NoError(t, err)
		user.Annotations["kubernetes.io/ingress.class"] = "public"
		user.Spec.Rules = append(user.Spec.Rules, networkingv1.IngressRule{Host: "beta.example.com", IngressRuleValue: user.Spec.Rules[0].IngressRuleValue})
		_, err = b.kube.NetworkingV1().Ingresses(b.ns).Update(bg(t), user, metav1.UpdateOptions{})
		require.NoError(t, err)
		assert.Equal(t, canary.CanaryWeight(30), b.inspect(t, tg))

		w, err := r.ReconcileWeights(bg(t), tg)
		require.NoError(t, err)
		assert.Equal(t, canary.CanaryWeight(30), w)
		got, err := b.kube.NetworkingV1().Ingresses(b.ns).Get(bg(t), mesh.CanaryIngressName(tg), metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, "public", got.Annotations["kubernetes.io/ingress.class"])
		require.Len(t, got.Spec.Rules, 3)
		assert.Equal(t, "beta.example.com", got.Spec.Rules[2].Host)
		assert.Equal(t, tg.CanaryService(), got.Spec.Rules[2].HTTP.Paths[0].Backend.Service.Name)
		assert.Equal(t, canary.CanaryWeight(30), b.inspect(t, tg), "the weights are kept")
	})

	// Without patch, a step is forbidden: a permanent error, the canary Ingress as it was.
	t.Run("Forbidden", func(t *testing.T) {
		tg := b.target(t)
		require.NoError(t, b.router(t).Reconcile(bg(t), tg))
		name, cfg := b.env.NewUser(t)
		b.env.Grant(t, name, b.ns, rbacv1.PolicyRule{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"},
			Verbs: []string{"get", "create", "update"}})
		client, err := kubernetes.NewForConfig(cfg)
		require.NoError(t, err)
		r, err := mesh.NewNGINX(mesh.NGINXOptions{Client: client.NetworkingV1()})
		require.NoError(t, err)
		err = r.SetWeights(bg(t), tg, canary.CanaryWeight(10))
		require.Error(t, err)
		assert.True(t, permanent(err), "forbidden is permanent: %v", err)
		assert.Contains(t, err.Error(), "patch Ingress "+b.ns+"/"+mesh.CanaryIngressName(tg))
		assert.Equal(t, canary.AllPrimary(), b.inspect(t, tg))
	})

	t.Run("NotOwned", func(t *testing.T) {
		r, tg := b.router(t), b.target(t)
		user, err := b.kube.NetworkingV1().Ingresses(b.ns).Get(bg(t), tg.Ingress, metav1.GetOptions{})
		require.NoError(t, err)
		theirs := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: mesh.CanaryIngressName(tg),
			Annotations: map[string]string{nginxPrefix + "canary": "true", nginxPrefix + "canary-weight": "50"}}, Spec: user.Spec}
		_, err = b.kube.NetworkingV1().Ingresses(b.ns).Create(bg(t), theirs, metav1.CreateOptions{})
		require.NoError(t, err)
		assert.ErrorIs(t, r.Reconcile(bg(t), tg), mesh.ErrNotOwned)
		assert.ErrorIs(t, r.SetWeights(bg(t), tg, canary.CanaryWeight(10)), mesh.ErrNotOwned)
		assert.Equal(t, "50", b.canaryAnnotations(t, tg)["canary-weight"], "someone else's canary Ingress is left alone")
	})
}
