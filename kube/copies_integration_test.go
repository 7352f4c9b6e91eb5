package kube_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube"
)

var tlsData = map[string][]byte{corev1.TLSCertKey: []byte("cert"), corev1.TLSPrivateKeyKey: []byte("key")}

// remadeOriginals is a target whose tracked originals change only by being deleted and made
// again: an immutable ConfigMap (the API server refuses a change to its data) and a Secret
// (the API server refuses a change of its type). It returns the driver, bootstrapped with both
// copies made, and remakes the originals (the ConfigMap with new data, the Secret as
// kubernetes.io/tls) when called.
func remadeOriginals(t *testing.T, b *bed) (*driver, func()) {
	t.Helper()
	ctx := context.Background()
	settings := func(v string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "podinfo-settings"},
			Data: map[string]string{"tier": v}, Immutable: ptr.To(true)}
	}
	_, err := b.admin.CoreV1().ConfigMaps(b.ns).Create(ctx, settings("one"), metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = b.admin.CoreV1().Secrets(b.ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "podinfo-cert"},
		Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"token": []byte("one")}}, metav1.CreateOptions{})
	require.NoError(t, err)
	b.createTarget(t, "podinfo:1")
	b.updateTarget(t, func(d *appsv1.Deployment) {
		c := &d.Spec.Template.Spec.Containers[0]
		c.EnvFrom = append(c.EnvFrom,
			corev1.EnvFromSource{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "podinfo-settings"}}},
			corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "podinfo-cert"}}})
	})
	d := b.driver(t, driverOptions{})
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		d.mustRun(t) // bootstraps; the copies appear once the cache has seen the edited target
		_, errCM := b.admin.CoreV1().ConfigMaps(b.ns).Get(ctx, "podinfo-settings-primary", metav1.GetOptions{})
		_, errSec := b.admin.CoreV1().Secrets(b.ns).Get(ctx, "podinfo-cert-primary", metav1.GetOptions{})
		return errCM == nil && errSec == nil, nil
	}))
	require.False(t, d.mustRun(t).Released, "nothing changed since the bootstrap")
	return d, func() {
		require.NoError(t, b.admin.CoreV1().ConfigMaps(b.ns).Delete(ctx, "podinfo-settings", metav1.DeleteOptions{}))
		_, err := b.admin.CoreV1().ConfigMaps(b.ns).Create(ctx, settings("two"), metav1.CreateOptions{})
		require.NoError(t, err)
		require.NoError(t, b.admin.CoreV1().Secrets(b.ns).Delete(ctx, "podinfo-cert", metav1.DeleteOptions{}))
		_, err = b.admin.CoreV1().Secrets(b.ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "podinfo-cert"},
			Type: corev1.SecretTypeTLS, Data: tlsData}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
}

// With kube.RevertRBAC() bound beside kube.RBAC(), a release follows originals made again and
// its promotion brings the primary's copies level on a real API server: the Secret's copy
// made again with the new type and data, and an immutable ConfigMap copy (as an earlier
// canarykit made them) made again with the new data.
func TestCopiesFollowOriginalsMadeAgain(t *testing.T) {
	b := newBed(t)
	var revert rbacv1.ClusterRole
	require.NoError(t, yaml.Unmarshal(kube.RevertRBAC(), &revert))
	b.env.Grant(t, b.user, b.ns, revert.Rules...)
	d, remake := remadeOriginals(t, b)
	ctx := context.Background()
	cm, err := b.admin.CoreV1().ConfigMaps(b.ns).Get(ctx, "podinfo-settings-primary", metav1.GetOptions{})
	require.NoError(t, err)
	cm.Immutable = ptr.To(true)
	_, err = b.admin.CoreV1().ConfigMaps(b.ns).Update(ctx, cm, metav1.UpdateOptions{})
	require.NoError(t, err)
	remake()

	var res canary.Result
	var runErr error
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		runCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		res, runErr = d.run(runCtx) // returns at once until the cache has seen both originals made again
		return runErr == nil && res.Released, nil
	})
	if err != nil {
		msgs := d.rec.Messages()
		t.Fatalf("no release: the last run %+v, %v; its last events: %q", res, runErr, msgs[max(0, len(msgs)-8):])
	}
	require.Equal(t, canary.PhaseSucceeded, res.Phase)

	cm, err = b.admin.CoreV1().ConfigMaps(b.ns).Get(ctx, "podinfo-settings-primary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"tier": "two"}, cm.Data, "the immutable ConfigMap's copy has the new data")
	assert.Nil(t, cm.Immutable, "and is made mutable")
	sec, err := b.admin.CoreV1().Secrets(b.ns).Get(ctx, "podinfo-cert-primary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, corev1.SecretTypeTLS, sec.Type, "the Secret's copy has the new type")
	assert.Equal(t, tlsData, sec.Data)
	assert.Equal(t, canary.ManagedBy, sec.Labels[canary.LabelManagedBy])
}

// Under kube.RBAC() alone, which grants no delete, the promotion that must make the Secret's
// copy again says why it cannot and which permission it needs, rather than the API server's
// bare refusal; the copy stays as it was.
func TestCopyMadeAgainNamesTheDeleteItNeeds(t *testing.T) {
	b := newBed(t)
	d, remake := remadeOriginals(t, b)
	remake()
	ctx := context.Background()
	const why = "the original's type is kubernetes.io/tls, the copy's Opaque, and a type changes only by making the Secret again, so the copy must be deleted and made again, which needs delete on secrets (kube.RevertRBAC() grants it, kube.RBAC() does not)"
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		runCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, _ = d.run(runCtx) // the promotion is retried until the context ends
		for _, m := range d.rec.Messages() {
			if strings.Contains(m, why) {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		msgs := d.rec.Messages()
		t.Fatalf("no event says why: the last events %q", msgs[max(0, len(msgs)-8):])
	}
	sec, err := b.admin.CoreV1().Secrets(b.ns).Get(ctx, "podinfo-cert-primary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, corev1.SecretTypeOpaque, sec.Type, "the copy is left as it was")
	assert.Equal(t, map[string][]byte{"token": []byte("one")}, sec.Data)
}
