package mesh

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	gatewayfake "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned/fake"

	"github.com/canarykit/canarykit/canary"
)

// badMatch is a match condition canary.ValidateMatches refuses: a regex that does not parse.
var badMatch = []canary.Match{{Headers: map[string]canary.StringMatch{"x-user": {Regex: "(unclosed"}}}}

// SetWeights, which recreates a deleted VirtualService from the target, refuses match
// conditions Reconcile refuses, before any request: a hostile regex never reaches the cluster.
func TestRedteamIstioSetWeightsValidatesMatch(t *testing.T) {
	dyn := newIstioFake()
	r, err := NewIstio(IstioOptions{Client: dyn, Version: "v1"})
	require.NoError(t, err)
	tg := newTarget()
	tg.Match = badMatch
	err = r.SetWeights(ctx(t), tg, canary.AllPrimary())
	requirePermanent(t, err)
	assert.True(t, errors.Is(err, canary.ErrInvalidSpec), "got %v", err)
	assert.Empty(t, dyn.Actions(), "no request")
}

// The same for the HTTPRoute router, which recreates a deleted route from the target.
func TestRedteamHTTPRouteSetWeightsValidatesMatch(t *testing.T) {
	cs := gatewayfake.NewSimpleClientset()
	r, err := NewHTTPRoute(HTTPRouteOptions{Client: cs, Port: 80})
	require.NoError(t, err)
	tg := newTarget()
	tg.Match = badMatch
	err = r.SetWeights(ctx(t), tg, canary.AllPrimary())
	requirePermanent(t, err)
	assert.True(t, errors.Is(err, canary.ErrInvalidSpec), "got %v", err)
	assert.Empty(t, cs.Actions(), "no request")
}
