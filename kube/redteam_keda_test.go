package kube

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/kube/kedaapi"
)

// otherScaledObject is another app's ScaledObject, paused at zero (by its own Canary, say).
const otherScaledObject = `
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: other
  namespace: test
  annotations: {autoscaling.keda.sh/paused-replicas: "0"}
spec:
  scaleTargetRef: {name: other}
  triggers: [{type: cpu, metadata: {value: "50"}}]
`

// An autoscalerRef naming a ScaledObject that scales another Deployment is refused by
// Bootstrap; ScaleDown, ScaleUp and RestoreTarget (which a Canary deleted with
// revertOnDeletion runs, bootstrapped or not) must refuse it too, and leave it alone: before,
// RestoreTarget removed the other app's pause annotation (KEDA then scaled the other app's
// Deployment, held at zero by its own Canary, back up), and ScaleDown paused it.
func TestRedteamScaledObjectOfAnotherAppIsNotPausedOrResumed(t *testing.T) {
	ctx := context.Background()
	f := newKEDAFixture(t, func(o *WorkloadOptions) { o.Autoscaler = "other" }, unstructuredYAML(t, otherScaledObject))
	require.ErrorContains(t, f.w.Bootstrap(ctx, f.t), `scales Deployment "other", not the target Deployment "podinfo"`)
	f.dyn.ClearActions()

	_, err := f.w.RestoreTarget(ctx, f.t)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `not the target Deployment "podinfo"`)
	assert.Equal(t, "0", f.get(t, "other").GetAnnotations()[kedaapi.PausedReplicasAnnotation], "the other app stays paused")
	err = f.w.ScaleUp(ctx, f.t)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `not the target Deployment "podinfo"`)
	err = f.w.ScaleDown(ctx, f.t)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `not the target Deployment "podinfo"`)

	for _, a := range f.dyn.Actions() {
		assert.Contains(t, []string{"get", "list", "watch"}, a.GetVerb(), "no write: %v", a)
	}
	assert.Equal(t, "0", f.get(t, "other").GetAnnotations()[kedaapi.PausedReplicasAnnotation], "the other app stays paused")
}
