package mesh

import (
	"testing"

	splitfake "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/split/clientset/versioned/fake"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	k8stesting "k8s.io/client-go/testing"
	gatewayfake "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned/fake"

	"github.com/canarykit/canarykit/canary"
)

// gets counts the GET requests a fake clientset received.
func gets(actions []k8stesting.Action) int {
	n := 0
	for _, a := range actions {
		if a.GetVerb() == "get" {
			n++
		}
	}
	return n
}

// Adopting a route with its weights reads it once: ReconcileWeights returns what Weights would
// read, from the same GET.
func TestReconcileWeightsReadsTheRouteOnce(t *testing.T) {
	split := splitfake.NewSimpleClientset()
	ts, err := NewTrafficSplit(TrafficSplitOptions{Client: split, Version: "v1alpha2"})
	require.NoError(t, err)
	gw := gatewayfake.NewSimpleClientset()
	hr, err := NewHTTPRoute(HTTPRouteOptions{Client: gw, Port: 80})
	require.NoError(t, err)
	for name, c := range map[string]struct {
		router  canary.WeightsReconciler
		actions func() []k8stesting.Action
		clear   func()
	}{
		"TrafficSplit": {ts, split.Actions, split.ClearActions},
		"HTTPRoute":    {hr, gw.Actions, gw.ClearActions},
	} {
		tg := newTarget()
		w, err := c.router.ReconcileWeights(ctx(t), tg)
		require.NoError(t, err, name)
		assert.Equal(t, canary.AllPrimary(), w, "%s: a new route routes to the primary", name)
		require.NoError(t, c.router.SetWeights(ctx(t), tg, canary.CanaryWeight(30)), name)

		c.clear()
		w, err = c.router.ReconcileWeights(ctx(t), tg)
		require.NoError(t, err, name)
		assert.Equal(t, canary.CanaryWeight(30), w, name)
		assert.Equal(t, 1, gets(c.actions()), "%s: one read of the route", name)
		assert.Len(t, c.actions(), 1, "%s: nothing written to a route in shape", name)
		read, err := c.router.Weights(ctx(t), tg)
		require.NoError(t, err, name)
		assert.Equal(t, read, w, "%s: the weights Weights reads", name)
	}
}
