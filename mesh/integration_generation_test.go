package mesh_test

import (
	"testing"

	splitclient "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/split/clientset/versioned"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/mesh"
)

// A TrafficSplit's weights written conditionally on its generation, on the real API server:
// each write is one request and moves the generation; a label edit leaves the generation and
// the next write alone; an edit of the spec (kubectl edit) makes the next write fail with
// ErrRouteChanged, writing nothing, until the route is adopted again; a removed label is
// ErrRouteChanged too, and adopting again says whose it is.
func TestIntegrationTrafficSplitGeneration(t *testing.T) {
	b := &splitBed{bed: newBed(t, splitRBAC...)}
	var err error
	b.split, err = splitclient.NewForConfig(b.cfg)
	require.NoError(t, err)
	installSplitCRD(t, b.bed, testenv.TrafficSplitCRD())
	b.served(t, mesh.SplitGroup, testenv.LinkerdSMIVersions()...)
	r := b.router(t, "")
	tg := b.target(t)
	patchKey := testenv.AuditKey{User: b.user, Verb: "patch", Resource: "trafficsplits"}
	gvr := trafficSplits
	gvr.Version = "v1alpha2"
	splits := b.dyn.Resource(gvr).Namespace(b.ns)
	edit := func(f func(obj *unstructured.Unstructured)) {
		t.Helper()
		obj, err := splits.Get(bg(t), tg.ApexService(), metav1.GetOptions{})
		require.NoError(t, err)
		f(obj)
		_, err = splits.Update(bg(t), obj, metav1.UpdateOptions{})
		require.NoError(t, err)
	}

	w, gen, err := r.ReconcileGeneration(bg(t), tg)
	require.NoError(t, err)
	assert.Equal(t, canary.AllPrimary(), w, "created at all primary")
	require.Positive(t, gen)

	for _, weight := range []int{20, 40} {
		var next int64
		counts := b.audit(t, func() {
			next, err = r.SetWeightsAt(bg(t), tg, canary.CanaryWeight(weight), gen)
			require.NoError(t, err)
		})
		assert.Equal(t, testenv.AuditCounts{patchKey: 1}, counts, "one request per conditional write")
		assert.Greater(t, next, gen, "the write moves the generation")
		gen = next
	}
	assert.Equal(t, canary.CanaryWeight(40), b.splitWeights(t, "v1alpha2", tg))

	t.Run("LabelEditKeepsGeneration", func(t *testing.T) {
		edit(func(obj *unstructured.Unstructured) {
			labels := obj.GetLabels()
			labels["team"] = "checkout"
			obj.SetLabels(labels)
		})
		next, err := r.SetWeightsAt(bg(t), tg, canary.CanaryWeight(60), gen)
		require.NoError(t, err, "metadata edits do not touch the routing")
		assert.Equal(t, canary.CanaryWeight(60), b.splitWeights(t, "v1alpha2", tg))
		gen = next
	})

	t.Run("SpecEditFailsTheWrite", func(t *testing.T) {
		edit(func(obj *unstructured.Unstructured) {
			backends, _, err := unstructured.NestedSlice(obj.Object, "spec", "backends")
			require.NoError(t, err)
			backends = append(backends, map[string]any{"service": "someone-elses", "weight": int64(5)})
			require.NoError(t, unstructured.SetNestedSlice(obj.Object, backends, "spec", "backends"))
		})
		counts := b.audit(t, func() {
			_, err = r.SetWeightsAt(bg(t), tg, canary.CanaryWeight(80), gen)
		})
		require.ErrorIs(t, err, mesh.ErrRouteChanged)
		assert.False(t, canary.IsPermanent(err), "adopting the route again decides")
		assert.Equal(t, testenv.AuditCounts{patchKey: 1}, counts, "the refused patch, no read")
		obj, gerr := splits.Get(bg(t), tg.ApexService(), metav1.GetOptions{})
		require.NoError(t, gerr)
		backends, _, _ := unstructured.NestedSlice(obj.Object, "spec", "backends")
		assert.Len(t, backends, 3, "nothing written over the edit")

		w, fresh, err := r.ReconcileGeneration(bg(t), tg)
		require.NoError(t, err)
		assert.Equal(t, canary.CanaryWeight(60), w, "adopted with the weights it had")
		assert.Greater(t, fresh, gen)
		next, err := r.SetWeightsAt(bg(t), tg, canary.CanaryWeight(80), fresh)
		require.NoError(t, err)
		assert.Equal(t, canary.CanaryWeight(80), b.splitWeights(t, "v1alpha2", tg))
		obj, gerr = splits.Get(bg(t), tg.ApexService(), metav1.GetOptions{})
		require.NoError(t, gerr)
		backends, _, _ = unstructured.NestedSlice(obj.Object, "spec", "backends")
		assert.Len(t, backends, 2, "put back in shape")
		gen = next
	})

	t.Run("LabelRemoved", func(t *testing.T) {
		edit(func(obj *unstructured.Unstructured) {
			labels := obj.GetLabels()
			labels[canary.LabelManagedBy] = "flagger"
			obj.SetLabels(labels)
		})
		_, err := r.SetWeightsAt(bg(t), tg, canary.CanaryWeight(90), gen)
		require.ErrorIs(t, err, mesh.ErrRouteChanged)
		_, _, err = r.ReconcileGeneration(bg(t), tg)
		require.ErrorIs(t, err, mesh.ErrNotOwned)
		assert.Equal(t, canary.CanaryWeight(80), b.splitWeights(t, "v1alpha2", tg), "left alone")
	})
}
