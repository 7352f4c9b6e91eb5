package mesh

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayfake "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned/fake"

	"github.com/canarykit/canarykit/canary"
)

// withoutOwn drops canarykit's own keys: the managed-by label, canarykit.dev/ annotations.
func withoutOwn(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if k != canary.LabelManagedBy && k != canary.AnnotationTarget && k != canary.AnnotationMetadata {
			out[k] = v
		}
	}
	return out
}

// The HTTPRoute carries the apex metadata and its rules timeouts.request and backendRequest, as
// Flagger's Gateway API router writes a Canary's spec.service.apex, timeout and backendTimeout; a key removed
// from the metadata is removed at the next Reconcile, a key another controller set is kept.
func TestHTTPRouteMetadataAndBackendTimeout(t *testing.T) {
	tg := newTarget()
	tg.Match = abMatch
	cs := gatewayfake.NewSimpleClientset()
	base, err := NewHTTPRoute(HTTPRouteOptions{Client: cs, Port: 9898})
	require.NoError(t, err)
	md := canary.Metadata{Labels: map[string]string{"team": "a"}, Annotations: map[string]string{"external-dns.alpha.kubernetes.io/hostname": "podinfo.example.com"}}
	r, err := base.WithMetadata(md)
	require.NoError(t, err)
	r, err = r.WithTimeouts("5s", "2s")
	require.NoError(t, err)
	require.NoError(t, r.Reconcile(ctx(t), tg))

	get := func() *gwv1.HTTPRoute {
		hr, err := cs.GatewayV1().HTTPRoutes(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
		require.NoError(t, err)
		return hr
	}
	hr := get()
	assert.Equal(t, md.Labels, withoutOwn(hr.Labels))
	assert.Equal(t, md.Annotations, withoutOwn(hr.Annotations))
	require.Len(t, hr.Spec.Rules, 2, "A/B: the matched rule and the primary's")
	for i, rule := range hr.Spec.Rules {
		require.NotNil(t, rule.Timeouts, i)
		assert.Equal(t, &gwv1.HTTPRouteTimeouts{Request: ptrTo(gwv1.Duration("5s")), BackendRequest: ptrTo(gwv1.Duration("2s"))}, rule.Timeouts,
			"rule %d, as Flagger writes both", i)
	}
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(30)))
	assert.Equal(t, hr.Spec.Rules[0].Timeouts, get().Spec.Rules[0].Timeouts, "a weight patch keeps them")

	// another controller annotates the route; the Canary drops its annotation and the timeout
	u := get()
	u.Annotations["gateway.example.com/status"] = "programmed"
	_, err = cs.GatewayV1().HTTPRoutes(tg.Namespace).Update(ctx(t), u, metav1.UpdateOptions{})
	require.NoError(t, err)
	r2, err := base.WithMetadata(canary.Metadata{Labels: map[string]string{"team": "a"}})
	require.NoError(t, err)
	require.NoError(t, r2.Reconcile(ctx(t), tg))
	hr = get()
	assert.Equal(t, map[string]string{"team": "a"}, withoutOwn(hr.Labels))
	assert.Equal(t, map[string]string{"gateway.example.com/status": "programmed"}, withoutOwn(hr.Annotations))
	for _, rule := range hr.Spec.Rules {
		assert.Nil(t, rule.Timeouts)
	}
	w, err := r2.Weights(ctx(t), tg)
	require.NoError(t, err)
	assert.Equal(t, canary.CanaryWeight(30), w, "reshaped with its weights")

	_, err = base.WithTimeouts("", "1.5s")
	assert.ErrorContains(t, err, `backendRequest: "1.5s" is not a Gateway API duration`)
	_, err = base.WithTimeouts("1s", "2s")
	assert.ErrorContains(t, err, "backendRequest 2s is longer than request 1s")
	r3, err := base.WithTimeouts("", "2s")
	require.NoError(t, err)
	request, backend := r3.Timeouts()
	assert.Equal(t, []string{"", "2s"}, []string{request, backend})
	_, err = base.WithMetadata(canary.Metadata{Labels: map[string]string{canary.LabelManagedBy: "x"}})
	assert.ErrorContains(t, err, "app.kubernetes.io/managed-by is canarykit's own label")
}

// The VirtualService carries the apex metadata, the DestinationRules none, as Flagger's Istio
// router writes spec.service.apex; a key removed from it is removed at the next Reconcile.
func TestIstioVirtualServiceMetadata(t *testing.T) {
	tg := newTarget()
	dyn := newIstioFake()
	base, err := NewIstio(IstioOptions{Client: dyn, Version: "v1"})
	require.NoError(t, err)
	md := canary.Metadata{Labels: map[string]string{"team": "a"}, Annotations: map[string]string{"external-dns.alpha.kubernetes.io/target": "lb.example.com"}}
	r, err := base.WithMetadata(md)
	require.NoError(t, err)
	require.NoError(t, r.Reconcile(ctx(t), tg))
	vs := getVS(t, dyn, "v1", tg)
	assert.Equal(t, md.Labels, withoutOwn(vs.GetLabels()))
	assert.Equal(t, md.Annotations, withoutOwn(vs.GetAnnotations()))
	for _, name := range []string{tg.PrimaryService(), tg.CanaryService()} {
		dr, err := dyn.Resource(istioGVR("v1", "destinationrules")).Namespace(tg.Namespace).Get(ctx(t), name, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Empty(t, withoutOwn(dr.GetLabels()), name)
		assert.Empty(t, withoutOwn(dr.GetAnnotations()), name)
	}
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(10)))

	r2, err := base.WithMetadata(canary.Metadata{Annotations: map[string]string{"external-dns.alpha.kubernetes.io/target": "lb2.example.com"}})
	require.NoError(t, err)
	require.NoError(t, r2.Reconcile(ctx(t), tg))
	vs = getVS(t, dyn, "v1", tg)
	assert.Empty(t, withoutOwn(vs.GetLabels()))
	assert.Equal(t, map[string]string{"external-dns.alpha.kubernetes.io/target": "lb2.example.com"}, withoutOwn(vs.GetAnnotations()))
	assert.Equal(t, canary.CanaryWeight(10), vsInspect(dyn, "v1")(t, tg), "reshaped with its weights")
}

// The apex metadata never removes a key from a route canarykit did not create: a user's
// HTTPRoute of the apex's name (no managed-by label) is refused and left as it is, even when
// it carries a canarykit.dev/metadata record (a manifest copied from a cluster); the routes
// Flagger generated for the target's Canary, which canarykit takes over, keep the keys Flagger
// wrote from the Canary's metadata (no record lists them), and get the Canary's.
func TestRouteMetadataRemovesNoKeyOfARouteCanarykitDidNotCreate(t *testing.T) {
	tg := newTarget()
	md := canary.Metadata{Labels: map[string]string{"tier": "web"}}
	theirs := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: tg.ApexService(), Namespace: tg.Namespace,
		Labels: map[string]string{"team": "a"}, Annotations: map[string]string{"team": "a", canary.AnnotationMetadata: `{"labels":["team"],"annotations":["team"]}`}}}
	cs := gatewayfake.NewSimpleClientset(theirs.DeepCopy())
	base, err := NewHTTPRoute(HTTPRouteOptions{Client: cs, Port: 80})
	require.NoError(t, err)
	r, err := base.WithMetadata(md)
	require.NoError(t, err)
	assert.ErrorIs(t, r.Reconcile(ctx(t), tg), ErrNotOwned)
	got, err := cs.GatewayV1().HTTPRoutes(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, theirs.ObjectMeta, got.ObjectMeta, "left as it is")

	tg.Canary, tg.CanaryUID = tg.Name, "uid-1"
	_, route, vs := flaggerRoutes(t, tg, flaggerRef(tg.Name, "uid-1"))
	route.Labels, route.Annotations = map[string]string{"team": "a"}, map[string]string{"team": "a"}
	vs.SetLabels(map[string]string{"team": "a"})
	vs.SetAnnotations(map[string]string{"team": "a"})
	cs = gatewayfake.NewSimpleClientset(route)
	base, err = NewHTTPRoute(HTTPRouteOptions{Client: cs, Port: 80})
	require.NoError(t, err)
	r, err = base.WithMetadata(md)
	require.NoError(t, err)
	require.NoError(t, r.Reconcile(ctx(t), tg))
	got, err = cs.GatewayV1().HTTPRoutes(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"team": "a", "tier": "web"}, withoutOwn(got.Labels))
	assert.Equal(t, map[string]string{"team": "a"}, withoutOwn(got.Annotations))

	dyn := newIstioFake(vs)
	ibase, err := NewIstio(IstioOptions{Client: dyn, Version: "v1"})
	require.NoError(t, err)
	ir, err := ibase.WithMetadata(md)
	require.NoError(t, err)
	require.NoError(t, ir.Reconcile(ctx(t), tg))
	u := getVS(t, dyn, "v1", tg)
	assert.Equal(t, map[string]string{"team": "a", "tier": "web"}, withoutOwn(u.GetLabels()))
	assert.Equal(t, map[string]string{"team": "a"}, withoutOwn(u.GetAnnotations()))
}
