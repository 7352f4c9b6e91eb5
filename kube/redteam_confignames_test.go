package kube

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/canarykit/canarykit/canary"
)

// A tracked config whose name is too long for its primary copy ("<name>-primary", at most
// 253 characters) is refused before anything is written, naming the reference: before,
// Bootstrap wrote the other copies and then met the API server's refusal of that one.
func TestRedteamTrackedConfigNameTooLongForItsCopy(t *testing.T) {
	ctx := context.Background()
	long := strings.Repeat("c", 250)
	objs := podinfoWithConfig(2)
	d := objs[0].(*appsv1.Deployment)
	d.Spec.Template.Spec.Containers[0].EnvFrom = append(d.Spec.Template.Spec.Containers[0].EnvFrom,
		corev1.EnvFromSource{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: long}}})
	cm := objs[1].(*corev1.ConfigMap).DeepCopy()
	cm.Name = long
	client := fake.NewClientset(append(objs, cm)...)
	target := canary.Target{Namespace: "test", Name: "podinfo"}
	w := workloadOn(t, client, target)
	client.ClearActions()

	err := w.Bootstrap(ctx, target)
	require.Error(t, err)
	assert.Contains(t, err.Error(), long+"-primary")
	assert.True(t, canary.IsPermanent(err))
	assert.Empty(t, writes(client), "nothing is written")
}
