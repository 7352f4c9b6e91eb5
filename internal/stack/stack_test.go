package stack

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/canarykit/canarykit/kube"
	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// A MetricTemplate's provider is queried with the credentials of its secretRef (as Flagger
// reads them) and its headers; a Secret without them is an error naming the template.
func TestTemplateProviderUsesTheSecretAndHeaders(t *testing.T) {
	var mu sync.Mutex
	var seen []http.Header
	prom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"0.5"]}]}}`))
	}))
	t.Cleanup(prom.Close)
	client := fake.NewClientset(
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "token", Namespace: "ops"}, Data: map[string][]byte{"token": []byte("s3cret")}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "basic", Namespace: "ops"}, Data: map[string][]byte{"username": []byte("u"), "password": []byte("p")}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "empty", Namespace: "ops"}, Data: map[string][]byte{"user": []byte("u")}},
	)
	s := &Stack{opts: Options{Logger: logr.Discard()}, client: client}
	ctx := context.Background()
	tpl := func(secret string) *kube.MetricTemplate {
		return &kube.MetricTemplate{Name: "errors", Namespace: "ops", Query: "x", Provider: kube.MetricTemplateProvider{
			Type: "prometheus", Address: prom.URL, SecretRef: secret, Headers: map[string][]string{"X-Scope-OrgID": {"tenant-a"}}}}
	}

	for _, secret := range []string{"token", "basic", ""} {
		p, err := s.templateProvider(ctx, tpl(secret))
		require.NoError(t, err, secret)
		v, err := p.Query(ctx, "x")
		require.NoError(t, err)
		assert.Equal(t, 0.5, v)
	}
	require.Len(t, seen, 3)
	assert.Equal(t, "Bearer s3cret", seen[0].Get("Authorization"))
	assert.Equal(t, "Basic dTpw", seen[1].Get("Authorization"))
	assert.Empty(t, seen[2].Get("Authorization"))
	for _, h := range seen {
		assert.Equal(t, "tenant-a", h.Get("X-Scope-OrgID"))
	}

	_, err := s.templateProvider(ctx, tpl("empty"))
	require.ErrorContains(t, err, `MetricTemplate ops/errors: secret ops/empty: secret has neither "token" nor "username" and "password"`)
	_, err = s.templateProvider(ctx, tpl("missing"))
	require.ErrorContains(t, err, "MetricTemplate ops/errors: spec.provider.secretRef:")
	assert.Contains(t, err.Error(), `"missing" not found`)
}
