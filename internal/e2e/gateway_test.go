package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/kube/driver"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/webhook/loadgen"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"
)

// TestGatewayAPICanary releases a Flagger Gateway API Canary (spec.provider gatewayapi:v1,
// gatewayRefs to the apex Service and to a Gateway, seed 003's A/B header and cookie matches
// and templateRef metrics) on a Driver whose default router is SMI: the Canary's provider
// chooses the HTTPRoute, its gatewayRefs become the route's parents, and while the test runs
// only matching requests reach the canary.
func TestGatewayAPICanary(t *testing.T) {
	w := newWorld(t, flagger.RouterSMI, nil)
	w.installTemplates("metric-templates-003.yaml")
	w.createApp("frontend", "stefanprodan/podinfo:3.1.0")
	firefox := http.Header{"User-Agent": {"Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"}}
	insider := http.Header{"Cookie": {"theme=dark; type=insider; lang=en"}}
	chrome := http.Header{"User-Agent": {"Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36"}, "Cookie": {"type=outsider"}}
	for _, h := range []http.Header{firefox, insider, chrome} {
		w.load(loadgen.Config{URL: "http://frontend.test:9898/", Header: h, Rate: 15, Concurrency: 4})
	}
	ctx := context.Background()
	m := w.manifest("canary-003-gatewayapi.yaml") // gatewayRefs: the apex Service (GAMMA) and a Gateway (no controller on the bed)
	require.Equal(t, flagger.Router{Kind: flagger.RouterHTTPRoute, APIVersion: "v1", Provider: "gatewayapi:v1"}, m.Router)
	require.Len(t, m.GatewayRefs, 2)
	for i := range m.Spec.Metrics {
		m.Spec.Metrics[i].OnNoData = canary.NoDataHold // see TestABTestingWithHTTPRoute
	}
	m.Service.Hosts = []string{"app.example.com"} // spec.service.hosts, as Flagger's Gateway API tutorial sets them
	tl := &timeline{t: t}
	res, err := w.drive(ctx, m, "driver-a", tl)
	require.NoError(t, err)
	require.False(t, res.Released)

	gw, err := gatewayclient.NewForConfig(w.env.Config())
	require.NoError(t, err)
	route, err := gw.GatewayV1().HTTPRoutes(w.ns).Get(ctx, "frontend", metav1.GetOptions{})
	require.NoError(t, err)
	require.Len(t, route.Spec.ParentRefs, 2)
	assert.Equal(t, "Service", string(ptr.Deref(route.Spec.ParentRefs[0].Kind, "")))
	assert.Equal(t, "frontend", string(route.Spec.ParentRefs[0].Name))
	assert.Equal(t, "Gateway", string(ptr.Deref(route.Spec.ParentRefs[1].Kind, "")))
	assert.Equal(t, "public", string(route.Spec.ParentRefs[1].Name))
	assert.Equal(t, []gwv1.Hostname{"app.example.com"}, route.Spec.Hostnames, "spec.service.hosts are the route's hostnames")
	dyn, err := dynamic.NewForConfig(w.env.Config())
	require.NoError(t, err)
	splits, err := dyn.Resource(schema.GroupVersionResource{Group: "split.smi-spec.io", Version: "v1alpha2", Resource: "trafficsplits"}).
		Namespace(w.ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, splits.Items, "spec.provider chose the HTTPRoute over the Driver's default")

	before := w.mesh.Traffic()
	w.setImage("frontend", "stefanprodan/podinfo:3.1.1")
	res, err = w.drive(ctx, m, "driver-a", tl)
	require.NoError(t, err)
	require.Equal(t, canary.PhaseSucceeded, res.Phase, res.Reason)
	assert.Equal(t, "stefanprodan/podinfo:3.1.1", w.image("frontend-primary"))
	checked := map[string]int{}
	for _, e := range tl.events {
		for _, c := range e.e.Checks {
			if c.Verdict == canary.VerdictPass {
				checked[c.Name]++
			}
		}
	}
	assert.Positive(t, checked["error-rate"], "the error-rate template passed checks: %v", checked)
	assert.Positive(t, checked["latency"], "the latency template passed checks: %v", checked)

	during := w.mesh.Traffic().Since(before)
	var unmatchedToCanary, matchedToCanary uint64
	for k, v := range during.Counts {
		if k.Service != "frontend" || k.Route.Kind != "HTTPRoute" || k.Deployment != "frontend" {
			continue
		}
		if k.Route.Rule == 0 {
			matchedToCanary += v.Requests
		} else {
			unmatchedToCanary += v.Requests
		}
	}
	assert.Zero(t, unmatchedToCanary, "requests that match no condition never reach the canary")
	assert.NotZero(t, matchedToCanary, "Firefox users and insiders reached the canary")
}

// A Canary whose spec.provider canarykit cannot drive is refused by path: by the loader, and
// by the Driver for a Canary that carries such a router anyway, before anything in the
// cluster is touched (nothing is created in its namespace).
func TestUnknownProviderIsRefusedBeforeTheCluster(t *testing.T) {
	env := testenv.Shared(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join("..", "..", "kube", "flagger", "testdata", "canary-003-ab-testing.yaml"))
	require.NoError(t, err)
	appmesh := strings.Replace(string(data), "\n  service:\n", "\n  provider: appmesh\n  service:\n", 1)
	require.NotEqual(t, string(data), appmesh)
	_, err = flagger.LoadCanary([]byte(appmesh))
	require.ErrorContains(t, err, "spec.provider")
	assert.ErrorContains(t, err, "appmesh")

	m, err := flagger.LoadCanary(data)
	require.NoError(t, err)
	m.Namespace, m.Target.Namespace = ns, ns
	m.Router = flagger.Router{Kind: "appmesh", Provider: "appmesh"}
	d, err := driver.New(driver.Options{Config: env.Config(), Prometheus: "http://prometheus.invalid:9090"})
	require.NoError(t, err)
	defer d.Close()
	_, err = d.Release(ctx, m, nil)
	require.ErrorContains(t, err, `spec.provider: canarykit cannot drive provider "appmesh"`)
	_, err = d.Target(m, nil)
	require.ErrorContains(t, err, `spec.provider: canarykit cannot drive provider "appmesh"`)

	c := env.Client()
	deps, err := c.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, deps.Items)
	svcs, err := c.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, svcs.Items)
	leases, err := c.CoordinationV1().Leases(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, leases.Items)
	events, err := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, events.Items)
	_, err = c.CoordinationV1().Leases(ns).Get(ctx, m.Target.Name+"-canarykit", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err))
}
