package kube

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// The memo gives the revision revision() gives, and a new one for a new template (a new
// generation, a recreated Deployment, a new object made in code) or a changed tracked config.
func TestRevisionMemoFollowsTemplateAndTrackedConfigs(t *testing.T) {
	dep := func(uid types.UID, generation int64, image string) *appsv1.Deployment {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "ns", UID: uid, Generation: generation},
			Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: podSpec()}}}
		d.Spec.Template.Spec.Containers[0].Image = image
		return d
	}
	nc := cacheWith(t, cm("cm-vol", "1", nil), cm("cm-proj", "1", nil))
	memo := &revisionMemo{}
	memoized := func(d *appsv1.Deployment) string {
		tr, err := nc.trackedConfigs("ns", &d.Spec.Template.Spec, memo)
		require.NoError(t, err)
		return memo.revisionOf(deploymentApp(d), tr)
	}
	plain := func(d *appsv1.Deployment) string {
		tr, err := nc.trackedConfigs("ns", &d.Spec.Template.Spec, nil)
		require.NoError(t, err)
		return revision(&d.Spec.Template, tr)
	}

	d1 := dep("u1", 1, "podinfo:1")
	r1 := memoized(d1)
	assert.Equal(t, plain(d1), r1, "the memo's revision is revision()'s")
	assert.Len(t, memo.sums, 2, "the checksums of the two present tracked configs")

	status := d1.DeepCopy() // a status update: a new object, the same generation
	status.Status.ReadyReplicas = 1
	assert.Equal(t, r1, memoized(status))
	sameGeneration := dep("u1", 1, "podinfo:other")
	assert.Equal(t, r1, memoized(sameGeneration), "one generation is one spec: the memo answers without encoding")

	d2 := dep("u1", 2, "podinfo:2")
	r2 := memoized(d2)
	assert.NotEqual(t, r1, r2, "a new generation")
	assert.Equal(t, plain(d2), r2)

	recreated := dep("u2", 2, "podinfo:3")
	assert.Equal(t, plain(recreated), memoized(recreated), "a recreated Deployment (new UID, the same generation)")
	assert.NotEqual(t, r2, memoized(recreated))

	inCode := dep("", 0, "podinfo:4") // made in code: keyed by the template's address
	r4 := memoized(inCode)
	assert.Equal(t, plain(inCode), r4)
	other := dep("", 0, "podinfo:5")
	assert.Equal(t, plain(other), memoized(other))
	assert.NotEqual(t, r4, memoized(other))

	nc = cacheWith(t, cm("cm-vol", "2", nil), cm("cm-proj", "1", nil)) // new objects, one with new data
	r5 := memoized(d2)
	assert.NotEqual(t, r2, r5, "a tracked config's new data")
	assert.Equal(t, plain(d2), r5)

	// The memo answers for an object it has seen: a checksum it holds is used as is.
	proj := cm("cm-proj", "1", nil)
	nc = cacheWith(t, cm("cm-vol", "2", nil), proj)
	memo.sums = map[any]string{proj: "remembered"}
	tr, err := nc.trackedConfigs("ns", &d2.Spec.Template.Spec, memo)
	require.NoError(t, err)
	sums := map[string]string{}
	for _, tc := range tr {
		sums[tc.ref.String()] = tc.checksum
	}
	assert.Equal(t, "remembered", sums["ConfigMap/cm-proj"])
	assert.Equal(t, checksum(map[string]string{"k": "2"}, map[string][]byte(nil)), sums["ConfigMap/cm-vol"])
	assert.Len(t, memo.sums, 2, "only the objects of the last read are kept")
}
