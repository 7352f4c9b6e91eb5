package driver

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/kube"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/webhook/notify"
	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// TestClusterObjects reads Flagger MetricTemplates, AlertProviders and their Secrets from a
// real apiserver with Flagger's CRDs, under an identity bound to exactly kube.FlaggerRBAC() in
// their namespace.
func TestClusterObjects(t *testing.T) {
	env := testenv.Shared(t)
	testenv.InstallCRDs(t, env.Config(), testenv.MetricTemplateCRD(), testenv.AlertProviderCRD())
	ns := env.Namespace(t)
	var role rbacv1.ClusterRole
	require.NoError(t, yaml.Unmarshal(kube.FlaggerRBAC(), &role))
	user, cfg := env.NewUser(t)
	env.Grant(t, user, ns, role.Rules...)
	ctx := context.Background()

	admin, err := dynamic.NewForConfig(env.Config())
	require.NoError(t, err)
	for _, tpl := range loadTestdata(t, "metric-templates-003.yaml", flagger.LoadObjects).MetricTemplates {
		obj := map[string]any{
			"apiVersion": "flagger.app/v1beta1", "kind": "MetricTemplate",
			"metadata": map[string]any{"name": tpl.Name, "namespace": ns},
			"spec": map[string]any{"query": tpl.Query, "provider": map[string]any{
				"type": tpl.Provider.Type, "address": tpl.Provider.Address, "insecureSkipVerify": true,
				"headers": map[string]any{"X-Scope-OrgID": []any{"tenant-a"}},
			}},
		}
		if tpl.Provider.SecretRef != "" {
			obj["spec"].(map[string]any)["provider"].(map[string]any)["secretRef"] = map[string]any{"name": tpl.Provider.SecretRef}
		}
		_, err := admin.Resource(MetricTemplates()).Namespace(ns).Create(ctx, &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	_, err = env.Client().CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "prom-auth"},
		Data: map[string][]byte{"token": []byte("s3cret")}}, metav1.CreateOptions{})
	require.NoError(t, err)

	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	client, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	src := ClusterObjects(dyn)

	got, err := src.MetricTemplate(ctx, ns, "latency")
	require.NoError(t, err)
	assert.Equal(t, flagger.MetricTemplateProvider{Type: "prometheus", Address: "http://prometheus.istio-system:9090", SecretRef: "prom-auth",
		InsecureSkipVerify: true, Headers: map[string][]string{"X-Scope-OrgID": {"tenant-a"}}}, got.Provider)
	assert.Equal(t, ns+"/latency", got.Key())
	assert.Contains(t, got.Query, "histogram_quantile(")
	data, err := secretData(ctx, client, "MetricTemplate", got.Namespace, got.Name, "spec.provider.secretRef", got.Provider.SecretRef)
	require.NoError(t, err)
	assert.Equal(t, map[string][]byte{"token": []byte("s3cret")}, data)

	_, err = src.MetricTemplate(ctx, ns, "missing")
	require.ErrorIs(t, err, flagger.ErrNotFound)
	assert.Contains(t, err.Error(), "MetricTemplate "+ns+"/missing is not in the cluster")

	// a Canary's templateRefs resolved from the cluster, the file as a fallback for the rest
	m := loadTestdata(t, "canary-003-ab-testing.yaml", flagger.LoadCanary)
	for i := range m.TemplateRefs {
		m.TemplateRefs[i].Namespace = ns
	}
	m.Alerts = nil
	files := &flagger.Objects{MetricTemplates: []flagger.MetricTemplate{{Name: "error-rate", Namespace: ns, Query: "from a file",
		Provider: flagger.MetricTemplateProvider{Type: "prometheus", Address: "http://file:9090"}}}}
	require.NoError(t, m.Resolve(ctx, flagger.Sources{src, files}))
	assert.Contains(t, m.Spec.Metrics[0].Query, `classification!="failure"`, "the cluster's template comes first")
	assert.Equal(t, canary.CompactQuery(got.Query), m.Spec.Metrics[1].Query)

	// an AlertProvider whose Secret holds the webhook URL and a token
	_, err = admin.Resource(AlertProviders()).Namespace(ns).Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "flagger.app/v1beta1", "kind": "AlertProvider",
		"metadata": map[string]any{"name": "on-call", "namespace": ns},
		"spec":     map[string]any{"type": "slack", "channel": "on-call-alerts", "username": "canarykit", "secretRef": map[string]any{"name": "on-call-url"}},
	}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = env.Client().CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "on-call-url"},
		Data: map[string][]byte{"address": []byte("https://hooks.slack.com/services/T/B/X"), "token": []byte("xoxb")}}, metav1.CreateOptions{})
	require.NoError(t, err)
	ap, err := src.AlertProvider(ctx, ns, "on-call")
	require.NoError(t, err)
	assert.Equal(t, flagger.AlertProvider{Name: "on-call", Namespace: ns, Type: "slack", Channel: "on-call-alerts", Username: "canarykit",
		SecretRef: "on-call-url"}, *ap)
	applied, token, err := withSecret(ctx, client, *ap)
	require.NoError(t, err)
	assert.Equal(t, "https://hooks.slack.com/services/T/B/X", applied.Address)
	assert.Equal(t, "xoxb", token)
	_, err = src.AlertProvider(ctx, ns, "missing")
	require.ErrorIs(t, err, flagger.ErrNotFound)

	// outside the granted namespace the identity is refused, and the error says so
	_, err = src.MetricTemplate(ctx, "kube-system", "error-rate")
	require.Error(t, err)
	assert.NotErrorIs(t, err, flagger.ErrNotFound)
	assert.Contains(t, err.Error(), "forbidden")
}

// loadTestdata reads one of kube/flagger's test manifests with a loader that must accept it.
func loadTestdata[T any](t *testing.T, name string, loader func([]byte) (T, error)) T {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "flagger", "testdata", name))
	require.NoError(t, err)
	v, err := loader(data)
	require.NoError(t, err, name)
	return v
}

// A Google Chat AlertProvider read from a real apiserver (Flagger's CRD), its webhook URL in
// its Secret as Flagger's docs keep it, becomes the route of the Canary's alert: a warning
// reaches the space's webhook with its key and token, as Flagger's gchat card.
func TestGoogleChatAlertProviderFromCluster(t *testing.T) {
	env := testenv.Shared(t)
	testenv.InstallCRDs(t, env.Config(), testenv.AlertProviderCRD())
	ns := env.Namespace(t)
	ctx := context.Background()

	var mu sync.Mutex
	var got []string
	chat := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.URL.Path+"?"+r.URL.RawQuery+" "+string(body))
		mu.Unlock()
		_, _ = io.WriteString(w, `{"name":"spaces/AAA/messages/1"}`)
	}))
	t.Cleanup(chat.Close)

	admin, err := dynamic.NewForConfig(env.Config())
	require.NoError(t, err)
	_, err = admin.Resource(AlertProviders()).Namespace(ns).Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "flagger.app/v1beta1", "kind": "AlertProvider",
		"metadata": map[string]any{"name": "team-chat", "namespace": ns},
		"spec":     map[string]any{"type": "gchat", "secretRef": map[string]any{"name": "team-chat-url"}},
	}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = env.Client().CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "team-chat-url"},
		Data: map[string][]byte{"address": []byte(chat.URL + "/v1/spaces/AAA/messages?key=k&token=t")}}, metav1.CreateOptions{})
	require.NoError(t, err)

	target := canary.Target{Namespace: ns, Name: "podinfo"}
	c := &flagger.Canary{Target: target, Spec: canary.Spec{Interval: time.Minute, StepWeight: 10}, Alerts: []flagger.AlertRef{{Name: "team chat", Severity: "warn",
		ProviderName: "team-chat", ProviderNamespace: ns, Path: "spec.analysis.alerts[0].providerRef"}}}
	require.NoError(t, c.Resolve(ctx, ClusterObjects(admin)))
	d := &Driver{opts: Options{Logger: logr.Discard()}, client: env.Client(), proms: map[string]canary.MetricProvider{}}
	dispatcher, err := d.alerts(ctx, c)
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- dispatcher.Run(runCtx) }()
	dispatcher.Send(notify.Notification{Severity: notify.SeverityInfo, Target: target, Message: "below the alert's severity"})
	dispatcher.Send(notify.Notification{Severity: notify.SeverityWarn, Target: target, Message: "Canary is waiting for approval."})
	require.NoError(t, dispatcher.Flush(ctx))
	stop()
	require.NoError(t, <-done)

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 1, "info is below the alert's severity")
	assert.True(t, strings.HasPrefix(got[0], `/v1/spaces/AAA/messages?key=k&token=t {"cards":[{"header":{"title":"canarykit","subtitle":"podinfo.`+ns+`"}`), got[0])
	assert.Contains(t, got[0], `Canary is waiting for approval.`)
}
