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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/kube"
)

var virtualServices = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}

// affinityCanaryYAML is a Flagger Canary for podinfo in ns with provider istio and session
// affinity, as Flagger's Istio docs write it (with a primary cookie and an hour's max age).
func affinityCanaryYAML(ns string) string {
	return fmt.Sprintf(`apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: %s}
spec:
  provider: istio
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  progressDeadlineSeconds: 60
  service: {port: 9898}
  analysis:
    interval: 1s
    threshold: 10
    maxWeight: 60
    stepWeight: 20
    sessionAffinity: {cookieName: flagger-cookie, primaryCookieName: flagger-primary, maxAge: 3600, sameSite: Lax, secure: true}
`, ns)
}

func statusString(obj *unstructured.Unstructured, field string) string {
	s, _, _ := unstructured.NestedString(obj.Object, "status", field)
	return s
}

// TestReleaseSessionAffinityIstio drives a release with Flagger's session affinity through
// Istio on the real API server with Istio's and Flagger's CRDs, under exactly kube.RBAC(),
// kube.FlaggerRBAC() and the Istio router's rules, its status on the Canary: while the canary
// has weight the Canary's status shows sessionAffinityCookie and the VirtualService routes that
// cookie to the canary and sets it on the canary's responses; a driver stopped mid-release is
// followed by one that keeps the same cookie; after the promotion the status shows it as
// previousSessionAffinityCookie, and the VirtualService's route for it sends to the primary
// and expires it.
func TestReleaseSessionAffinityIstio(t *testing.T) {
	env := testenv.Shared(t)
	ctx, _, ns := bedNamespace(t, env, testenv.CanaryCRD(t))
	testenv.InstallCRDs(t, env.Config(), testenv.IstioCRDs(t)...)
	ctx, cancel := context.WithTimeout(ctx, testBound)
	defer cancel()
	createPodinfo(ctx, t, env, ns)
	user, cfg := env.NewUser(t)
	env.Grant(t, user, ns, slices.Concat(embeddedRules(t, kube.RBAC(), kube.FlaggerRBAC()), istioRules)...)
	admin, err := dynamic.NewForConfig(env.Config())
	require.NoError(t, err)
	c := applyCanary(ctx, t, env, affinityCanaryYAML(ns))
	require.NotNil(t, c.Spec.SessionAffinity)
	c.Spec.Interval = 500 * time.Millisecond // shorter than a manifest may say, for the test's sake
	newDriver := func() *Driver {
		d, err := New(Options{Config: cfg, Identity: "canarykit", CanaryStatus: true, Logger: testr.New(t)})
		require.NoError(t, err)
		t.Cleanup(d.Close)
		return d
	}
	vs := func() []map[string]any {
		u, err := admin.Resource(virtualServices).Namespace(ns).Get(ctx, "podinfo", metav1.GetOptions{})
		require.NoError(t, err)
		http, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
		out := make([]map[string]any, len(http))
		for i, r := range http {
			out[i] = r.(map[string]any)
		}
		return out
	}
	cookieRegex := func(route map[string]any) string {
		m, _ := route["match"].([]any)
		if len(m) == 0 {
			return ""
		}
		s, _, _ := unstructured.NestedString(m[0].(map[string]any), "headers", "Cookie", "regex")
		return s
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
	value := cookie[len("flagger-cookie="):]

	http := vs()
	require.Len(t, http, 3, "the canary cookie's route, the primary cookie's, the weighted route")
	assert.Equal(t, ".*flagger-cookie.*"+value+".*", cookieRegex(http[0]))
	assert.Equal(t, ".*flagger-primary.*"+primaryCookie[len("flagger-primary="):]+".*", cookieRegex(http[1]))
	add, _, _ := unstructured.NestedStringMap(http[2]["route"].([]any)[1].(map[string]any), "headers", "response", "add")
	assert.Equal(t, map[string]string{"Set-Cookie": cookie + "; Max-Age=3600; SameSite=Lax; Secure"}, add)

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
	assert.Equal(t, ".*flagger-cookie.*"+value+".*", cookieRegex(vs()[0]))
	rr = awaitRun(ctx, t, done)
	require.Equal(t, canary.PhaseSucceeded, rr.res.Phase, rr.res.Reason)

	end := getCanary(ctx, t, env, ns)
	assert.Empty(t, statusString(end, "sessionAffinityCookie"), "no cookie once the canary has no weight")
	assert.Equal(t, cookie, statusString(end, "previousSessionAffinityCookie"))
	assert.Equal(t, primaryCookie, statusString(end, "primarySessionAffinityCookie"))
	http = vs()
	require.Len(t, http, 2, "the expiring cookie's route, the weighted route")
	assert.Equal(t, ".*flagger-cookie.*"+value+".*", cookieRegex(http[0]))
	add, _, _ = unstructured.NestedStringMap(http[0], "headers", "response", "add")
	assert.Equal(t, map[string]string{"Set-Cookie": cookie + "; Max-Age=-1"}, add)
	for _, route := range http {
		dests := route["route"].([]any)
		w, _, _ := unstructured.NestedInt64(dests[1].(map[string]any), "weight")
		assert.Zero(t, w, "no route sends to the canary")
	}
}
