package driver

import (
	"testing"

	splitclient "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/split/clientset/versioned"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/mesh"
)

// A route write that a cluster's admission policy refuses mid-release (a
// ValidatingAdmissionPolicy added after the route was made) is, as the real API server words
// the refusal, a permanent router error that names admission control: the engine ends the
// release rather than retry the same write at every tick.
func TestRouteWriteRefusedByAdmissionIsPermanent(t *testing.T) {
	env := testenv.Shared(t)
	ctx, _, ns := bedNamespace(t, env, testenv.TrafficSplitCRD())
	cs, err := splitclient.NewForConfig(env.Config())
	require.NoError(t, err)
	r, err := mesh.NewTrafficSplit(mesh.TrafficSplitOptions{Client: cs, Version: "v1alpha2"})
	require.NoError(t, err)
	tg := canary.Target{Namespace: ns, Name: "podinfo"}
	require.NoError(t, r.Reconcile(ctx, tg), "the route is made before the policy")

	const message = "canary weights in this namespace are frozen"
	gvr := schema.GroupVersionResource{Group: "split.smi-spec.io", Version: "v1alpha2", Resource: "trafficsplits"}
	probe := map[string]any{"apiVersion": "split.smi-spec.io/v1alpha2", "kind": "TrafficSplit",
		"spec": map[string]any{"service": "probe", "backends": []any{map[string]any{"service": "probe", "weight": int64(100)}}}}
	denyCreates(ctx, t, env, ns, gvr, probe, message, admissionv1.Update)

	err = r.SetWeights(ctx, tg, canary.CanaryWeight(50))
	require.Error(t, err)
	assert.True(t, canary.IsPermanent(err), "permanent: %v", err)
	assert.ErrorContains(t, err, "refused by admission control")
	assert.ErrorContains(t, err, message)
	w, err := r.Weights(ctx, tg)
	require.NoError(t, err)
	assert.Equal(t, canary.AllPrimary(), w, "nothing written")
}
