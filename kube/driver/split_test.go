package driver

import (
	"testing"

	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/metrics"
	"github.com/stretchr/testify/assert"
)

func TestSplitMeshPerRouter(t *testing.T) {
	for kind, want := range map[flagger.RouterKind]metrics.Mesh{
		flagger.RouterSMI: metrics.MeshLinkerd, flagger.RouterHTTPRoute: metrics.MeshLinkerd,
		flagger.RouterIstio: metrics.MeshIstio, flagger.RouterNGINX: metrics.MeshNGINX,
	} {
		got, ok := splitMesh(kind)
		assert.True(t, ok, kind)
		assert.Equal(t, want, got, kind)
		_, ok = metrics.SplitQueries(got)
		assert.True(t, ok, "a query table entry for %s", got)
	}
	_, ok := splitMesh(flagger.RouterKubernetes)
	assert.False(t, ok, "switching a Service's selector splits nothing")
}
