package kube

import (
	"context"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
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
	nc, err := c.namespace(context.Background(), "ns", noExtras)
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

// The caches keep no data of the configs tracking leaves out (opted out, or a Secret type it
// does not track), and all of the others', and autoscalers without their status.
func TestCachesDropUnreadData(t *testing.T) {
	disabled := map[string]string{AnnotationConfigTracking: "disabled"}
	secret := func(name string, typ corev1.SecretType, annotations map[string]string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Annotations: annotations}, Type: typ,
			Data: map[string][]byte{"k": []byte(name)}}
	}
	client := fake.NewClientset(
		secret("opaque", corev1.SecretTypeOpaque, nil),
		secret("tls", corev1.SecretTypeTLS, nil),
		secret("opted-out", corev1.SecretTypeOpaque, disabled),
		secret("token", corev1.SecretTypeServiceAccountToken, nil),
		secret("registry", corev1.SecretTypeDockerConfigJson, nil),
		secret("release-record", "helm.sh/release.v1", nil),
		cm("tracked", "1", nil),
		cm("cm-opted-out", "1", disabled),
		&autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "ns"},
			Spec:   autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: ptr.To(int32(2)), MaxReplicas: 4},
			Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 2, Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{{Type: autoscalingv2.ScalingActive}}}},
	)
	c, err := New(Options{Client: client})
	require.NoError(t, err)
	defer c.Close()
	nc, err := c.namespace(context.Background(), "ns", hpaScalers)
	require.NoError(t, err)

	for name, kept := range map[string]bool{"opaque": true, "tls": true, "opted-out": false, "token": false, "registry": false, "release-record": false} {
		s, err := nc.secrets.Secrets("ns").Get(name)
		require.NoError(t, err, name)
		if kept {
			assert.Equal(t, map[string][]byte{"k": []byte(name)}, s.Data, name)
		} else {
			assert.Nil(t, s.Data, name)
			assert.NotEmpty(t, s.Type, "%s: the rest is kept", name)
		}
	}
	tracked, err := nc.configMaps.ConfigMaps("ns").Get("tracked")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"k": "1"}, tracked.Data)
	optedOut, err := nc.configMaps.ConfigMaps("ns").Get("cm-opted-out")
	require.NoError(t, err)
	assert.Nil(t, optedOut.Data)
	assert.Equal(t, disabled, optedOut.Annotations)

	h, err := nc.hpa("ns", "podinfo")
	require.NoError(t, err)
	assert.Equal(t, autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: ptr.To(int32(2)), MaxReplicas: 4}, h.Spec)
	assert.Zero(t, h.Status)
}

// OnDeployment's functions hear every Deployment added or updated in the namespaces whose
// caches run, started before or after them, until they are removed.
func TestOnDeploymentHearsTheCachesDeployments(t *testing.T) {
	client := fake.NewClientset()
	c, err := New(Options{Client: client})
	require.NoError(t, err)
	defer c.Close()
	ctx := t.Context()
	_, err = c.namespace(ctx, "early", noExtras)
	require.NoError(t, err)

	first, second := make(chan string, 10), make(chan string, 10)
	removeFirst := c.OnDeployment(func(ns, name string) { first <- ns + "/" + name })
	defer c.OnDeployment(func(ns, name string) { second <- ns + "/" + name })()
	_, err = c.namespace(ctx, "late", noExtras)
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

// DaemonSets are watched only in a namespace one of whose targets is a DaemonSet: there,
// OnDeployment's functions hear them too (a DaemonSet change starts a release as a
// Deployment's does).
func TestOnDeploymentHearsDaemonSetsWhereTargetsAreDaemonSets(t *testing.T) {
	client := fake.NewClientset()
	c, err := New(Options{Client: client})
	require.NoError(t, err)
	defer c.Close()
	ctx := t.Context()
	plain, err := c.namespace(ctx, "plain", noExtras)
	require.NoError(t, err)
	assert.Nil(t, plain.daemonSets, "no DaemonSet cache without a DaemonSet target")
	_, err = c.namespace(ctx, "nodes", daemonSets)
	require.NoError(t, err)
	heard := make(chan string, 10)
	defer c.OnDeployment(func(ns, name string) { heard <- ns + "/" + name })()

	for _, ns := range []string{"plain", "nodes"} {
		_, err := client.AppsV1().DaemonSets(ns).Create(ctx, &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: ns}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	assert.Equal(t, "nodes/agent", <-heard)
	_, err = client.AppsV1().Deployments("plain").Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "last", Namespace: "plain"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	assert.Equal(t, "plain/last", <-heard, "the DaemonSet of a namespace without DaemonSet targets is not heard")
}

// A function removed while an event is being given out (here by the function called before
// it, as a controller stopping a watch from its own handler would) is not called for it: no
// call starts after remove returns.
func TestOnDeploymentRemovedDuringAnEvent(t *testing.T) {
	c, err := New(Options{Client: fake.NewClientset()})
	require.NoError(t, err)
	defer c.Close()
	var calls []string
	var removeSecond func()
	defer c.OnDeployment(func(_, name string) {
		calls = append(calls, "first "+name)
		removeSecond()
	})()
	removeSecond = c.OnDeployment(func(_, name string) { calls = append(calls, "second "+name) })

	c.deploymentChanged(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns"}})
	c.deploymentChanged(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "ns"}})
	assert.Equal(t, []string{"first a", "first b"}, calls)
}

// With a WatchClient, the caches and the Lease watch list and watch through it only; the
// Client is left to the writes.
func TestWatchClientCarriesTheWatches(t *testing.T) {
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "podinfo-canarykit", Namespace: "ns",
		Labels: map[string]string{canary.LabelManagedBy: canary.ManagedBy}}}
	client := fake.NewClientset()
	watch := fake.NewClientset(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "ns"}}, lease)
	c, err := New(Options{Client: client, WatchClient: watch})
	require.NoError(t, err)
	defer c.Close()
	nc, err := c.namespace(context.Background(), "ns", hpaScalers) // with the autoscalers' cache
	require.NoError(t, err)
	_, err = nc.deployment("ns", "podinfo")
	require.NoError(t, err, "the cache was filled from the watch client")
	_, err = c.controlWatch(context.Background(), "ns")
	require.NoError(t, err)

	verbs := func(cs *fake.Clientset) map[string]int {
		out := map[string]int{}
		for _, a := range cs.Actions() {
			out[a.GetVerb()+" "+a.GetResource().Resource]++
		}
		return out
	}
	got := verbs(watch)
	for _, r := range []string{"deployments", "services", "configmaps", "secrets", "horizontalpodautoscalers", "leases"} {
		assert.Equal(t, 1, got["list "+r], r)
		assert.Equal(t, 1, got["watch "+r], r)
	}
	assert.Empty(t, client.Actions(), "nothing listed or watched through the Client")

	// without one, the Client carries them
	c2, err := New(Options{Client: watch})
	require.NoError(t, err)
	defer c2.Close()
	assert.Same(t, c2.watch, c2.client)
}
