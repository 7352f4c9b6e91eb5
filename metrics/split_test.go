package metrics_test

import (
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/metrics"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSplitQueriesRender(t *testing.T) {
	target := canary.Target{Namespace: "test", Name: "podinfo"}
	vars := canary.VarsFor(target, canary.Metric{Interval: 30e9})
	want := map[metrics.Mesh][2]string{
		metrics.MeshLinkerd: {
			`sum(increase(response_total{namespace="test",deployment="podinfo",direction="inbound",authority!~"podinfo-(canary|primary)([.:].*)?"}[30s]))`,
			`sum(increase(response_total{namespace="test",deployment=~"podinfo|podinfo-primary",direction="inbound",authority!~"podinfo-(canary|primary)([.:].*)?"}[30s]))`,
		},
		metrics.MeshIstio: {
			`sum(increase(istio_requests_total{reporter="destination",destination_workload_namespace="test",destination_workload="podinfo"}[30s]))`,
			`sum(increase(istio_requests_total{reporter="destination",destination_workload_namespace="test",destination_workload=~"podinfo|podinfo-primary"}[30s]))`,
		},
		metrics.MeshNGINX: {
			`sum(increase(nginx_ingress_controller_requests{namespace="test",ingress="podinfo",canary!=""}[30s]))`,
			`sum(increase(nginx_ingress_controller_requests{namespace="test",ingress="podinfo"}[30s]))`,
		},
	}
	for mesh, w := range want {
		q, ok := metrics.SplitQueries(mesh)
		require.True(t, ok, mesh)
		c, err := canary.RenderQuery(q.Canary, vars)
		require.NoError(t, err)
		total, err := canary.RenderQuery(q.Total, vars)
		require.NoError(t, err)
		assert.Equal(t, w[0], c, mesh)
		assert.Equal(t, w[1], total, mesh)
	}
	_, ok := metrics.SplitQueries("kubernetes")
	assert.False(t, ok, "a mesh-less switch has no split to measure")
}
