package kube

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// The caches keep objects without their managedFields, and the rest as it is.
func TestCachesDropManagedFields(t *testing.T) {
	managed := []metav1.ManagedFieldsEntry{{Manager: "kubectl-client-side-apply", Operation: metav1.ManagedFieldsOperationUpdate,
		APIVersion: "apps/v1", FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{}}`)}}}
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: "ns", ManagedFields: managed,
			Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}"}}
	}
	client := fake.NewClientset(
		&appsv1.Deployment{ObjectMeta: meta("podinfo")},
		&corev1.Service{ObjectMeta: meta("podinfo")},
		&corev1.ConfigMap{ObjectMeta: meta("podinfo-config"), Data: map[string]string{"a": "b"}},
	)
	c, err := New(Options{Client: client})
	require.NoError(t, err)
	defer c.Close()
	nc, err := c.namespace(context.Background(), "ns", false)
	require.NoError(t, err)

	d, err := nc.deployment("ns", "podinfo")
	require.NoError(t, err)
	assert.Nil(t, d.ManagedFields)
	assert.Equal(t, "{}", d.Annotations["kubectl.kubernetes.io/last-applied-configuration"], "other metadata is kept")
	s, err := nc.service("ns", "podinfo")
	require.NoError(t, err)
	assert.Nil(t, s.ManagedFields)
	cm, err := nc.configMaps.ConfigMaps("ns").Get("podinfo-config")
	require.NoError(t, err)
	assert.Nil(t, cm.ManagedFields)
	assert.Equal(t, map[string]string{"a": "b"}, cm.Data)
}
