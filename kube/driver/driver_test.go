package driver

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/webhook/notify"
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
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "nothing", Namespace: "ops"}},
	)
	s := testDriver(client)
	ctx := context.Background()
	tpl := func(secret string) *flagger.MetricTemplate {
		return &flagger.MetricTemplate{Name: "errors", Namespace: "ops", Query: "x", Provider: flagger.MetricTemplateProvider{
			Type: "prometheus", Address: prom.URL, SecretRef: secret, Headers: map[string][]string{"X-Scope-OrgID": {"tenant-a"}}}}
	}

	for _, secret := range []string{"token", "basic", ""} {
		p, err := s.templateProvider(ctx, tpl(secret), time.Minute)
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

	_, err := s.templateProvider(ctx, tpl("empty"), time.Minute)
	require.ErrorContains(t, err, `MetricTemplate ops/errors: secret ops/empty: secret has neither "token" nor "username" and "password"`)
	// a Secret without data has no credentials either: refused, not queried without them
	_, err = s.templateProvider(ctx, tpl("nothing"), time.Minute)
	require.ErrorContains(t, err, `MetricTemplate ops/errors: secret ops/nothing: secret has neither "token" nor "username" and "password"`)
	_, err = s.templateProvider(ctx, tpl("missing"), time.Minute)
	require.ErrorContains(t, err, "MetricTemplate ops/errors: spec.provider.secretRef:")
	assert.Contains(t, err.Error(), `"missing" not found`)
}

// An AlertProvider becomes the notifier of its type, with the webhook URL and token of its
// secretRef and through its proxy.
func TestAlertProviderNotifiers(t *testing.T) {
	var mu sync.Mutex
	var got []*http.Request
	var bodies []string
	record := func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Clone(context.Background()))
		bodies = append(bodies, string(body))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}
	hooks := httptest.NewServer(http.HandlerFunc(record))
	t.Cleanup(hooks.Close)
	proxy := httptest.NewServer(http.HandlerFunc(record)) // an HTTP proxy sees the absolute URL
	t.Cleanup(proxy.Close)
	client := fake.NewClientset(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "url", Namespace: "flagger"},
		Data: map[string][]byte{"address": []byte(hooks.URL + "/from-secret"), "token": []byte("xoxb-1")}})
	s := testDriver(client)
	ctx := context.Background()
	n := notify.Notification{Severity: notify.SeverityError, Target: canary.Target{Namespace: "test", Name: "podinfo"}, Message: "Failed checks threshold reached 5"}

	for _, p := range []flagger.AlertProvider{
		{Name: "slack", Namespace: "flagger", Type: "slack", SecretRef: "url"},
		{Name: "teams", Namespace: "flagger", Type: "msteams", Address: hooks.URL + "/teams"},
		{Name: "discord", Namespace: "flagger", Type: "discord", Address: hooks.URL + "/discord"},
		{Name: "rocket", Namespace: "flagger", Type: "rocket", Address: "http://rocket.invalid/hooks/x", Proxy: proxy.URL},
		{Name: "gchat", Namespace: "flagger", Type: "gchat", Address: hooks.URL + "/v1/spaces/AAA/messages?key=k&token=t"},
		{Name: "gchat-proxied", Namespace: "flagger", Type: "gchat", Address: "http://chat.invalid/v1/spaces/BBB/messages?key=k2&token=t2", Proxy: proxy.URL},
	} {
		nt, err := s.notifier(ctx, p)
		require.NoError(t, err, p.Name)
		require.NoError(t, nt.Notify(ctx, n), p.Name)
	}
	require.Len(t, got, 6)
	assert.Equal(t, "/from-secret", got[0].URL.Path)
	assert.Equal(t, "Bearer xoxb-1", got[0].Header.Get("Authorization"))
	assert.Equal(t, "/teams", got[1].URL.Path)
	assert.Equal(t, "/discord", got[2].URL.Path)
	assert.Equal(t, "rocket.invalid", got[3].Host, "delivered through the proxy")
	// Google Chat: Flagger's card, to the webhook with its key and token
	assert.Equal(t, "/v1/spaces/AAA/messages", got[4].URL.Path)
	assert.Equal(t, "key=k&token=t", got[4].URL.RawQuery)
	assert.Empty(t, got[4].Header.Get("Authorization"), "the secret's token is Slack's")
	assert.Contains(t, bodies[4], `{"cards":[{"header":{"title":"canarykit","subtitle":"podinfo.test"}`)
	assert.Equal(t, "chat.invalid", got[5].Host, "delivered through the proxy")
	assert.Equal(t, "key=k2&token=t2", got[5].URL.RawQuery)

	_, err := s.notifier(ctx, flagger.AlertProvider{Name: "x", Namespace: "flagger", Type: "slack", SecretRef: "missing"})
	require.ErrorContains(t, err, "AlertProvider flagger/x: spec.secretRef:")
	_, err = s.notifier(ctx, flagger.AlertProvider{Name: "x", Namespace: "flagger", Type: "opsgenie", Address: hooks.URL})
	require.ErrorContains(t, err, `AlertProvider flagger/x: type "opsgenie" is not supported (`)
	_, err = s.notifier(ctx, flagger.AlertProvider{Name: "x", Namespace: "flagger", Type: "gchat", Address: "chat.googleapis.com/v1/spaces/AAA/messages?key=k&token=t"})
	require.ErrorIs(t, err, notify.ErrInvalidConfig)
	assert.NotContains(t, err.Error(), "token=t", "the webhook's credentials stay out of errors")

	// a Slack token without an address posts with chat.postMessage, which needs a channel
	_, err = client.CoreV1().Secrets("flagger").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "token-only", Namespace: "flagger"},
		Data: map[string][]byte{"token": []byte("xoxb-2")}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = s.notifier(ctx, flagger.AlertProvider{Name: "x", Namespace: "flagger", Type: "slack", SecretRef: "token-only"})
	require.ErrorContains(t, err, "AlertProvider flagger/x: spec.channel: required to post with a token")
	_, err = s.notifier(ctx, flagger.AlertProvider{Name: "x", Namespace: "flagger", Type: "slack", SecretRef: "token-only", Channel: "general"})
	require.NoError(t, err)
	_, err = s.notifier(ctx, flagger.AlertProvider{Name: "x", Namespace: "flagger", Type: "discord", SecretRef: "token-only"})
	require.ErrorContains(t, err, `AlertProvider flagger/x: neither spec.address nor the "address" key of its secretRef gives the webhook URL`)
	// the token goes only to the address beside it in its Secret, never to one the
	// AlertProvider's author chose: Flagger sends nothing without the Secret's address
	for _, typ := range []string{"slack", "discord"} {
		_, err = s.notifier(ctx, flagger.AlertProvider{Name: "x", Namespace: "flagger", Type: typ, SecretRef: "token-only",
			Channel: "general", Address: hooks.URL + "/collect"})
		require.ErrorContains(t, err, `AlertProvider flagger/x: spec.secretRef: secret flagger/token-only holds a token but no "address": its token goes only to the address beside it, not to spec.address`)
	}
}

// A templated metric's provider that cannot be built is reported at the Canary's field.
func TestTemplatedErrorsNameTheField(t *testing.T) {
	s := testDriver(fake.NewClientset())
	m := &flagger.Canary{
		Spec: canary.Spec{Metrics: []canary.Metric{{Name: "errors", Query: "up", ThresholdRange: canary.AtMost(1)}}},
		TemplateRefs: []flagger.MetricTemplateRef{{Metric: 0, Name: "errors", Namespace: "ops", Path: "spec.analysis.metrics[0].templateRef",
			Template: &flagger.MetricTemplate{Name: "errors", Namespace: "ops", Query: "up",
				Provider: flagger.MetricTemplateProvider{Type: "prometheus", Address: "http://prom:9090", SecretRef: "missing"}}}},
	}
	_, _, err := s.templated(context.Background(), m)
	require.ErrorContains(t, err, "spec.analysis.metrics[0].templateRef: MetricTemplate ops/errors: spec.provider.secretRef:")
}

// One Release drives one Run at a time: a second, concurrent Run is refused at once.
func TestReleaseRunsOnce(t *testing.T) {
	r := &Release{Canary: &flagger.Canary{Target: canary.Target{Namespace: "test", Name: "podinfo"}}}
	r.running.Store(true)
	_, err := r.Run(context.Background())
	require.ErrorIs(t, err, canary.ErrAlreadyRunning)
	assert.True(t, r.running.Load(), "the Run in progress is still marked")
}

// testDriver is a Driver over a fake client, enough for what builds providers and notifiers.
func testDriver(client *fake.Clientset) *Driver {
	return &Driver{opts: Options{Logger: logr.Discard()}, client: client, proms: map[string]canary.MetricProvider{}}
}

// Options.Metrics answers the metrics without a template in place of Prometheus: no address is
// needed, and the Canary's metrics are read from it.
func TestOptionsMetricsReplacesPrometheus(t *testing.T) {
	c := &flagger.Canary{Spec: canary.Spec{Metrics: []canary.Metric{{Name: "errors", Query: "x"}}}}
	s := testDriver(fake.NewClientset())
	_, _, err := s.templated(context.Background(), c)
	require.ErrorContains(t, err, "a Prometheus address is required", "without Options.Metrics a Prometheus is needed")

	s.opts.Metrics = canary.MetricProviderFunc(func(context.Context, string) (float64, error) { return 42, nil })
	spec, p, err := s.templated(context.Background(), c)
	require.NoError(t, err)
	require.NotNil(t, p)
	v, err := p.Query(context.Background(), spec.Metrics[0].Query)
	require.NoError(t, err)
	assert.Equal(t, 42.0, v)
}

// The built-in request-duration check (no query, no template) reads the Canary's provider in
// whole milliseconds, as Flagger does: a p99 of 500.7 passes a max of 500. Other metrics read
// it as it answers.
func TestBuiltinRequestDurationReadsWholeMilliseconds(t *testing.T) {
	c := &flagger.Canary{Spec: canary.Spec{Metrics: []canary.Metric{
		{Name: "request-duration", ThresholdRange: canary.AtMost(500)},
		{Name: "latency", Query: "x", ThresholdRange: canary.AtMost(500)},
	}}}
	s := testDriver(fake.NewClientset())
	s.opts.Metrics = canary.MetricProviderFunc(func(context.Context, string) (float64, error) { return 500.7, nil })
	spec, p, err := s.templated(context.Background(), c)
	require.NoError(t, err)
	require.NotNil(t, spec.Metrics[0].Provider)
	v, err := spec.Metrics[0].Provider.Query(context.Background(), "q")
	require.NoError(t, err)
	assert.Equal(t, 500.0, v)
	assert.Nil(t, spec.Metrics[1].Provider, "the Canary's provider")
	v, err = p.Query(context.Background(), "x")
	require.NoError(t, err)
	assert.Equal(t, 500.7, v)
	assert.Nil(t, c.Spec.Metrics[0].Provider, "the Canary's spec is left as it was")
}
