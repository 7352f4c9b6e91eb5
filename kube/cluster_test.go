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

// OnDeployment's functions hear every Deployment added or updated in the namespaces whose
// caches run, started before or after them, until they are removed.
func TestOnDeploymentHearsTheCachesDeployments(t *testing.T) {
	client := fake.NewClientset()
	c, err := New(Options{Client: client})
	require.NoError(t, err)
	defer c.Close()
	ctx := t.Context()
	_, err = c.namespace(ctx, "early", false)
	require.NoError(t, err)

	first, second := make(chan string, 10), make(chan string, 10)
	removeFirst := c.OnDeployment(func(ns, name string) { first <- ns + "/" + name })
	defer c.OnDeployment(func(ns, name string) { second <- ns + "/" + name })()
	_, err = c.namespace(ctx, "late", false)
	require.NoError(t, err)

	create := func(ns, name string) {
		_, err := client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	create("early", "a")
	assert.Equal(t, "early/a", <-first)
	assert.Equal(t, "early/a", <-second)
	create("late", "b")
	assert.Equal(t, "late/b", <-first)
	assert.Equal(t, "late/b", <-second)
	d, err := client.AppsV1().Deployments("late").Get(ctx, "b", metav1.GetOptions{})
	require.NoError(t, err)
	d.Spec.Replicas = new(int32)
	_, err = client.AppsV1().Deployments("late").Update(ctx, d, metav1.UpdateOptions{})
	require.NoError(t, err)
	assert.Equal(t, "late/b", <-first, "an update")
	assert.Equal(t, "late/b", <-second)

	removeFirst()
	create("late", "c")
	assert.Equal(t, "late/c", <-second)
	assert.Empty(t, first, "a removed function is not called (it would have been before the second)")
}
