package testenv_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/canarykit/canarykit/internal/testenv"
)

func TestUnprivilegedUserIsRefusedUntilGranted(t *testing.T) {
	env := testenv.Shared(t)
	ns := env.Namespace(t)
	user, cfg := env.NewUser(t)
	c, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	ctx := context.Background()

	_, err = c.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	require.True(t, apierrors.IsForbidden(err), "want Forbidden, got %v", err)

	env.Grant(t, user, ns, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"list", "create"}})

	_, err = c.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	_, err = c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ok"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	// The grant is for this namespace and these verbs only.
	_, err = c.CoreV1().ConfigMaps(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{})
	require.True(t, apierrors.IsForbidden(err), "want Forbidden, got %v", err)
	err = c.CoreV1().ConfigMaps(ns).Delete(ctx, "ok", metav1.DeleteOptions{})
	require.True(t, apierrors.IsForbidden(err), "want Forbidden, got %v", err)
}

func TestAuditCountsRequestsBetweenMarks(t *testing.T) {
	env := testenv.Shared(t)
	ns := env.Namespace(t)
	user, cfg := env.NewUser(t)
	env.Grant(t, user, ns, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"*"}})
	c, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	ctx := context.Background()

	mark := env.AuditMark(t)
	for i := range 3 {
		_, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%d", i)}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	for range 5 {
		_, err := c.CoreV1().ConfigMaps(ns).Get(ctx, "cm-0", metav1.GetOptions{})
		require.NoError(t, err)
	}
	_, err = c.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	_, err = c.CoreV1().ConfigMaps(ns).Get(ctx, "missing", metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err))

	events := env.AuditSince(t, mark).ForUser(user)
	counts := events.Counts()
	assert.Equal(t, testenv.AuditCounts{
		{User: user, Verb: "create", Resource: "configmaps"}: 3,
		{User: user, Verb: "get", Resource: "configmaps"}:    6,
		{User: user, Verb: "list", Resource: "configmaps"}:   1,
	}, counts, "counts:\n%s", counts)
	assert.Equal(t, 10, counts.Total())

	codes := map[int]int{}
	for _, e := range events {
		codes[e.Code]++
	}
	assert.Equal(t, map[int]int{201: 3, 200: 6, 404: 1}, codes)

	// Nothing after the closing mark is counted, and the time window agrees with the marks.
	first, last := events[0].Received, events[len(events)-1].Received
	window := env.AuditLog(t).ForUser(user).Window(first, last.Add(1))
	assert.Len(t, window, 10)
}
