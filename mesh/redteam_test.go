package mesh

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayfake "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned/fake"

	"github.com/canarykit/canarykit/canary"
)

// badMatch is a match condition canary.ValidateMatches refuses: a regex that does not parse.
var badMatch = []canary.Match{{Headers: map[string]canary.StringMatch{"x-user": {Regex: "(unclosed"}}}}

// SetWeights, which recreates a deleted route (a VirtualService, an HTTPRoute) from the target,
// refuses match conditions Reconcile refuses, before any request: a hostile regex never
// reaches the cluster.
func TestRedteamSetWeightsValidatesMatch(t *testing.T) {
	for name, newRouter := range map[string]func(t *testing.T) (canary.MeshRouter, func() int){
		"istio": func(t *testing.T) (canary.MeshRouter, func() int) {
			dyn := newIstioFake()
			r, err := NewIstio(IstioOptions{Client: dyn, Version: "v1"})
			require.NoError(t, err)
			return r, func() int { return len(dyn.Actions()) }
		},
		"httproute": func(t *testing.T) (canary.MeshRouter, func() int) {
			cs := gatewayfake.NewSimpleClientset()
			r, err := NewHTTPRoute(HTTPRouteOptions{Client: cs, Port: 80})
			require.NoError(t, err)
			return r, func() int { return len(cs.Actions()) }
		},
	} {
		t.Run(name, func(t *testing.T) {
			r, requests := newRouter(t)
			tg := newTarget()
			tg.Match = badMatch
			err := r.SetWeights(ctx(t), tg, canary.AllPrimary())
			requirePermanent(t, err)
			assert.True(t, errors.Is(err, canary.ErrInvalidSpec), "got %v", err)
			assert.Zero(t, requests(), "no request")
		})
	}
}

// stickyAt30 is a target with session affinity whose release has 30 % on the canary, and the
// same target without session affinity: what kube/driver's Retire hands the router (the
// Canary's target, which knows no cookie) when a Canary is deleted mid-release.
func stickyAt30() (sticky, plain canary.Target) {
	sticky = affinityTarget(false, "canary=ABC", "")
	plain = sticky
	plain.Affinity = nil
	return sticky, plain
}

// allPrimaryOverCookie routes 30 % to sticky's canary through r, then all traffic to the
// primary for plain (sticky without session affinity), and checks the weights r reads back.
func allPrimaryOverCookie(t *testing.T, r canary.MeshRouter, sticky, plain canary.Target) {
	t.Helper()
	require.NoError(t, r.Reconcile(ctx(t), sticky))
	require.NoError(t, r.SetWeights(ctx(t), sticky, canary.CanaryWeight(30)))
	w, err := r.Weights(ctx(t), plain)
	require.NoError(t, err)
	require.Equal(t, canary.CanaryWeight(30), w)

	require.NoError(t, r.SetWeights(ctx(t), plain, canary.AllPrimary()))
	w, err = r.Weights(ctx(t), plain)
	require.NoError(t, err)
	assert.Equal(t, canary.AllPrimary(), w)
}

// All traffic to the primary, written for a target without session affinity, reaches the
// primary even when the VirtualService still has the cookie route a release with session
// affinity put before the weighted route: before, the patch set the cookie route's weights
// (the first route's) and the weighted route kept 30 % on the canary.
func TestRedteamIstioAllPrimaryOverCookieRoute(t *testing.T) {
	sticky, plain := stickyAt30()
	dyn := newIstioFake()
	r, err := NewIstio(IstioOptions{Client: dyn, Version: "v1"})
	require.NoError(t, err)
	allPrimaryOverCookie(t, r, sticky, plain)
	for i, route := range istioHTTP(t, getVS(t, dyn, "v1", plain)) {
		for _, d := range route.(map[string]any)["route"].([]any) {
			dest := d.(map[string]any)
			if dest["destination"].(map[string]any)["host"] == plain.CanaryService() {
				assert.EqualValues(t, 0, dest["weight"], "route %d sends to the canary", i)
			}
		}
	}
}

// The same for the HTTPRoute router: the cookie rule first, the weighted rule after it.
func TestRedteamHTTPRouteAllPrimaryOverCookieRule(t *testing.T) {
	sticky, plain := stickyAt30()
	cs := gatewayfake.NewSimpleClientset()
	r, err := NewHTTPRoute(HTTPRouteOptions{Client: cs, Port: 80})
	require.NoError(t, err)
	allPrimaryOverCookie(t, r, sticky, plain)
	hr, err := cs.GatewayV1().HTTPRoutes(plain.Namespace).Get(ctx(t), plain.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	for i, rule := range hr.Spec.Rules {
		for _, b := range rule.BackendRefs {
			if string(b.Name) == plain.CanaryService() {
				assert.EqualValues(t, 0, *b.Weight, "rule %d sends to the canary", i)
			}
		}
	}
}
