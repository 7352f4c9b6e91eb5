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
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/flagger"
)

// A Canary whose metrics refer to a datadog MetricTemplate queries Datadog's v1 API (here an
// httptest server speaking it: there is no real Datadog) with the Secret's two keys and, as
// Flagger, a window of ten of the metric's intervals ending now: the metric's own interval,
// or the default 1m for a metric without one. Each (template, interval) has its own client.
func TestDatadogTemplatedMetric(t *testing.T) {
	var mu sync.Mutex
	var seen []*http.Request
	dd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Clone(context.Background()))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok","series":[{"pointlist":[[1767322800000,0.25],[1767322860000,0.5]]}]}`))
	}))
	t.Cleanup(dd.Close)

	objs, err := flagger.LoadObjects([]byte(`
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: latency, namespace: ops}
spec:
  provider: {type: datadog, address: "` + dd.URL + `", secretRef: {name: datadog}}
  query: avg:trace.http.request.duration{service:{{ target }},env:{{ namespace }}}
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898}
  analysis:
    interval: 30s
    threshold: 5
    maxWeight: 50
    stepWeight: 10
    metrics:
    - name: latency-2m
      interval: 2m
      templateRef: {name: latency, namespace: ops}
      thresholdRange: {max: 1}
    - name: latency-default
      templateRef: {name: latency, namespace: ops}
      thresholdRange: {max: 1}
`))
	require.NoError(t, err)
	c := objs.Canaries[0]
	require.NoError(t, c.Resolve(context.Background(), objs))

	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) // 1767323045
	client := fake.NewClientset(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "datadog", Namespace: "ops"},
		Data: map[string][]byte{"datadog_api_key": []byte("api-s3cret"), "datadog_application_key": []byte("app-s3cret")}})
	d := &Driver{opts: Options{Logger: logr.Discard(), Clock: clocktesting.NewFakeClock(now)}, client: client, proms: map[string]canary.MetricProvider{}}
	spec, fallback, err := d.templated(context.Background(), c)
	require.NoError(t, err)
	assert.Nil(t, fallback, "every metric has its template's provider: no Prometheus needed")

	for _, m := range spec.Metrics {
		q, err := canary.RenderQuery(m.Query, canary.VarsFor(c.Target, m))
		require.NoError(t, err)
		v, err := m.Provider.Query(context.Background(), q)
		require.NoError(t, err)
		assert.Equal(t, 0.5, v)
	}
	require.Len(t, seen, 2)
	for i, from := range []string{"1767321845", "1767322445"} { // now - 10 × 2m, now - 10 × 1m
		q := seen[i].URL.Query()
		assert.Equal(t, "/api/v1/query", seen[i].URL.Path)
		assert.Equal(t, "avg:trace.http.request.duration{service:podinfo,env:test}", q.Get("query"))
		assert.Equal(t, from, q.Get("from"), spec.Metrics[i].Name)
		assert.Equal(t, "1767323045", q.Get("to"))
		assert.Equal(t, "api-s3cret", seen[i].Header.Get("DD-API-KEY"))
		assert.Equal(t, "app-s3cret", seen[i].Header.Get("DD-APPLICATION-KEY"))
	}
	assert.Len(t, d.proms, 2, "one client per window")
	again, _, err := d.templated(context.Background(), c)
	require.NoError(t, err)
	assert.Same(t, spec.Metrics[0].Provider, again.Metrics[0].Provider, "cached")
}

// A Secret without one of the two keys is an error naming the Secret, the key and the
// Canary's field.
func TestDatadogSecretKeys(t *testing.T) {
	client := fake.NewClientset(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "dd", Namespace: "ops"},
		Data: map[string][]byte{"datadog_api_key": []byte("k")}})
	d := testDriver(client)
	c := &flagger.Canary{
		Spec: canary.Spec{Metrics: []canary.Metric{{Name: "latency", Query: "avg:x{*}", ThresholdRange: canary.AtMost(1)}}},
		TemplateRefs: []flagger.MetricTemplateRef{{Metric: 0, Name: "latency", Namespace: "ops", Path: "spec.analysis.metrics[0].templateRef",
			Template: &flagger.MetricTemplate{Name: "latency", Namespace: "ops", Query: "avg:x{*}",
				Provider: flagger.MetricTemplateProvider{Type: "datadog", SecretRef: "dd"}}}},
	}
	_, _, err := d.templated(context.Background(), c)
	require.EqualError(t, err, `spec.analysis.metrics[0].templateRef: MetricTemplate ops/latency: secret ops/dd (spec.provider.secretRef): no key "datadog_application_key" (datadog needs datadog_api_key and datadog_application_key)`)
	assert.Empty(t, d.proms)
}
