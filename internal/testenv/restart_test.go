package testenv_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/canarykit/canarykit/internal/testenv"
)

// Restarting kube-apiserver keeps the cluster's state (etcd runs on) and the address: a client
// made before the restart fails while the apiserver is down and works again, unchanged, after.
// The audit log goes on in the same file.
func TestRestartAPIServerKeepsStateAndAddress(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a test bed")
	}
	env := testenv.Start(t, testenv.Options{Audit: true})
	ctx := context.Background()
	c := env.Client()
	host := env.Host()
	ns := env.Namespace(t)
	_, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "kept"}, Data: map[string]string{"k": "v"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	firstLog := env.APIServerLog()

	env.StopAPIServer(t)
	_, err = c.CoreV1().ConfigMaps(ns).Get(ctx, "kept", metav1.GetOptions{})
	require.Error(t, err, "the apiserver is down")

	env.StartAPIServer(t)
	assert.Equal(t, host, env.Host(), "same address")
	assert.NotEqual(t, firstLog, env.APIServerLog(), "each start has its own log")
	mark := env.AuditMark(t) // the audit log is written again after the restart
	cm, err := c.CoreV1().ConfigMaps(ns).Get(ctx, "kept", metav1.GetOptions{})
	require.NoError(t, err, "the client made before the restart works again")
	assert.Equal(t, "v", cm.Data["k"], "etcd kept the object")
	events := env.AuditSince(t, mark).ForUser(testenv.AdminUser)
	got := 0
	for _, e := range events {
		if e.Verb == "get" && e.Resource == "configmaps" && e.Name == "kept" {
			got++
		}
	}
	assert.Equal(t, 1, got, "the request after the restart is in the audit log")

	env.RestartAPIServer(t)
	_, err = c.CoreV1().ConfigMaps(ns).Get(ctx, "kept", metav1.GetOptions{})
	require.NoError(t, err, "a second restart")
}
