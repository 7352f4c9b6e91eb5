package testenv_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/internal/testenv"
)

// IstioCRDs reads Istio's own CRDs (no server needed): the three it names, v1 stored, and
// IstioCRDServing narrows what they serve without touching the shared copies.
func TestIstioCRDs(t *testing.T) {
	crds := testenv.IstioCRDs(t)
	require.Len(t, crds, len(testenv.IstioNetworkingCRDs))
	for _, c := range crds {
		assert.Contains(t, testenv.IstioNetworkingCRDs, c.Name)
		served, stored := map[string]bool{}, ""
		for _, v := range c.Spec.Versions {
			served[v.Name] = v.Served
			if v.Storage {
				stored = v.Name
			}
		}
		assert.Equal(t, map[string]bool{"v1": true, "v1beta1": true, "v1alpha3": true}, served, c.Name)
		assert.Equal(t, "v1", stored, c.Name)

		only := testenv.IstioCRDServing(c, "v1beta1")
		for _, v := range only.Spec.Versions {
			assert.Equal(t, v.Name == "v1beta1", v.Served, "%s %s served", c.Name, v.Name)
			assert.Equal(t, v.Name == "v1beta1", v.Storage, "%s %s stored", c.Name, v.Name)
		}
	}
	again := testenv.IstioCRDs(t)
	assert.True(t, again[0].Spec.Versions[0].Served, "each call returns copies")
}
