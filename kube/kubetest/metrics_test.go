package kubetest_test

import (
	"context"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/canarykit/canarykit/kube/kubetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWeightMetricsAnswersUnderTheRoutersWeights(t *testing.T) {
	ctx := context.Background()
	target := canary.Target{Namespace: "shop", Name: "checkout"}
	router := &canarytest.Router{}
	m := &kubetest.WeightMetrics{Router: router, Target: target, Value: func(q string, w canary.Weights) (float64, error) {
		if w.Canary >= 30 {
			return 90, nil
		}
		return 99.9, nil
	}}
	require.NoError(t, router.Reconcile(ctx, target))
	v, err := m.Query(ctx, "q")
	require.NoError(t, err)
	assert.Equal(t, 99.9, v)

	require.NoError(t, router.SetWeights(ctx, target, canary.CanaryWeight(30)))
	v, err = m.Query(ctx, "q")
	require.NoError(t, err)
	assert.Equal(t, 90.0, v)

	got := m.Queries()
	require.Len(t, got, 2)
	assert.Equal(t, canary.AllPrimary(), got[0].Weights)
	assert.Equal(t, canary.CanaryWeight(30), got[1].Weights)

	// an unreadable route is an error of the query, not a value
	_, err = (&kubetest.WeightMetrics{Router: router, Target: canary.Target{Namespace: "x", Name: "y"},
		Value: m.Value}).Query(ctx, "q")
	assert.Error(t, err)
	_, err = (&kubetest.WeightMetrics{}).Query(ctx, "q")
	assert.Error(t, err)
}
