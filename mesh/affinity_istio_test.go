package mesh

import (
	"errors"
	"testing"
	"time"

	specsfake "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/specs/clientset/versioned/fake"
	splitfake "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/split/clientset/versioned/fake"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh/istioapi"
)

// affinityTarget is a target with session affinity (cookie "canary", and "primary" when
// primary is set) whose release cookie is cookie ("" for none) and last release's previous.
func affinityTarget(primary bool, cookie, previous string) canary.Target {
	tg := newTarget()
	tg.Affinity = &canary.Affinity{SessionAffinity: canary.SessionAffinity{CookieName: "canary"},
		PrimaryMaxAge: 30 * time.Second, Cookie: cookie, PreviousCookie: previous}
	if primary {
		tg.Affinity.PrimaryCookieName = "primary"
		tg.Affinity.PrimaryCookie = "primary=DEF"
	}
	return tg
}

func istioHTTP(t *testing.T, u *unstructured.Unstructured) []any {
	t.Helper()
	http, _, err := unstructured.NestedSlice(u.Object, "spec", "http")
	require.NoError(t, err)
	return http
}

// dests is an Istio route's destinations as stored: primary then canary with their weights,
// and the canary's (or primary's) response header additions when given.
func dests(tg canary.Target, primary, canaryW int64, primaryAdd, canaryAdd map[string]any) []any {
	p := map[string]any{"destination": map[string]any{"host": tg.PrimaryService()}, "weight": primary}
	c := map[string]any{"destination": map[string]any{"host": tg.CanaryService()}, "weight": canaryW}
	if primaryAdd != nil {
		p["headers"] = map[string]any{"response": map[string]any{"add": primaryAdd}}
	}
	if canaryAdd != nil {
		c["headers"] = map[string]any{"response": map[string]any{"add": canaryAdd}}
	}
	return []any{p, c}
}

func cookieMatch(regex string) []any {
	return []any{map[string]any{"headers": map[string]any{"Cookie": map[string]any{"regex": regex}}}}
}

// With canary weight, the VirtualService is Flagger's (pkg/router/istio.go
// getSessionAffinityRouteRules): a route for requests whose Cookie header carries the release's
// cookie, all on the canary, before the weighted route, whose canary destination adds the
// cookie's Set-Cookie with Max-Age 86400 (the default); with a primary cookie, a route for it
// all on the primary comes second, and the primary destination adds its Set-Cookie for one
// interval. Each step is one JSON patch, the weights read back are the weighted route's, and
// the route is in shape for Reconcile (no write).
func TestIstioSessionAffinityWeightedShape(t *testing.T) {
	for _, primary := range []bool{false, true} {
		t.Run(map[bool]string{false: "canary cookie", true: "primary cookie too"}[primary], func(t *testing.T) {
			tg := affinityTarget(primary, "canary=ABC", "")
			dyn := newIstioFake()
			r, err := NewIstio(IstioOptions{Client: dyn, Version: "v1"})
			require.NoError(t, err)
			require.NoError(t, r.Reconcile(ctx(t), tg))

			before := len(dyn.Actions())
			require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(10)))
			assert.Equal(t, []string{"patch"}, verbs(&dyn.Fake, before), "one request")

			want := []any{map[string]any{"match": cookieMatch(".*canary.*ABC.*"), "route": dests(tg, 0, 100, nil, nil)}}
			var primaryAdd map[string]any
			if primary {
				want = append(want, map[string]any{"match": cookieMatch(".*primary.*DEF.*"), "route": dests(tg, 100, 0, nil, nil)})
				primaryAdd = map[string]any{"Set-Cookie": "primary=DEF; Max-Age=30"}
			}
			want = append(want, map[string]any{"route": dests(tg, 90, 10, primaryAdd, map[string]any{"Set-Cookie": "canary=ABC; Max-Age=86400"})})
			assert.Equal(t, want, istioHTTP(t, getVS(t, dyn, "v1", tg)))

			w, err := r.Weights(ctx(t), tg)
			require.NoError(t, err)
			assert.Equal(t, canary.CanaryWeight(10), w, "the weighted route's weights, not the cookie route's")
			before = len(dyn.Actions())
			w, err = r.ReconcileWeights(ctx(t), tg)
			require.NoError(t, err)
			assert.Equal(t, canary.CanaryWeight(10), w)
			assert.Equal(t, []string{"get", "get", "get"}, verbs(&dyn.Fake, before), "in shape: nothing written")
		})
	}
}

// At weight 0 after a release, the route that matches the ending release's cookie (or, once
// saved, the previous one) sends to the primary with the weighted route's weights and adds
// "<cookie>; Max-Age=-1" to responses, which deletes it; the weighted route follows, without
// any Set-Cookie. Before any release, the weighted route stands alone.
func TestIstioSessionAffinityExpiresThePreviousCookie(t *testing.T) {
	svc := istioapi.Service{Headers: &istioapi.Headers{Response: &istioapi.HeaderOperations{Add: map[string]string{"x-served-by": "podinfo"}}}}
	for name, tg := range map[string]canary.Target{
		"cookie of the release ending": affinityTarget(true, "canary=ABC", ""),
		"previous cookie saved":        affinityTarget(true, "", "canary=ABC"),
	} {
		t.Run(name, func(t *testing.T) {
			dyn := newIstioFake()
			base, err := NewIstio(IstioOptions{Client: dyn, Version: "v1"})
			require.NoError(t, err)
			r, err := base.WithService(svc)
			require.NoError(t, err)
			require.NoError(t, r.Reconcile(ctx(t), tg))
			before := len(dyn.Actions())
			require.NoError(t, r.SetWeights(ctx(t), tg, canary.AllPrimary()))
			assert.Equal(t, []string{"patch"}, verbs(&dyn.Fake, before), "one request")
			assert.Equal(t, []any{
				map[string]any{"match": cookieMatch(".*canary.*ABC.*"), "route": dests(tg, 100, 0, nil, nil),
					"headers": map[string]any{"response": map[string]any{"add": map[string]any{"x-served-by": "podinfo", "Set-Cookie": "canary=ABC; Max-Age=-1"}}}},
				map[string]any{"route": dests(tg, 100, 0, nil, nil),
					"headers": map[string]any{"response": map[string]any{"add": map[string]any{"x-served-by": "podinfo"}}}},
			}, istioHTTP(t, getVS(t, dyn, "v1", tg)))
			assert.Equal(t, map[string]string{"x-served-by": "podinfo"}, svc.Headers.Response.Add, "the service's headers are not changed")
		})
	}
	tg := affinityTarget(false, "", "")
	dyn := newIstioFake()
	r, err := NewIstio(IstioOptions{Client: dyn, Version: "v1"})
	require.NoError(t, err)
	require.NoError(t, r.Reconcile(ctx(t), tg))
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.AllPrimary()))
	assert.Equal(t, []any{map[string]any{"route": dests(tg, 100, 0, nil, nil)}}, istioHTTP(t, getVS(t, dyn, "v1", tg)))
}

// The cookie routes keep the service's match conditions (each with its headers replaced by the
// cookie's, as Flagger merges them) and destination port; a cookie name's regular expression
// metacharacters are escaped.
func TestIstioSessionAffinityServiceMatchAndEscaping(t *testing.T) {
	tg := affinityTarget(false, "my.cookie=ABC", "")
	tg.Affinity.CookieName = "my.cookie"
	svc := istioapi.Service{Match: []istioapi.HTTPMatchRequest{{URI: &istioapi.StringMatch{Prefix: "/api"}}}}
	dyn := newIstioFake()
	base, err := NewIstio(IstioOptions{Client: dyn, Version: "v1"})
	require.NoError(t, err)
	r, err := base.WithService(svc)
	require.NoError(t, err)
	r, err = r.WithDestinationPort(9898)
	require.NoError(t, err)
	require.NoError(t, r.Reconcile(ctx(t), tg))
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(20)))
	http := istioHTTP(t, getVS(t, dyn, "v1", tg))
	require.Len(t, http, 2)
	sticky := http[0].(map[string]any)
	assert.Equal(t, []any{map[string]any{"uri": map[string]any{"prefix": "/api"},
		"headers": map[string]any{"Cookie": map[string]any{"regex": `.*my\.cookie.*ABC.*`}}}}, sticky["match"])
	for _, d := range sticky["route"].([]any) {
		assert.Equal(t, map[string]any{"number": int64(9898)}, d.(map[string]any)["destination"].(map[string]any)["port"])
	}
}

// Reconcile puts back a cookie route someone changed, and the routes of another cookie (a
// resumed release's status is the truth); a target without session affinity gets its route
// without cookie routes.
func TestIstioSessionAffinityDrift(t *testing.T) {
	tg := affinityTarget(false, "canary=ABC", "")
	dyn := newIstioFake()
	r, err := NewIstio(IstioOptions{Client: dyn, Version: "v1"})
	require.NoError(t, err)
	require.NoError(t, r.Reconcile(ctx(t), tg))
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(10)))

	other := tg
	a := *tg.Affinity
	a.Cookie = "canary=XYZ"
	other.Affinity = &a
	w, err := r.ReconcileWeights(ctx(t), other)
	require.NoError(t, err)
	assert.Equal(t, canary.CanaryWeight(10), w)
	http := istioHTTP(t, getVS(t, dyn, "v1", tg))
	require.Len(t, http, 2)
	assert.Equal(t, cookieMatch(".*canary.*XYZ.*"), http[0].(map[string]any)["match"])

	plain := tg
	plain.Affinity = nil
	w, err = r.ReconcileWeights(ctx(t), plain)
	require.NoError(t, err)
	assert.Equal(t, canary.CanaryWeight(10), w)
	assert.Equal(t, []any{map[string]any{"route": dests(tg, 90, 10, nil, nil)}}, istioHTTP(t, getVS(t, dyn, "v1", tg)))
}

// Cookies and settings that are not what the Rollout makes are refused before any request.
func TestIstioSessionAffinityRefusesBadCookies(t *testing.T) {
	for name, mutate := range map[string]func(a *canary.Affinity){
		"cookie with CRLF":     func(a *canary.Affinity) { a.Cookie = "canary=A\r\nX: y" },
		"cookie named another": func(a *canary.Affinity) { a.Cookie = "other=ABC" },
		"regex in the value":   func(a *canary.Affinity) { a.Cookie = "canary=.*" },
		"domain with ;":        func(a *canary.Affinity) { a.Domain = "x; Secure" },
		"bad name":             func(a *canary.Affinity) { a.CookieName = "a b" },
		"negative primary age": func(a *canary.Affinity) { a.PrimaryMaxAge = -time.Second },
	} {
		t.Run(name, func(t *testing.T) {
			tg := affinityTarget(false, "canary=ABC", "")
			mutate(tg.Affinity)
			dyn := newIstioFake()
			r, err := NewIstio(IstioOptions{Client: dyn, Version: "v1"})
			require.NoError(t, err)
			err = r.SetWeights(ctx(t), tg, canary.CanaryWeight(10))
			require.ErrorIs(t, err, canary.ErrInvalidSpec)
			assert.True(t, canary.IsPermanent(err))
			assert.Empty(t, dyn.Actions())
		})
	}
}

// The SMI, ingress-nginx and Kubernetes routers refuse session affinity.
func TestSessionAffinityUnsupportedRouters(t *testing.T) {
	tg := affinityTarget(false, "", "")
	for name, r := range unsupportedAffinityRouters(t) {
		t.Run(name, func(t *testing.T) {
			err := r.Reconcile(ctx(t), tg)
			require.True(t, errors.Is(err, canary.ErrSessionAffinityUnsupported), "%v", err)
			err = r.SetWeights(ctx(t), tg, canary.CanaryWeight(10))
			require.True(t, errors.Is(err, canary.ErrSessionAffinityUnsupported), "%v", err)
		})
	}
}

func unsupportedAffinityRouters(t *testing.T) map[string]canary.MeshRouter {
	kube := kubefake.NewSimpleClientset()
	split, err := NewTrafficSplit(TrafficSplitOptions{Client: splitfake.NewSimpleClientset(), Specs: specsfake.NewSimpleClientset(), Version: "v1alpha2"})
	require.NoError(t, err)
	ks, err := NewKubernetes(KubernetesOptions{Client: kube.CoreV1()})
	require.NoError(t, err)
	return map[string]canary.MeshRouter{
		"smi":        split,
		"kubernetes": ks,
		"nginx":      newNGINX(t, NGINXOptions{Client: kube.NetworkingV1()}),
	}
}
