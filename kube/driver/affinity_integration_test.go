package driver

import (
	"context"
	"fmt"
	"regexp"
	"slices"
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
	"k8s.io/client-go/dynamic"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/kube"
)

// stickyRoute is what a route (Istio) or rule (HTTPRoute) of a release with session affinity
// says: the Cookie header regex it matches ("" for none), the canary's weight, the Set-Cookie the
// canary's destination adds, and the Set-Cookie the route itself adds.
type stickyRoute struct {
	Regex, CanarySetCookie, SetCookie string
	Canary                            int64
}

// vsSticky reads a VirtualService's HTTP routes.
func vsSticky(u *unstructured.Unstructured) []stickyRoute {
	http, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
	var out []stickyRoute
	for _, x := range http {
		route := x.(map[string]any)
		var s stickyRoute
		if m, _ := route["match"].([]any); len(m) > 0 {
			s.Regex, _, _ = unstructured.NestedString(m[0].(map[string]any), "headers", "Cookie", "regex")
		}
		s.SetCookie, _, _ = unstructured.NestedString(route, "headers", "response", "add", "Set-Cookie")
		if dests, _ := route["route"].([]any); len(dests) == 2 {
			d := dests[1].(map[string]any)
			s.Canary, _, _ = unstructured.NestedInt64(d, "weight")
			s.CanarySetCookie, _, _ = unstructured.NestedString(d, "headers", "response", "add", "Set-Cookie")
		}
		out = append(out, s)
	}
	return out
}

// setCookieOf is the Set-Cookie value a list of Gateway API filters adds ("" for none).
func setCookieOf(filters []any) string {
	for _, f := range filters {
		add, _, _ := unstructured.NestedSlice(f.(map[string]any), "responseHeaderModifier", "add")
		for _, h := range add {
			if name, _, _ := unstructured.NestedString(h.(map[string]any), "name"); name == "Set-Cookie" {
				v, _, _ := unstructured.NestedString(h.(map[string]any), "value")
				return v
			}
		}
	}
	return ""
}

// httpRouteSticky reads an HTTPRoute's rules.
func httpRouteSticky(u *unstructured.Unstructured) []stickyRoute {
	rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
	var out []stickyRoute
	for _, x := range rules {
		rule := x.(map[string]any)
		var s stickyRoute
		if m, _ := rule["matches"].([]any); len(m) > 0 {
			if hs, _, _ := unstructured.NestedSlice(m[0].(map[string]any), "headers"); len(hs) > 0 {
				s.Regex, _, _ = unstructured.NestedString(hs[0].(map[string]any), "value")
			}
		}
		filters, _, _ := unstructured.NestedSlice(rule, "filters")
		s.SetCookie = setCookieOf(filters)
		if refs, _ := rule["backendRefs"].([]any); len(refs) == 2 {
			b := refs[1].(map[string]any)
			s.Canary, _, _ = unstructured.NestedInt64(b, "weight")
			bf, _, _ := unstructured.NestedSlice(b, "filters")
			s.CanarySetCookie = setCookieOf(bf)
		}
		out = append(out, s)
	}
	return out
}

// affinityCanaryYAML is a Flagger Canary for podinfo in ns with the provider and session
// affinity, as Flagger's docs write it (with a primary cookie and an hour's max age).
func affinityCanaryYAML(ns, provider string) string {
	return fmt.Sprintf(`apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: %s}
spec:
  provider: %s
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  progressDeadlineSeconds: 60
  service: {port: 9898}
  analysis:
    interval: 1s
    threshold: 10
    maxWeight: 60
    stepWeight: 20
    sessionAffinity: {cookieName: flagger-cookie, primaryCookieName: flagger-primary, maxAge: 3600, sameSite: Lax, secure: true}
`, ns, provider)
}

func statusString(obj *unstructured.Unstructured, field string) string {
	s, _, _ := unstructured.NestedString(obj.Object, "status", field)
	return s
}

// TestReleaseSessionAffinity drives a release with Flagger's session affinity through Istio
// and through Gateway API on the real API server with their CRDs and Flagger's, under exactly
// kube.RBAC(), kube.FlaggerRBAC() and the router's rules, its status on the Canary: while the
// canary has weight the Canary's status shows sessionAffinityCookie and the route sends that
// cookie to the canary and sets it on the canary's responses; a driver stopped mid-release is
// followed by one that keeps the same cookie; after the promotion the status shows it as
// previousSessionAffinityCookie, and the route's rule for it sends to the primary and expires
// it.
func TestReleaseSessionAffinity(t *testing.T) {
	env := testenv.Shared(t)
	for _, rk := range []struct {
		name, provider string
		gvr            schema.GroupVersionResource
		crds           func(testing.TB) []*apiextensionsv1.CustomResourceDefinition
		rules          []rbacv1.PolicyRule
		read           func(*unstructured.Unstructured) []stickyRoute
	}{
		{"Istio", "istio", schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"},
			testenv.IstioCRDs, istioRules, vsSticky},
		{"GatewayAPI", "gatewayapi:v1", schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"},
			testenv.GatewayAPICRDs, []rbacv1.PolicyRule{{APIGroups: []string{"gateway.networking.k8s.io"}, Resources: []string{"httproutes"},
				Verbs: []string{"get", "create", "update", "patch"}}}, httpRouteSticky},
	} {
		t.Run(rk.name, func(t *testing.T) {
			ctx, _, ns := bedNamespace(t, env, testenv.CanaryCRD(t))
			testenv.InstallCRDs(t, env.Config(), rk.crds(t)...)
			ctx, cancel := context.WithTimeout(ctx, testBound)
			defer cancel()
			createPodinfo(ctx, t, env, ns)
			user, cfg := env.NewUser(t)
			env.Grant(t, user, ns, slices.Concat(embeddedRules(t, kube.RBAC(), kube.FlaggerRBAC()), rk.rules)...)
			admin, err := dynamic.NewForConfig(env.Config())
			require.NoError(t, err)
			c := applyCanary(ctx, t, env, affinityCanaryYAML(ns, rk.provider))
			require.NotNil(t, c.Spec.SessionAffinity)
			c.Spec.Interval = 500 * time.Millisecond // shorter than a manifest may say, for the test's sake
			newDriver := func() *Driver {
				d, err := New(Options{Config: cfg, Identity: "canarykit", CanaryStatus: true, Logger: testr.New(t)})
				require.NoError(t, err)
				t.Cleanup(d.Close)
				return d
			}
			route := func() []stickyRoute {
				u, err := admin.Resource(rk.gvr).Namespace(ns).Get(ctx, "podinfo", metav1.GetOptions{})
				require.NoError(t, err)
				return rk.read(u)
			}

			d := newDriver()
			rel, err := d.Release(ctx, c, nil)
			require.NoError(t, err)
			res, err := rel.Run(ctx)
			require.NoError(t, err)
			require.Equal(t, canary.PhaseInitialized, res.Phase, res.Reason)

			patch := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"podinfo:2"}]}}}}`)
			_, err = env.Client().AppsV1().Deployments(ns).Patch(ctx, "podinfo", types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			require.NoError(t, err)
			first, stop := context.WithCancel(ctx)
			rel, err = d.Release(first, c, nil)
			require.NoError(t, err)
			done := runAsync(first, rel)
			mid := pollCanary(ctx, t, env, ns, "the first weighted step", func(o *unstructured.Unstructured) bool {
				return phaseOf(o) == "Progressing" && weightOf(o) == 20
			})
			cookie := statusString(mid, "sessionAffinityCookie")
			require.Regexp(t, regexp.MustCompile(`^flagger-cookie=[A-Z2-7]{26}$`), cookie, "the release's cookie in the Canary's status")
			primaryCookie := statusString(mid, "primarySessionAffinityCookie")
			require.Regexp(t, regexp.MustCompile(`^flagger-primary=[A-Z2-7]{26}$`), primaryCookie)
			regex := ".*flagger-cookie.*" + cookie[len("flagger-cookie="):] + ".*"
			assert.Equal(t, []stickyRoute{
				{Regex: regex, Canary: 100},
				{Regex: ".*flagger-primary.*" + primaryCookie[len("flagger-primary="):] + ".*", Canary: 0},
				{Canary: 20, CanarySetCookie: cookie + "; Max-Age=3600; SameSite=Lax; Secure"},
			}, route(), "the canary cookie's route, the primary cookie's, the weighted route")

			// the driving process dies; another resumes the release with the same cookie
			stop()
			rr := <-done
			require.ErrorIs(t, rr.err, context.Canceled)
			d.Close()
			d = newDriver()
			rel, err = d.Release(ctx, c, nil)
			require.NoError(t, err)
			done = runAsync(ctx, rel)
			later := pollCanary(ctx, t, env, ns, "a later step", func(o *unstructured.Unstructured) bool {
				return phaseOf(o) == "Progressing" && weightOf(o) >= 40
			})
			assert.Equal(t, cookie, statusString(later, "sessionAffinityCookie"), "the resumed release keeps its cookie")
			assert.Equal(t, regex, route()[0].Regex)
			rr = awaitRun(ctx, t, done)
			require.Equal(t, canary.PhaseSucceeded, rr.res.Phase, rr.res.Reason)

			end := getCanary(ctx, t, env, ns)
			assert.Empty(t, statusString(end, "sessionAffinityCookie"), "no cookie once the canary has no weight")
			assert.Equal(t, cookie, statusString(end, "previousSessionAffinityCookie"))
			assert.Equal(t, primaryCookie, statusString(end, "primarySessionAffinityCookie"))
			assert.Equal(t, []stickyRoute{
				{Regex: regex, SetCookie: cookie + "; Max-Age=-1"},
				{},
			}, route(), "the expiring cookie's route to the primary, the weighted route all on the primary")
		})
	}
}
