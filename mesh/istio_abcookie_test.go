package mesh

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clienttesting "k8s.io/client-go/testing"

	"github.com/canarykit/canarykit/canary"
)

// All traffic to the primary, written for a target with A/B match conditions, reaches the
// primary whatever routes an earlier release with session affinity left (its cookie routes
// before the weighted one, with or without a primary cookie's route): before, the patch set
// the first route's two weights only, the cookie route's, and the weighted route after it
// kept 30 % on the canary. Once the VirtualService has the A/B target's routes, a step is one
// patch again, whose body holds no match condition.
func TestIstioABAllPrimaryOverCookieRoutes(t *testing.T) {
	for _, primaryCookie := range []bool{false, true} {
		sticky := affinityTarget(primaryCookie, "canary=ABC", "")
		ab := sticky
		ab.Affinity = nil
		ab.Match = []canary.Match{{Headers: map[string]canary.StringMatch{"x-canary": {Exact: "insider-" + strings.Repeat("x", 512)}}}}
		dyn := newIstioFake()
		r, err := NewIstio(IstioOptions{Client: dyn, Version: "v1"})
		require.NoError(t, err)
		require.NoError(t, r.Reconcile(ctx(t), sticky))
		require.NoError(t, r.SetWeights(ctx(t), sticky, canary.CanaryWeight(30)))

		require.NoError(t, r.SetWeights(ctx(t), ab, canary.AllPrimary()))
		routes := istioHTTP(t, getVS(t, dyn, "v1", ab))
		for i, route := range routes {
			for _, d := range route.(map[string]any)["route"].([]any) {
				dest := d.(map[string]any)
				if dest["destination"].(map[string]any)["host"] == ab.CanaryService() {
					assert.EqualValues(t, 0, dest["weight"], "primary cookie %v: route %d sends to the canary", primaryCookie, i)
				}
			}
		}
		require.Len(t, routes, 2, "primary cookie %v: the A/B target's routes", primaryCookie)
		w, err := r.Weights(ctx(t), ab)
		require.NoError(t, err)
		assert.Equal(t, canary.AllPrimary(), w, "primary cookie %v", primaryCookie)

		dyn.ClearActions()
		require.NoError(t, r.SetWeights(ctx(t), ab, canary.CanaryWeight(10)))
		require.Len(t, dyn.Actions(), 1, "primary cookie %v: one request a step", primaryCookie)
		patch, ok := dyn.Actions()[0].(clienttesting.PatchAction)
		require.True(t, ok, "primary cookie %v: a patch, got %v", primaryCookie, dyn.Actions()[0])
		assert.NotContains(t, string(patch.GetPatch()), "insider", "primary cookie %v: no match condition in the step's body", primaryCookie)
		w, err = r.Weights(ctx(t), ab)
		require.NoError(t, err)
		assert.Equal(t, canary.CanaryWeight(10), w, "primary cookie %v", primaryCookie)
	}
}

// With a destination port, the A/B target's route to the primary is recognised as the router
// writes it, port included: a step is one patch.
func TestIstioABStepWithDestinationPortIsOnePatch(t *testing.T) {
	ab := newTarget()
	ab.Match = []canary.Match{{Headers: map[string]canary.StringMatch{"x-canary": {Exact: "insider"}}}}
	dyn := newIstioFake()
	base, err := NewIstio(IstioOptions{Client: dyn, Version: "v1"})
	require.NoError(t, err)
	r, err := base.WithDestinationPort(9898)
	require.NoError(t, err)
	require.NoError(t, r.Reconcile(ctx(t), ab))
	dyn.ClearActions()
	require.NoError(t, r.SetWeights(ctx(t), ab, canary.CanaryWeight(20)))
	require.Len(t, dyn.Actions(), 1, "one request a step")
	w, err := r.Weights(ctx(t), ab)
	require.NoError(t, err)
	assert.Equal(t, canary.CanaryWeight(20), w)
}
