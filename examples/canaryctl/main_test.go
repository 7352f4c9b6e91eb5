package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{}) }

// manifest is a blue/green Canary for the Kubernetes router (no mesh, no Prometheus): two
// iterations of one second, a rollback hook at hookURL, and an alert from warnings on to the
// AlertProvider on-call (alertProvider).
const manifest = `apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: %s
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  progressDeadlineSeconds: 60
  service: {port: 9898}
  analysis:
    interval: 1s
    threshold: 2
    iterations: 2
    webhooks:
      - {name: stop, type: rollback, url: %q}
    alerts:
      - {name: on-call, severity: warn, providerRef: {name: on-call}}
`

const alertProvider = `apiVersion: flagger.app/v1beta1
kind: AlertProvider
metadata: {name: on-call, namespace: %s}
spec: {type: slack, channel: on-call, address: %q}
`

func TestCanaryctlOnARealCluster(t *testing.T) {
	env := testenv.Shared(t)
	ns := env.Namespace(t)
	env.Kubelet(t, ns, "app", testenv.ReadyNow())
	ctx := context.Background()
	_, err := env.Client().AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "podinfo"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "podinfo"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "podinfod", Image: "podinfo:1"}}}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	rollback := http.StatusNotFound // the rollback hook does not ask for a rollback
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(rollback) }))
	t.Cleanup(hook.Close)
	file := filepath.Join(t.TempDir(), "canary.yaml")
	require.NoError(t, os.WriteFile(file, fmt.Appendf(nil, manifest, ns, hook.URL), 0o600))
	var mu sync.Mutex
	var slack []string // what the on-call Slack channel received
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		slack = append(slack, string(body))
		mu.Unlock()
	}))
	t.Cleanup(receiver.Close)
	providers := filepath.Join(t.TempDir(), "alerts.yaml")
	require.NoError(t, os.WriteFile(providers, fmt.Appendf(nil, alertProvider, ns, receiver.URL), 0o600))
	received := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(slack)
	}

	cmd := func(args ...string) (int, string) {
		var out, errs bytes.Buffer
		code := Main(ctx, args, &out, &errs, env.Config())
		return code, out.String() + errs.String()
	}
	setImage := func(image string) {
		require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
			d, err := env.Client().AppsV1().Deployments(ns).Get(ctx, "podinfo", metav1.GetOptions{})
			if err != nil {
				return err
			}
			d.Spec.Template.Spec.Containers[0].Image = image
			_, err = env.Client().AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})
			return err
		}))
	}

	code, out := cmd("status", ns+"/podinfo")
	assert.Equal(t, exitPromoted, code)
	assert.Contains(t, out, "no release has run")

	code, out = cmd("run", "-f", file, "-t", providers, "--router", "kubernetes")
	require.Equal(t, exitPromoted, code, out)
	assert.Contains(t, out, "Initialization done! podinfo."+ns)
	assert.Contains(t, out, "nothing to release")

	setImage("podinfo:2")
	code, out = cmd("run", "-f", file, "-t", providers, "--router", "kubernetes")
	require.Equal(t, exitPromoted, code, out)
	for _, want := range []string{"New revision detected! Scaling up podinfo." + ns, "Advance podinfo." + ns + " canary iteration 2/2",
		"Routing all traffic to canary", "Promotion completed!", "promoted in"} {
		assert.Contains(t, out, want)
	}

	code, out = cmd("status", "-f", file)
	assert.Equal(t, exitPromoted, code)
	assert.Contains(t, out, "phase:          Succeeded")
	assert.Contains(t, out, "driven by:      nobody")

	assert.Empty(t, received(), "initialization and promotion are info: below the alert's severity")

	rollback = http.StatusOK // now the hook asks for a rollback
	setImage("podinfo:3")
	code, out = cmd("run", "-f", file, "-t", providers, "--router", "kubernetes")
	assert.Equal(t, exitRolledBack, code, out)
	assert.Contains(t, out, "Rolling back podinfo."+ns+" manual webhook invoked stop")
	assert.Contains(t, out, "rolled back after")
	alerts := received()
	require.Len(t, alerts, 1, "the rollback (a warning: asked for by the hook) reached the on-call channel before run returned")
	assert.Contains(t, alerts[0], "Manual webhook invoked stop")
	assert.Contains(t, alerts[0], `"channel":"on-call"`)

	// without the provider file, the AlertProvider is looked up in the cluster, which lacks
	// it (and Flagger's CRD): a clear error naming the alert, before anything is touched
	code, out = cmd("run", "-f", file, "--router", "kubernetes")
	assert.Equal(t, exitError, code, out)
	assert.Contains(t, out, "spec.analysis.alerts[0].providerRef: not found: AlertProvider "+ns+"/on-call is not in the cluster")
	code, out = cmd("run", "-f", file, "-t", providers, "--router", "kubernetes")
	assert.Equal(t, exitRolledBack, code, "a retried job does not turn a rollback into a success: %s", out)
	assert.Contains(t, out, "was rolled back; push a new revision")

	code, out = cmd("promote", ns+"/podinfo")
	assert.Equal(t, exitError, code)
	assert.Contains(t, out, "no driver holds the lease")

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: x, namespace: y}\nspec:\n  targetRef: {kind: Deployment, name: x}\n  service: {port: 80}\n  analysis: {stepWeight: 0, sessionAffinity: {cookieName: x, cookiename: y}}\n"), 0o600))
	code, out = cmd("run", "-f", bad)
	assert.Equal(t, exitError, code)
	assert.Contains(t, out, "spec.analysis.sessionAffinity.cookiename: unknown field")
	// a templateRef that neither the files nor the cluster hold: a clear error before anything
	// in the cluster is touched
	templated := filepath.Join(t.TempDir(), "templated.yaml")
	require.NoError(t, os.WriteFile(templated, fmt.Appendf(nil, `apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: %s}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898}
  analysis:
    interval: 1s
    iterations: 2
    metrics:
      - {name: errors, templateRef: {name: errors, namespace: ops}, thresholdRange: {max: 1}}
`, ns), 0o600))
	templates := filepath.Join(t.TempDir(), "templates.yaml")
	require.NoError(t, os.WriteFile(templates, []byte(`apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: latency, namespace: ops}
spec:
  provider: {type: prometheus, address: "http://prometheus.ops:9090"}
  query: histogram_quantile(0.99, x)
`), 0o600))
	setImage("podinfo:4")
	code, out = cmd("run", "-f", templated, "-t", templates, "--router", "kubernetes")
	assert.Equal(t, exitError, code)
	assert.Contains(t, out, "spec.analysis.metrics[0].templateRef: not found: MetricTemplate ops/errors is not among the 1 given; MetricTemplate ops/errors is not in the cluster")
	assert.Equal(t, "podinfo:2", primaryImage(t, env, ns), "nothing was released: the primary still runs the last promoted image")
	require.NoError(t, os.WriteFile(templates, []byte("apiVersion: flagger.app/v1beta1\nkind: MetricTemplate\nmetadata: {name: errors, namespace: ops}\nspec: {provider: {type: cloudwatch}, query: x}\n"), 0o600))
	code, out = cmd("run", "-f", templated, "-t", templates, "--router", "kubernetes")
	assert.Equal(t, exitError, code)
	assert.Contains(t, out, "spec.provider.type: cloudwatch is not supported by canarykit yet")

	code, out = cmd("frobnicate")
	assert.Equal(t, exitError, code)
	assert.Contains(t, out, "unknown command")
}

func primaryImage(t *testing.T, env *testenv.Env, ns string) string {
	t.Helper()
	d, err := env.Client().AppsV1().Deployments(ns).Get(context.Background(), "podinfo-primary", metav1.GetOptions{})
	require.NoError(t, err)
	return d.Spec.Template.Spec.Containers[0].Image
}
