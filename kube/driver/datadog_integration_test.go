package driver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/kube/flagger"
)

// A datadog MetricTemplate as Flagger's CRD stores it (no address: Datadog's default; a
// secretRef) is read back from a real apiserver, and a templated metric queries Datadog's v1
// API (an httptest server: there is no real Datadog) with the keys of the Secret stored in
// the cluster.
func TestDatadogTemplateFromTheCluster(t *testing.T) {
	env := testenv.Shared(t)
	testenv.InstallCRDs(t, env.Config(), testenv.MetricTemplateCRD())
	ns := env.Namespace(t)
	ctx := context.Background()

	var mu sync.Mutex
	var keys []string
	dd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("DD-API-KEY")+"/"+r.Header.Get("DD-APPLICATION-KEY"))
		mu.Unlock()
		_, _ = w.Write([]byte(`{"status":"ok","series":[{"pointlist":[[1767322800000,0.75]]}]}`))
	}))
	t.Cleanup(dd.Close)

	admin, err := dynamic.NewForConfig(env.Config())
	require.NoError(t, err)
	for name, provider := range map[string]map[string]any{
		"default-site": {"type": "datadog", "secretRef": map[string]any{"name": "datadog"}},
		"local":        {"type": "datadog", "address": dd.URL, "secretRef": map[string]any{"name": "datadog"}},
	} {
		_, err := admin.Resource(MetricTemplates()).Namespace(ns).Create(ctx, &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "flagger.app/v1beta1", "kind": "MetricTemplate", "metadata": map[string]any{"name": name, "namespace": ns},
			"spec": map[string]any{"query": "avg:requests{service:{{ target }}}", "provider": provider},
		}}, metav1.CreateOptions{})
		require.NoError(t, err, name)
	}
	_, err = env.Client().CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "datadog"},
		Data: map[string][]byte{"datadog_api_key": []byte("api"), "datadog_application_key": []byte("app")}}, metav1.CreateOptions{})
	require.NoError(t, err)

	src := ClusterObjects(admin)
	def, err := src.MetricTemplate(ctx, ns, "default-site")
	require.NoError(t, err)
	assert.Equal(t, flagger.MetricTemplateProvider{Type: "datadog", SecretRef: "datadog"}, def.Provider)
	local, err := src.MetricTemplate(ctx, ns, "local")
	require.NoError(t, err)

	d := &Driver{opts: Options{Logger: logr.Discard(), Clock: clocktesting.NewFakeClock(time.Unix(1767323045, 0))},
		client: env.Client(), proms: map[string]canary.MetricProvider{}}
	p, err := d.templateProvider(ctx, local, time.Minute)
	require.NoError(t, err)
	v, err := p.Query(ctx, "avg:requests{service:podinfo}")
	require.NoError(t, err)
	assert.Equal(t, 0.75, v)
	assert.Equal(t, []string{"api/app"}, keys)
}
