package kube

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
)

// A GitOps tool knows its objects by labels the target and its ConfigMap carry (Argo CD's
// tracking label app.kubernetes.io/instance, Flux's kustomize.toolkit.fluxcd.io/*). The
// primary and the config copies do not carry them: the tool would take them for its own,
// find them missing from its source and prune them, the primary deleted under its traffic.
// The target's other labels are copied as before.
func TestCopiesDoNotCarryAGitOpsToolsMarks(t *testing.T) {
	ctx := context.Background()
	objs := podinfoWithConfig(1)
	marks := map[string]string{"app.kubernetes.io/instance": "podinfo", "kustomize.toolkit.fluxcd.io/name": "apps",
		"kustomize.toolkit.fluxcd.io/namespace": "flux-system", "argocd.argoproj.io/instance": "podinfo"}
	d := objs[0].(*appsv1.Deployment)
	cm := objs[1].(*corev1.ConfigMap)
	cm.Labels = map[string]string{"team": "a"}
	for k, v := range marks {
		d.Labels[k] = v
		cm.Labels[k] = v
	}
	client := fake.NewClientset(objs...)
	target := canary.Target{Namespace: "test", Name: "podinfo"}
	require.NoError(t, workloadOn(t, client, target).Bootstrap(ctx, target))

	p, err := client.AppsV1().Deployments("test").Get(ctx, "podinfo-primary", metav1.GetOptions{})
	require.NoError(t, err)
	cp, err := client.CoreV1().ConfigMaps("test").Get(ctx, "podinfo-config-primary", metav1.GetOptions{})
	require.NoError(t, err)
	for k := range marks {
		assert.NotContains(t, p.Labels, k, "the primary Deployment")
		assert.NotContains(t, cp.Labels, k, "the ConfigMap's copy")
	}
	assert.Equal(t, "podinfo-primary", p.Labels["app"], "the primary's own selector label")
	assert.Equal(t, "a", cp.Labels["team"], "the user's other labels are copied")
}

// refuseImmutableChanges makes client refuse, as the API server does, a change to the data
// of a ConfigMap marked immutable.
func refuseImmutableChanges(client *fake.Clientset) {
	client.PrependReactor("update", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
		u := a.(k8stesting.UpdateAction).GetObject().(*corev1.ConfigMap)
		cur, err := client.Tracker().Get(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, u.Namespace, u.Name)
		if err != nil {
			return false, nil, nil
		}
		c := cur.(*corev1.ConfigMap)
		if c.Immutable != nil && *c.Immutable && (!equality.Semantic.DeepEqual(c.Data, u.Data) || !equality.Semantic.DeepEqual(c.BinaryData, u.BinaryData)) {
			return true, nil, apierrors.NewInvalid(schema.GroupKind{Kind: "ConfigMap"}, u.Name,
				field.ErrorList{field.Forbidden(field.NewPath("data"), "field is immutable when `immutable` is set")})
		}
		return false, nil, nil
	})
}

// promoteNewRevision observes target, requires a new revision (its originals changed since
// the primary's) and promotes it, as a release's end does.
func promoteNewRevision(t *testing.T, client *fake.Clientset, target canary.Target) {
	t.Helper()
	w := workloadOn(t, client, target)
	st, err := w.Observe(context.Background(), target)
	require.NoError(t, err)
	require.NotEqual(t, st.PrimaryRevision, st.Revision, "a new release")
	require.NoError(t, w.Promote(context.Background(), target, st.Revision))
}

// An immutable ConfigMap changes only by being deleted and made again with new data. Its copy
// is never immutable, so the promotion brings it level; a copy made immutable (as copies were
// made before) is made again.
func TestPromotionFollowsAnImmutableConfigMap(t *testing.T) {
	for _, oldCopy := range []bool{false, true} {
		t.Run(map[bool]string{false: "copy made now", true: "immutable copy made before"}[oldCopy], func(t *testing.T) {
			ctx := context.Background()
			objs := podinfoWithConfig(1)
			objs[1].(*corev1.ConfigMap).Immutable = ptr.To(true)
			client := fake.NewClientset(objs...)
			refuseImmutableChanges(client)
			target := canary.Target{Namespace: "test", Name: "podinfo"}
			require.NoError(t, workloadOn(t, client, target).Bootstrap(ctx, target))
			cp, err := client.CoreV1().ConfigMaps("test").Get(ctx, "podinfo-config-primary", metav1.GetOptions{})
			require.NoError(t, err)
			assert.Nil(t, cp.Immutable, "the copy is not immutable")
			if oldCopy {
				cp.Immutable = ptr.To(true)
				_, err = client.CoreV1().ConfigMaps("test").Update(ctx, cp, metav1.UpdateOptions{})
				require.NoError(t, err)
			}

			require.NoError(t, client.CoreV1().ConfigMaps("test").Delete(ctx, "podinfo-config", metav1.DeleteOptions{}))
			_, err = client.CoreV1().ConfigMaps("test").Create(ctx, &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: "podinfo-config", Namespace: "test"},
				Data:       map[string]string{"k": "v2"}, Immutable: ptr.To(true)}, metav1.CreateOptions{})
			require.NoError(t, err)
			promoteNewRevision(t, client, target)
			cp, err = client.CoreV1().ConfigMaps("test").Get(ctx, "podinfo-config-primary", metav1.GetOptions{})
			require.NoError(t, err)
			assert.Equal(t, map[string]string{"k": "v2"}, cp.Data)
			assert.Equal(t, canary.ManagedBy, cp.Labels[canary.LabelManagedBy])
		})
	}
}

// A Secret's type cannot change (the API server refuses it, as refuseSecretRetyping does
// here): an original made again with another type (Opaque to kubernetes.io/tls) has its copy
// made again too at the promotion, with the new type and data, where an update would keep
// the old type or fail at every promotion.
func TestPromotionFollowsASecretOfAnotherType(t *testing.T) {
	ctx := context.Background()
	d := testenv.PodinfoDeployment("podinfo", "podinfo:1", 1)
	d.Namespace = "test"
	d.Spec.Template.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{
		{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "podinfo-cert"}}}}
	orig := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "podinfo-cert", Namespace: "test"},
		Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"k": []byte("v")}}
	client := fake.NewClientset(d, orig)
	client.PrependReactor("update", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		u := a.(k8stesting.UpdateAction).GetObject().(*corev1.Secret)
		cur, err := client.Tracker().Get(schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, u.Namespace, u.Name)
		if err == nil && secretType(cur.(*corev1.Secret).Type) != secretType(u.Type) {
			return true, nil, apierrors.NewInvalid(schema.GroupKind{Kind: "Secret"}, u.Name,
				field.ErrorList{field.Invalid(field.NewPath("type"), u.Type, "field is immutable")})
		}
		return false, nil, nil
	})
	target := canary.Target{Namespace: "test", Name: "podinfo"}
	require.NoError(t, workloadOn(t, client, target).Bootstrap(ctx, target))
	cp, err := client.CoreV1().Secrets("test").Get(ctx, "podinfo-cert-primary", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, corev1.SecretTypeOpaque, cp.Type)

	require.NoError(t, client.CoreV1().Secrets("test").Delete(ctx, "podinfo-cert", metav1.DeleteOptions{}))
	tlsData := map[string][]byte{corev1.TLSCertKey: []byte("cert"), corev1.TLSPrivateKeyKey: []byte("key")}
	_, err = client.CoreV1().Secrets("test").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "podinfo-cert", Namespace: "test"},
		Type: corev1.SecretTypeTLS, Data: tlsData}, metav1.CreateOptions{})
	require.NoError(t, err)
	promoteNewRevision(t, client, target)
	cp, err = client.CoreV1().Secrets("test").Get(ctx, "podinfo-cert-primary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, corev1.SecretTypeTLS, cp.Type)
	assert.Equal(t, tlsData, cp.Data)
	assert.Equal(t, canary.ManagedBy, cp.Labels[canary.LabelManagedBy])
}
