package canary_test

import (
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Flagger's {{ ingress }} is the Canary's ingressRef name (Target.Ingress), the target's name
// without one.
func TestQueryIngressVariable(t *testing.T) {
	target := canary.Target{Namespace: "test", Name: "podinfo", Service: "web", Canary: "frontend"}
	m := canary.Metric{Name: "nginx-errors", Interval: time.Minute, ThresholdRange: canary.AtMost(1),
		Query: `sum(rate(nginx_ingress_controller_requests{namespace="{{ namespace }}",ingress="{{ ingress }}",status=~"5.*"}[{{ interval }}]))`}
	q, err := canary.RenderQuery(m.Query, canary.VarsFor(target, m))
	require.NoError(t, err)
	assert.Equal(t, `sum(rate(nginx_ingress_controller_requests{namespace="test",ingress="podinfo",status=~"5.*"}[1m]))`, q)
	target.Ingress = "public"
	q, err = canary.RenderQuery(m.Query, canary.VarsFor(target, m))
	require.NoError(t, err)
	assert.Equal(t, `sum(rate(nginx_ingress_controller_requests{namespace="test",ingress="public",status=~"5.*"}[1m]))`, q)

	spec := canary.Spec{Interval: 30 * time.Second, Threshold: 2, MaxWeight: 50, StepWeight: 10, Metrics: []canary.Metric{m}}
	assert.NoError(t, spec.Validate(), "a query using {{ ingress }} parses")
}
