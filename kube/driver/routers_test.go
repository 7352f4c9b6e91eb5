package driver

import (
	"context"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/canarykit/canarykit/kube"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/mesh"
	"github.com/canarykit/canarykit/mesh/gatewayapi"
	"github.com/canarykit/canarykit/mesh/istioapi"
	"github.com/canarykit/canarykit/metrics"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
)

// offline is a Driver whose clients point nowhere: building routers and providers makes no
// request, so nothing here needs a server.
func offline(t *testing.T, o Options) *Driver {
	t.Helper()
	o.Config = &rest.Config{Host: "http://127.0.0.1:1"}
	d, err := New(o)
	require.NoError(t, err)
	t.Cleanup(d.Close)
	return d
}

func testCanary(r flagger.Router, gateways ...flagger.ParentRef) *flagger.Canary {
	return &flagger.Canary{Name: "podinfo", Namespace: "test", Target: canary.Target{Namespace: "test", Name: "podinfo"},
		Spec: canary.Spec{Interval: 1, Threshold: 1, Iterations: 1}, Workload: flagger.Workload{Port: 9898}, Router: r, GatewayRefs: gateways}
}

// Each Canary gets the router its spec.provider names (the Driver's default, then Linkerd's,
// without one); routers of one kind and version are shared.
func TestRouterPerCanary(t *testing.T) {
	d := offline(t, Options{})
	gw := flagger.ParentRef{Name: "public", Namespace: "gateways"}
	for name, c := range map[string]struct {
		canary *flagger.Canary
		want   any
	}{
		"no provider":           {testCanary(flagger.Router{}), &mesh.TrafficSplit{}},
		"no provider, gateways": {testCanary(flagger.Router{}, gw), &mesh.HTTPRoute{}},
		"linkerd":               {testCanary(flagger.Router{Kind: flagger.RouterSMI, Provider: "linkerd"}), &mesh.TrafficSplit{}},
		"smi:v1alpha2":          {testCanary(flagger.Router{Kind: flagger.RouterSMI, APIVersion: "v1alpha2", Provider: "smi:v1alpha2"}), &mesh.TrafficSplit{}},
		"gatewayapi:v1beta1":    {testCanary(flagger.Router{Kind: flagger.RouterHTTPRoute, APIVersion: "v1beta1", Provider: "gatewayapi:v1beta1"}), &mesh.HTTPRoute{}},
		"kubernetes":            {testCanary(flagger.Router{Kind: flagger.RouterKubernetes, Provider: "kubernetes"}), &mesh.Kubernetes{}},
		"nginx":                 {withIngress(testCanary(flagger.Router{Kind: flagger.RouterNGINX, Provider: "nginx"})), &mesh.NGINX{}},
	} {
		r, err := d.routers.forCanary(c.canary)
		require.NoError(t, err, name)
		assert.IsType(t, c.want, r, name)
	}
	a, err := d.routers.forCanary(testCanary(flagger.Router{}))
	require.NoError(t, err)
	b, err := d.routers.forCanary(testCanary(flagger.Router{Kind: flagger.RouterSMI, Provider: "linkerd"}))
	require.NoError(t, err)
	assert.Same(t, a, b, "one SMI router for every Canary that discovers its version")
	pinned, err := d.routers.forCanary(testCanary(flagger.Router{Kind: flagger.RouterSMI, APIVersion: "v1alpha2"}))
	require.NoError(t, err)
	assert.NotSame(t, a, pinned, "a pinned version is another router")
	assert.Len(t, d.routers.by, 6, "smi, smi/v1alpha2, httproute, httproute/v1beta1, kubernetes, nginx")

	// the Driver's default applies to Canaries without spec.provider only
	k := offline(t, Options{DefaultRouter: flagger.Router{Kind: flagger.RouterKubernetes}})
	r, err := k.routers.forCanary(testCanary(flagger.Router{}))
	require.NoError(t, err)
	assert.IsType(t, &mesh.Kubernetes{}, r)
	r, err = k.routers.forCanary(testCanary(flagger.Router{Kind: flagger.RouterSMI, Provider: "linkerd"}))
	require.NoError(t, err)
	assert.IsType(t, &mesh.TrafficSplit{}, r)

	// an embedder's router routes every Canary
	own := &canarytest.Router{}
	e := offline(t, Options{Router: own})
	r, err = e.routers.forCanary(testCanary(flagger.Router{Kind: flagger.RouterHTTPRoute, Provider: "gatewayapi:v1"}, gw))
	require.NoError(t, err)
	assert.Same(t, own, r)
}

// withIngress gives c spec.ingressRef: podinfo-public.
func withIngress(c *flagger.Canary) *flagger.Canary {
	c.Target.Ingress = "podinfo-public"
	return c
}

// A Canary routed by NGINX without spec.ingressRef is refused at that field, before any
// request, also when NGINX is the Driver's default router and the loader, seeing no
// provider, did not ask for it: Flagger's ingress router refuses it ("ingress selector is
// empty") rather than take the Ingress named after the target.
func TestNGINXNeedsAnIngressRef(t *testing.T) {
	ctx := context.Background()
	n := offline(t, Options{DefaultRouter: flagger.Router{Kind: flagger.RouterNGINX}})
	for name, c := range map[string]*flagger.Canary{
		"no provider, default nginx": testCanary(flagger.Router{}),
		"nginx":                      testCanary(flagger.Router{Kind: flagger.RouterNGINX, Provider: "nginx"}),
	} {
		_, err := n.Release(ctx, c, nil)
		require.ErrorContains(t, err, "canary test/podinfo: invalid rollout: spec.ingressRef: required with NGINX routing", name)
		_, err = n.Target(c, nil)
		require.ErrorContains(t, err, "spec.ingressRef: required with NGINX routing", name)
	}
	r, err := n.routers.forCanary(withIngress(testCanary(flagger.Router{})))
	require.NoError(t, err)
	assert.IsType(t, &mesh.NGINX{}, r)
	_, err = n.routers.forCanary(testCanary(flagger.Router{Kind: flagger.RouterSMI, Provider: "linkerd"}))
	require.NoError(t, err, "other routers need no ingressRef")
}

// A Canary canarykit cannot route is refused by field, before any request: a provider it does
// not drive (even with an embedder's router: the Canary asks for a data plane canarykit would
// not reach), gatewayRefs with a router that cannot attach to them, a version that does not
// exist.
func TestRouterRefusals(t *testing.T) {
	d := offline(t, Options{})
	ctx := context.Background()
	appmesh := testCanary(flagger.Router{Kind: "appmesh", Provider: "appmesh"})
	_, err := d.Release(ctx, appmesh, nil)
	require.ErrorContains(t, err, `canary test/podinfo: spec.provider: canarykit cannot drive provider "appmesh"`)
	_, err = d.Target(appmesh, nil)
	require.ErrorContains(t, err, `spec.provider: canarykit cannot drive provider "appmesh"`)
	_, err = offline(t, Options{Router: &canarytest.Router{}}).Release(ctx, appmesh, nil)
	require.ErrorContains(t, err, `spec.provider: canarykit cannot drive provider "appmesh"`)

	_, err = d.Release(ctx, testCanary(flagger.Router{Kind: flagger.RouterSMI, Provider: "linkerd"}, flagger.ParentRef{Name: "public"}), nil)
	require.ErrorContains(t, err, "spec.service.gatewayRefs: only a Gateway API router (HTTPRoute) attaches to them")
	_, err = d.Release(ctx, testCanary(flagger.Router{Kind: flagger.RouterSMI, APIVersion: "v9", Provider: "smi:v9"}), nil)
	require.ErrorContains(t, err, `spec.provider: mesh: invalid TrafficSplitOptions: Version "v9"`)
	_, err = d.Release(ctx, testCanary(flagger.Router{Kind: flagger.RouterHTTPRoute, Provider: "gatewayapi:v1"}, flagger.ParentRef{Namespace: "x"}), nil)
	require.ErrorContains(t, err, "spec.service.gatewayRefs: mesh: invalid HTTPRoute parents: parents[0].name is required")

	_, err = New(Options{Config: &rest.Config{}, DefaultRouter: flagger.Router{Kind: "contour"}, Recheck: -1})
	require.ErrorContains(t, err, `Options.DefaultRouter: kind "contour" is not one canarykit drives`)
	require.ErrorContains(t, err, "Options.Recheck -1ns is negative")
	for _, lease := range []time.Duration{-time.Second, 1500 * time.Millisecond, time.Hour} {
		_, err = New(Options{Config: &rest.Config{}, LeaseDuration: lease})
		require.ErrorContains(t, err, "Options.LeaseDuration "+lease.String()+": want whole seconds")
	}
	_, err = New(Options{Config: &rest.Config{}, NGINXAnnotationPrefix: "Ingress Prefix"})
	require.ErrorContains(t, err, `Options.NGINXAnnotationPrefix "Ingress Prefix" is not a DNS subdomain`)
	_, err = New(Options{Config: &rest.Config{}, Events: kube.EventsOptions{Record: "Warning"}})
	require.ErrorContains(t, err, `Options.Events.Record: events to record "Warning": want "all", "warnings" or "none"`)
	_, err = New(Options{})
	require.ErrorContains(t, err, "Options.Config is required")
}

// A Canary routed by NGINX gets Flagger's NGINX built-in checks; one of provider kubernetes
// the app's own metrics' outside a Linkerd mesh; any other Linkerd's.
func TestBuiltinChecksPerRouter(t *testing.T) {
	d := offline(t, Options{})
	assert.Equal(t, metrics.NGINX(), d.routers.builtins(testCanary(flagger.Router{Kind: flagger.RouterNGINX, Provider: "nginx"})))
	assert.Equal(t, metrics.Linkerd(), d.routers.builtins(testCanary(flagger.Router{})))
	n := offline(t, Options{DefaultRouter: flagger.Router{Kind: flagger.RouterNGINX}})
	assert.Equal(t, metrics.NGINX(), n.routers.builtins(testCanary(flagger.Router{})), "the Driver's default router")
	assert.Equal(t, metrics.Linkerd(), n.routers.builtins(testCanary(flagger.Router{Kind: flagger.RouterSMI, Provider: "linkerd"})))

	kubernetes := flagger.Router{Kind: flagger.RouterKubernetes, Provider: "kubernetes"}
	for _, def := range []flagger.RouterKind{flagger.RouterDefault, flagger.RouterSMI, flagger.RouterHTTPRoute} {
		l := offline(t, Options{DefaultRouter: flagger.Router{Kind: def}})
		assert.Equal(t, metrics.Linkerd(), l.routers.builtins(testCanary(kubernetes)), "provider kubernetes in a Linkerd mesh (default router %q)", def)
	}
	for _, def := range []flagger.RouterKind{flagger.RouterKubernetes, flagger.RouterIstio, flagger.RouterNGINX} {
		k := offline(t, Options{DefaultRouter: flagger.Router{Kind: def}})
		assert.Equal(t, metrics.Kubernetes(), k.routers.builtins(testCanary(kubernetes)), "provider kubernetes beside default router %q", def)
	}
	k := offline(t, Options{DefaultRouter: kubernetes})
	assert.Equal(t, metrics.Kubernetes(), k.routers.builtins(testCanary(flagger.Router{})), "no provider, the Driver's default kubernetes")
	_, err := n.routers.shared(flagger.Router{Kind: flagger.RouterNGINX, APIVersion: "v1", Provider: "nginx"})
	require.ErrorContains(t, err, `the nginx router has no version, got "v1"`)
}

// Releases against one Prometheus share one client; another server or other credentials get
// their own.
func TestPrometheusPerServer(t *testing.T) {
	d := offline(t, Options{Prometheus: "http://prometheus:9090"})
	ctx := context.Background()
	c := testCanary(flagger.Router{})
	c.Spec.Metrics = []canary.Metric{{Name: "request-success-rate", ThresholdRange: canary.AtLeast(99)}}
	_, p1, err := d.templated(ctx, c)
	require.NoError(t, err)
	other := testCanary(flagger.Router{})
	other.Target.Name = "other"
	other.Spec.Metrics = c.Spec.Metrics
	_, p2, err := d.templated(ctx, other)
	require.NoError(t, err)
	require.NotNil(t, p1)
	assert.Same(t, p1, p2)
	other.MetricsServer = "http://thanos:9090"
	_, p3, err := d.templated(ctx, other)
	require.NoError(t, err)
	assert.NotSame(t, p1, p3, "spec.metricsServer is another server")
	assert.Len(t, d.proms, 2)

	none := offline(t, Options{})
	_, _, err = none.templated(ctx, c)
	require.ErrorContains(t, err, "spec.analysis.metrics: a Prometheus address is required")
	c.Spec.Metrics = nil
	_, p, err := none.templated(ctx, c)
	require.NoError(t, err)
	assert.Nil(t, p, "no metrics, no Prometheus")
}

// A Canary that mirrors is refused, before any request, when the router chosen for it cannot
// copy requests to the canary: its provider's, or the Driver's default for one without.
func TestRouterRefusesMirrorItCannotDo(t *testing.T) {
	ctx := context.Background()
	mirrored := func(r flagger.Router, gateways ...flagger.ParentRef) *flagger.Canary {
		c := testCanary(r, gateways...)
		c.Spec.Mirror = true
		return c
	}
	d := offline(t, Options{})
	for _, c := range []*flagger.Canary{
		mirrored(flagger.Router{}),
		mirrored(flagger.Router{Kind: flagger.RouterSMI, Provider: "linkerd"}),
		mirrored(flagger.Router{Kind: flagger.RouterNGINX, Provider: "nginx"}),
		mirrored(flagger.Router{Kind: flagger.RouterKubernetes, Provider: "kubernetes"}),
	} {
		_, err := d.Release(ctx, c, nil)
		require.ErrorIs(t, err, canary.ErrMirrorUnsupported, c.Router.Provider)
		require.ErrorContains(t, err, "canary test/podinfo: spec.analysis.mirror: only the Istio and Gateway API (HTTPRoute) routers copy requests to the canary")
	}
	for name, c := range map[string]*flagger.Canary{
		"istio":                 mirrored(flagger.Router{Kind: flagger.RouterIstio, Provider: "istio"}),
		"gatewayapi:v1":         mirrored(flagger.Router{Kind: flagger.RouterHTTPRoute, APIVersion: "v1", Provider: "gatewayapi:v1"}),
		"no provider, gateways": mirrored(flagger.Router{}, flagger.ParentRef{Name: "public"}),
	} {
		_, err := d.routers.forCanary(c)
		require.NoError(t, err, name)
	}
	i := offline(t, Options{DefaultRouter: flagger.Router{Kind: flagger.RouterIstio}})
	_, err := i.routers.forCanary(mirrored(flagger.Router{}))
	require.NoError(t, err, "the default router mirrors")
}

// A Canary with session affinity is refused, before any request, when the router chosen for
// it cannot route by cookie: its provider's, or the Driver's default for one without.
func TestRouterRefusesSessionAffinityItCannotDo(t *testing.T) {
	ctx := context.Background()
	sticky := func(r flagger.Router, gateways ...flagger.ParentRef) *flagger.Canary {
		c := testCanary(r, gateways...)
		c.Spec.SessionAffinity = &canary.SessionAffinity{CookieName: "flagger-cookie"}
		return c
	}
	d := offline(t, Options{})
	for _, c := range []*flagger.Canary{
		sticky(flagger.Router{}),
		sticky(flagger.Router{Kind: flagger.RouterSMI, Provider: "linkerd"}),
		sticky(flagger.Router{Kind: flagger.RouterNGINX, Provider: "nginx"}),
		sticky(flagger.Router{Kind: flagger.RouterKubernetes, Provider: "kubernetes"}),
	} {
		_, err := d.Release(ctx, c, nil)
		require.ErrorIs(t, err, canary.ErrSessionAffinityUnsupported, c.Router.Provider)
		require.ErrorContains(t, err, "canary test/podinfo: spec.analysis.sessionAffinity: only the Istio and Gateway API (HTTPRoute) routers route by cookie")
	}
	for name, c := range map[string]*flagger.Canary{
		"istio":                 sticky(flagger.Router{Kind: flagger.RouterIstio, Provider: "istio"}),
		"gatewayapi:v1":         sticky(flagger.Router{Kind: flagger.RouterHTTPRoute, APIVersion: "v1", Provider: "gatewayapi:v1"}),
		"no provider, gateways": sticky(flagger.Router{}, flagger.ParentRef{Name: "public"}),
	} {
		_, err := d.routers.forCanary(c)
		require.NoError(t, err, name)
	}
	i := offline(t, Options{DefaultRouter: flagger.Router{Kind: flagger.RouterIstio}})
	_, err := i.routers.forCanary(sticky(flagger.Router{}))
	require.NoError(t, err, "the default router keeps sessions")
}

// spec.service.apex goes on the route object of the routers Flagger writes it on (Istio's
// VirtualService, Gateway API's HTTPRoute) and spec.service.timeout and backendTimeout on the
// HTTPRoute;
// backendTimeout with a router that writes no HTTPRoute is refused, naming the field (the
// loader refuses it with a provider; this is the driver's default router).
func TestRoutersCarryApexMetadataAndBackendTimeout(t *testing.T) {
	d := offline(t, Options{})
	apex := canary.Metadata{Labels: map[string]string{"team": "a"}, Annotations: map[string]string{"external-dns.alpha.kubernetes.io/hostname": "podinfo.example.com"}}

	c := testCanary(flagger.Router{Kind: flagger.RouterHTTPRoute, Provider: "gatewayapi:v1"}, flagger.ParentRef{Name: "public"})
	c.Workload.ApexMetadata, c.BackendTimeout = apex, "2s"
	c.Service.Timeout = istioapi.Duration(90 * time.Second)
	r, err := d.routers.forCanary(c)
	require.NoError(t, err)
	require.IsType(t, &mesh.HTTPRoute{}, r)
	assert.Equal(t, apex, r.(*mesh.HTTPRoute).Metadata())
	request, backend := r.(*mesh.HTTPRoute).Timeouts()
	assert.Equal(t, "90s", request, "spec.service.timeout, as Flagger writes it on an HTTPRoute")
	assert.Equal(t, "2s", backend)

	c = testCanary(flagger.Router{Kind: flagger.RouterIstio, Provider: "istio"})
	c.Workload.ApexMetadata = apex
	r, err = d.routers.forCanary(c)
	require.NoError(t, err)
	require.IsType(t, &mesh.Istio{}, r)
	assert.Equal(t, apex, r.(*mesh.Istio).Metadata())

	for _, def := range []flagger.RouterKind{flagger.RouterSMI, flagger.RouterIstio, flagger.RouterKubernetes} {
		d := offline(t, Options{DefaultRouter: flagger.Router{Kind: def}})
		c := testCanary(flagger.Router{})
		c.BackendTimeout = "2s"
		_, err := d.routers.forCanary(c)
		assert.ErrorContains(t, err, "spec.service.backendTimeout: only a Gateway API router (HTTPRoute) writes it", def)
	}
}

// spec.service's match, headers and rewrite go on the HTTPRoute too, as Flagger writes them;
// a rewrite type with a router that writes none, and what Gateway API cannot express with
// the driver's default HTTPRoute, are refused naming the field (the loader refuses them with
// a provider).
func TestRoutersCarryTheGatewayService(t *testing.T) {
	d := offline(t, Options{})
	c := testCanary(flagger.Router{Kind: flagger.RouterHTTPRoute, Provider: "gatewayapi:v1"}, flagger.ParentRef{Name: "public"})
	c.Service.Match = []istioapi.HTTPMatchRequest{{URI: &istioapi.StringMatch{Prefix: "/api"}}}
	c.Service.Headers = &istioapi.Headers{Request: &istioapi.HeaderOperations{Set: map[string]string{"x-a": "1"}}}
	c.Service.Rewrite, c.RewriteType = &istioapi.HTTPRewrite{URI: "/v2"}, gatewayapi.ReplacePrefixMatch
	c.ServiceMirror = []gatewayapi.Mirror{{Name: "shadow", Port: 8080}}
	c.Service.CorsPolicy = &istioapi.CorsPolicy{AllowOrigin: []string{"https://example.com"}}
	r, err := d.routers.forCanary(c)
	require.NoError(t, err)
	require.IsType(t, &mesh.HTTPRoute{}, r)
	assert.Equal(t, c.GatewayService(), r.(*mesh.HTTPRoute).Service())

	istio := offline(t, Options{DefaultRouter: flagger.Router{Kind: flagger.RouterIstio}})
	c = testCanary(flagger.Router{})
	c.Service.Rewrite, c.RewriteType = &istioapi.HTTPRewrite{URI: "/v2"}, gatewayapi.ReplaceFullPath
	_, err = istio.routers.forCanary(c)
	assert.ErrorContains(t, err, "spec.service.rewrite.type: only a Gateway API router (HTTPRoute) has a rewrite type")

	c = testCanary(flagger.Router{}, flagger.ParentRef{Name: "public"}) // the default: an HTTPRoute for gatewayRefs
	c.Service.Match = []istioapi.HTTPMatchRequest{{Authority: &istioapi.StringMatch{Exact: "a.example"}}}
	_, err = d.routers.forCanary(c)
	assert.ErrorContains(t, err, "spec.service: mesh: invalid HTTPRoute service: match[0].authority: Gateway API's HTTPRouteMatch has no authority")

	// spec.service.mirror without provider: the default router must write an HTTPRoute
	c = testCanary(flagger.Router{})
	c.ServiceMirror = []gatewayapi.Mirror{{Name: "shadow", Port: 8080}}
	_, err = d.routers.forCanary(c)
	assert.ErrorContains(t, err, `spec.service.mirror: only a Gateway API router (HTTPRoute) writes its RequestMirror filters; spec.provider "" routes with`)
	_, err = istio.routers.forCanary(c)
	assert.ErrorContains(t, err, "spec.service.mirror: only a Gateway API router (HTTPRoute) writes its RequestMirror filters")
	c = testCanary(flagger.Router{})
	c.Service.CorsPolicy = &istioapi.CorsPolicy{AllowOrigin: []string{"https://example.com"}}
	_, err = d.routers.forCanary(c)
	assert.ErrorContains(t, err, "spec.service.corsPolicy: only the Istio router writes them", "the default router is SMI's")
	c = testCanary(flagger.Router{}, flagger.ParentRef{Name: "public"})
	c.Service.CorsPolicy = &istioapi.CorsPolicy{AllowOrigin: []string{"example.com"}}
	_, err = d.routers.forCanary(c)
	assert.ErrorContains(t, err, `spec.service: mesh: invalid HTTPRoute service: corsPolicy.allowOrigin[0]: "example.com" is not an origin`)
}

// A Canary without spec.provider routed by the Driver's default NGINX router is held to what
// loading asks of provider nginx: a cookie condition under a key spelled other than "cookie"
// is refused at its path (Flagger's NGINX router matches the whole Cookie header under such a
// key, where the router would match a cookie by name), and so are two headers in one entry.
func TestNGINXDefaultRouterChecksTheMatchAsProviderNGINX(t *testing.T) {
	ctx := context.Background()
	n := offline(t, Options{DefaultRouter: flagger.Router{Kind: flagger.RouterNGINX}})
	ab := func(headers ...string) *flagger.Canary {
		c := withIngress(testCanary(flagger.Router{}))
		m := canary.Match{Headers: map[string]canary.StringMatch{}}
		for _, h := range headers {
			m.Headers[h] = canary.StringMatch{Exact: "beta"}
		}
		c.Spec.Match = []canary.Match{{Headers: map[string]canary.StringMatch{"x-canary": {Exact: "insider"}}}, m}
		return c
	}
	for _, key := range []string{"Cookie", "COOKIE"} {
		_, err := n.Release(ctx, ab(key), nil)
		require.ErrorContains(t, err, "spec.analysis.match[1].headers."+key+": provider nginx matches a cookie under the key cookie, lowercase", key)
	}
	_, err := n.Release(ctx, ab("x-a", "x-b"), nil)
	require.ErrorContains(t, err, "spec.analysis.match[1].headers: provider nginx matches one header or one cookie per match entry, got 2 conditions")
	_, err = n.routers.forCanary(ab("cookie"))
	require.NoError(t, err)
}
