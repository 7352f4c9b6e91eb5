package mesh_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/mesh"
	"github.com/canarykit/canarykit/mesh/gatewayapi"
	"github.com/canarykit/canarykit/mesh/istioapi"
)

// A/B match conditions beyond headers on Istio's own CRDs, written at v1 and at v1beta1 and
// read back at both, under the router's RBAC: the schema keeps every field of the
// HTTPMatchRequest (none pruned: the stored match is the router's, so Reconcile only reads),
// alone and merged into spec.service.match, and each step is one patch.
func TestIntegrationIstioABMatchFields(t *testing.T) {
	b := &istioBed{bed: newBed(t, istioRBAC...)}
	testenv.InstallCRDs(t, b.admin, testenv.IstioCRDs(t)...)
	b.served(t, mesh.IstioGroup, "v1", "v1alpha3", "v1beta1")
	var err error
	b.userDyn, err = dynamic.NewForConfig(b.cfg)
	require.NoError(t, err)

	every := canary.Match{
		Name: "beta", URI: &canary.StringMatch{Prefix: "/api"}, Method: &canary.StringMatch{Exact: "GET"},
		Headers:     map[string]canary.StringMatch{"x-user": {Suffix: "@corp"}},
		QueryParams: map[string]canary.StringMatch{"beta": {Exact: "1"}}, Authority: &canary.StringMatch{Regex: `.*\.example\.com`},
		Scheme: &canary.StringMatch{Exact: "https"}, Port: 8080, IgnoreURICase: true,
		WithoutHeaders: map[string]canary.StringMatch{"x-bot": {Exact: "1"}},
		SourceLabels:   map[string]string{"app": "frontend"}, SourceNamespace: "web",
	}
	everyStored := map[string]any{
		"name": "beta", "uri": map[string]any{"prefix": "/api"}, "method": map[string]any{"exact": "GET"},
		"headers":     map[string]any{"x-user": map[string]any{"regex": ".*@corp$"}},
		"queryParams": map[string]any{"beta": map[string]any{"exact": "1"}}, "authority": map[string]any{"regex": `.*\.example\.com`},
		"scheme": map[string]any{"exact": "https"}, "port": int64(8080), "ignoreUriCase": true,
		"withoutHeaders": map[string]any{"x-bot": map[string]any{"exact": "1"}},
		"sourceLabels":   map[string]any{"app": "frontend"}, "sourceNamespace": "web",
	}
	// merged into a service match by uri: the A/B condition sets every field but uri
	merged := every
	merged.URI, merged.IgnoreURICase = nil, false
	service := istioapi.Service{Match: []istioapi.HTTPMatchRequest{{URI: &istioapi.StringMatch{Exact: "/v2"}, IgnoreURICase: true}}}
	mergedStored := map[string]any{}
	for k, v := range everyStored {
		mergedStored[k] = v
	}
	mergedStored["uri"] = map[string]any{"exact": "/v2"}

	for _, version := range []string{"v1", "v1beta1"} {
		for name, c := range map[string]struct {
			svc   istioapi.Service
			match canary.Match
			want  map[string]any
		}{
			"Alone":       {istioapi.Service{}, every, everyStored},
			"WithService": {service, merged, mergedStored},
		} {
			t.Run(version+name, func(t *testing.T) {
				r, err := b.router(t, mesh.IstioOptions{Version: version}).WithService(c.svc)
				require.NoError(t, err)
				tg := b.target(t)
				tg.Match = []canary.Match{c.match, {Headers: map[string]canary.StringMatch{"cookie": {Regex: "^(.*?;)?(type=insider)(;.*)?$"}}}}
				require.NoError(t, r.Reconcile(bg(t), tg))
				counts := b.audit(t, func() { require.NoError(t, r.SetWeights(bg(t), tg, canary.AllCanary())) })
				assert.Equal(t, testenv.AuditCounts{{User: b.user, Verb: "patch", Resource: "virtualservices"}: 1}, counts, "one patch per step")
				for _, read := range []string{"v1", "v1beta1"} {
					http := istioHTTPRoutes(t, b.vs(t, read, tg))
					require.Len(t, http, 2, read)
					match := http[0]["match"].([]any)
					require.Len(t, match, 2, read)
					assert.Equal(t, c.want, match[0], "read at %s: every field kept", read)
				}
				counts = b.audit(t, func() {
					w, err := r.ReconcileWeights(bg(t), tg)
					require.NoError(t, err)
					assert.Equal(t, canary.AllCanary(), w)
				})
				assert.Equal(t, testenv.AuditCounts{
					{User: b.user, Verb: "get", Resource: "virtualservices"}:  1,
					{User: b.user, Verb: "get", Resource: "destinationrules"}: 2,
				}, counts, "the stored route is the router's: Reconcile only reads")
			})
		}
	}
}

// A/B match conditions by path, method and query parameters on Gateway API's own HTTPRoute
// CRDs (v1.4.1, CEL validation included), written at v1 and v1beta1, under the router's
// RBAC: the API server accepts them as the router writes them (alone and merged into
// spec.service.match), each step is one patch, and Reconcile finds the stored route equal to
// its own, defaults included, so it only reads.
func TestIntegrationHTTPRouteABMatchFields(t *testing.T) {
	b := newRouteBed(t)
	ab := []canary.Match{
		{URI: &canary.StringMatch{Prefix: "/api"}, Method: &canary.StringMatch{Exact: "POST"},
			Headers:     map[string]canary.StringMatch{"x-user": {Exact: "a"}},
			QueryParams: map[string]canary.StringMatch{"beta": {Exact: "1"}, "plan": {Prefix: "gold"}}},
		{URI: &canary.StringMatch{Regex: "/v[0-9]+/.*"}, QueryParams: map[string]canary.StringMatch{"tier": {Suffix: "+gold"}}},
		{URI: &canary.StringMatch{Exact: "/healthz"}, Method: &canary.StringMatch{Exact: "HEAD"}},
	}
	service := gatewayapi.Service{Match: []istioapi.HTTPMatchRequest{
		{Headers: map[string]istioapi.StringMatch{"x-tenant": {Exact: "a"}}},
		{QueryParams: map[string]istioapi.StringMatch{"v": {Regex: "[0-9]+"}}},
	}}
	onePatch := testenv.AuditCounts{{User: b.user, Verb: "patch", Resource: "httproutes"}: 1}
	oneGet := testenv.AuditCounts{{User: b.user, Verb: "get", Resource: "httproutes"}: 1}
	for _, version := range []string{"v1", "v1beta1"} {
		for name, c := range map[string]struct {
			svc  gatewayapi.Service
			want int
		}{"Alone": {gatewayapi.Service{}, len(ab)}, "WithService": {service, len(ab) * len(service.Match)}} {
			t.Run(version+name, func(t *testing.T) {
				r, err := b.router(t, mesh.HTTPRouteOptions{Port: 9898, Version: version}).WithService(c.svc)
				require.NoError(t, err)
				tg := b.target(t)
				tg.Match = ab
				require.NoError(t, r.Reconcile(bg(t), tg))
				counts := b.audit(t, func() { require.NoError(t, r.SetWeights(bg(t), tg, canary.AllCanary())) })
				assert.Equal(t, onePatch, counts, "one patch per step")
				hr, err := b.gw.GatewayV1().HTTPRoutes(b.ns).Get(bg(t), tg.ApexService(), metav1.GetOptions{})
				require.NoError(t, err)
				require.Len(t, hr.Spec.Rules, 2)
				matches := hr.Spec.Rules[0].Matches
				require.Len(t, matches, c.want)
				assert.Equal(t, gwv1.PathMatchPathPrefix, *matches[0].Path.Type)
				assert.Equal(t, "/api", *matches[0].Path.Value)
				assert.Equal(t, gwv1.HTTPMethodPost, *matches[0].Method)
				assert.Equal(t, []gwv1.HTTPQueryParamMatch{{Name: "beta", Type: ptr.To(gwv1.QueryParamMatchExact), Value: "1"},
					{Name: "plan", Type: ptr.To(gwv1.QueryParamMatchRegularExpression), Value: "^gold.*"}}, matches[0].QueryParams)
				last := matches[len(matches)-1]
				assert.Equal(t, gwv1.PathMatchExact, *last.Path.Type)
				assert.Equal(t, gwv1.HTTPMethodHead, *last.Method)
				counts = b.audit(t, func() {
					w, err := r.ReconcileWeights(bg(t), tg)
					require.NoError(t, err)
					assert.Equal(t, canary.AllCanary(), w)
				})
				assert.Equal(t, oneGet, counts, "the stored route is the router's, defaults included: Reconcile only reads")
			})
		}
	}
}
