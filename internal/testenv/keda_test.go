package testenv_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/internal/testenv"
)

// ScaledObjectCRD reads KEDA's own CRD (no server needed): keda.sh/v1alpha1, served and
// stored, with the fields canarykit copies to the primary's ScaledObject in its schema.
func TestScaledObjectCRD(t *testing.T) {
	crd := testenv.ScaledObjectCRD(t)
	assert.Equal(t, "scaledobjects.keda.sh", crd.Name)
	assert.Equal(t, "keda.sh", crd.Spec.Group)
	assert.Equal(t, "ScaledObject", crd.Spec.Names.Kind)
	require.Len(t, crd.Spec.Versions, 1)
	v := crd.Spec.Versions[0]
	assert.Equal(t, "v1alpha1", v.Name)
	assert.True(t, v.Served)
	assert.True(t, v.Storage)
	spec := v.Schema.OpenAPIV3Schema.Properties["spec"]
	for _, f := range []string{"scaleTargetRef", "minReplicaCount", "maxReplicaCount", "advanced", "triggers"} {
		assert.Contains(t, spec.Properties, f)
	}
	assert.Contains(t, spec.Properties["advanced"].Properties["horizontalPodAutoscalerConfig"].Properties, "name")
	crd.Name = "changed"
	assert.Equal(t, "scaledobjects.keda.sh", testenv.ScaledObjectCRD(t).Name, "each call returns a copy")
}
