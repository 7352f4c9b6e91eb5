package driver

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/canarykit/canarykit/kube/flagger"
)

// A proxy URL from an AlertProvider's Secret that does not parse must not be quoted in the
// error (which reaches the Canary's events): it holds the proxy's password.
func TestRedteamBadSecretProxyKeepsItsPasswordOut(t *testing.T) {
	client := fake.NewClientset(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "slack", Namespace: "flagger"},
		Data: map[string][]byte{
			"address": []byte("https://hooks.slack.com/services/T0/B0/x"),
			"proxy":   []byte("http://squid:s3cret@proxy.internal:31 28"),
		}})
	s := testDriver(client)
	_, err := s.notifier(context.Background(), flagger.AlertProvider{Name: "on-call", Namespace: "flagger", Type: "slack", SecretRef: "slack"})
	require.ErrorContains(t, err, "AlertProvider flagger/on-call: proxy")
	assert.NotContains(t, err.Error(), "s3cret")
}
