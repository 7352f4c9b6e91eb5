package dashboards_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/internal/testenv/linkerdexp"
	"github.com/canarykit/canarykit/kube/driver"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/metrics/selfmetrics"
	"github.com/go-logr/logr/testr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{}) }

// window covers the whole test in range queries: Grafana's $__range and $__rate_interval.
const window = "15m"

// TestDashboardOnARealRelease drives a promotion and then a rollback of podinfo through the
// public driver on the test bed (Linkerd's checks answered by the real Prometheus from
// synthetic proxy metrics), with the Collector attached to the releases' events and served on
// loopback, the same Prometheus scraping it. Prometheus then shows Flagger's meanings —
// status 0 during the releases, 1 after the promotion, 2 after the rollback; the canary
// weight through 10, 20, 30; a dry-run metric that fails at every tick, counted apart and
// never as a failed check — and every query of the dashboard, its variables substituted,
// parses and returns series, as do the variables' own queries.
func TestDashboardOnARealRelease(t *testing.T) {
	env := testenv.Shared(t)
	testenv.InstallCRDs(t, env.Config(), testenv.TrafficSplitCRD())
	ns := env.Namespace(t)
	env.Kubelet(t, ns, "app", testenv.ReadyNow())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	createPodinfo(ctx, t, env, ns)

	exporter := linkerdexp.New(linkerdexp.Options{})
	workload := linkerdexp.Workload{Namespace: ns, Deployment: "podinfo"}
	healthy := linkerdexp.Traffic{RPS: 20, LatencyMin: 5 * time.Millisecond, LatencyMax: 50 * time.Millisecond}
	exporter.SetTraffic(workload, healthy)
	expSrv := httptest.NewServer(exporter)
	t.Cleanup(expSrv.Close)

	collector := selfmetrics.New(selfmetrics.Options{Version: "test", MeshProvider: "linkerd"})
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector)
	selfSrv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(selfSrv.Close)
	prom := testenv.StartPrometheus(t, expSrv.URL+"/metrics", selfSrv.URL+"/metrics")

	d, err := driver.New(driver.Options{Config: env.Config(), Prometheus: prom.URL, Identity: "dashboard-test", Logger: testr.New(t)})
	require.NoError(t, err)
	defer d.Close()
	target := canary.Target{Namespace: ns, Name: "podinfo"}
	c := &flagger.Canary{Name: "podinfo", Namespace: ns, Target: target,
		Spec: canary.Spec{Interval: 2 * time.Second, Threshold: 2, MaxWeight: 30, StepWeight: 10,
			Metrics: []canary.Metric{
				{Name: "request-success-rate", ThresholdRange: canary.AtLeast(99), Interval: 5 * time.Second},
				{Name: "request-duration", ThresholdRange: canary.AtMost(500), Interval: 5 * time.Second},
				// a stricter latency trialled dry: the p99 (about 50 ms) is above it at every tick
				{Name: dryRunMetric, ThresholdRange: canary.AtMost(1), Interval: 5 * time.Second, DryRun: true, Query: dryRunQuery},
			}},
		Workload: flagger.Workload{Port: 9898}, Router: flagger.Router{Kind: flagger.RouterSMI, Provider: "linkerd"}}
	onEvent := collector.For(c.Target, c.Spec)
	release := func(image string) canary.Result {
		t.Helper()
		if image != "" {
			setImage(ctx, t, env, ns, image)
		}
		rel, err := d.Release(ctx, c, onEvent)
		require.NoError(t, err)
		res, err := rel.Run(ctx)
		require.NoError(t, err)
		return res
	}
	sel := fmt.Sprintf(`namespace=%q,name="podinfo"`, ns)
	weightSel := fmt.Sprintf(`namespace=%q,workload="podinfo"`, ns)

	require.Equal(t, canary.PhaseInitialized, release("").Phase, "bootstrap")
	// the checks' window holds traffic before the release starts
	prom.WaitForSeries(t, fmt.Sprintf(`sum(rate(response_total{namespace=%q,deployment="podinfo",direction="inbound"}[5s])) > 0`, ns))
	res := release("podinfo:2")
	require.Equal(t, canary.PhaseSucceeded, res.Phase, res.Reason)
	require.Equal(t, []int{10, 20, 30, 0}, res.Weights)
	assert.Equal(t, 1.0, scrapedAfter(t, prom, "flagger_canary_status{"+sel+"}", res.Finished), "Succeeded")
	for _, w := range []int{10, 20, 30} {
		assert.Equal(t, 1.0, everWas(t, prom, "flagger_canary_weight{"+weightSel+"}", w), "the canary weight was %d", w)
	}
	assert.Equal(t, 1.0, everWas(t, prom, "flagger_canary_status{"+sel+"}", 0), "Progressing was seen")
	assert.Equal(t, 0.0, scrapedAfter(t, prom, "flagger_canary_weight{"+weightSel+"}", res.Finished), "back to the primary")
	dryFails := scrapedAfter(t, prom, `canarykit_canary_dry_run_checks_total{`+sel+`,metric="`+dryRunMetric+`",verdict="Fail"}`, res.Finished)
	assert.Positive(t, dryFails, "the dry-run metric failed, and the release was promoted all the same")
	counted, err := prom.QueryValue(ctx, `count(canarykit_canary_checks_total{`+sel+`,metric="`+dryRunMetric+`"}) or vector(0)`)
	require.NoError(t, err)
	assert.Zero(t, counted, "a dry-run metric's checks are not among the counted ones")

	exporter.SetTraffic(workload, linkerdexp.Traffic{RPS: 20, FailureRatio: 0.5, LatencyMin: 5 * time.Millisecond, LatencyMax: 50 * time.Millisecond})
	res = release("podinfo:3")
	require.Equal(t, canary.PhaseFailed, res.Phase, res.Reason)
	assert.Equal(t, 2.0, scrapedAfter(t, prom, "flagger_canary_status{"+sel+"}", res.Finished), "Failed")
	assert.Equal(t, 1.0, scrapedAfter(t, prom, `flagger_canary_successes_total{`+sel+`,deployment_strategy="canary",analysis_status="completed"}`, res.Finished))
	assert.Equal(t, 1.0, scrapedAfter(t, prom, `flagger_canary_failures_total{`+sel+`,deployment_strategy="canary",analysis_status="completed"}`, res.Finished))
	assert.Equal(t, 2.0, scrapedAfter(t, prom, `canarykit_canary_failed_checks{`+sel+`}`, res.Finished))
	rate := scrapedAfter(t, prom, `flagger_canary_metric_analysis{`+sel+`,metric="request-success-rate"}`, res.Finished)
	assert.InDelta(t, 50, rate, 10, "the success rate the failing checks measured")

	vars := map[string]string{"namespace": ns, "name": "podinfo", "__range": window, "__rate_interval": window, "__interval": "15s"}
	checkVariables(ctx, t, prom, load(t), vars)
	for _, metric := range []string{"request-success-rate", "request-duration"} {
		vars["metric"] = metric // the analysis panel repeats per metric
		for _, q := range load(t).queries() {
			expr := expand(q.expr, vars)
			samples, err := prom.Query(ctx, expr)
			if !assert.NoError(t, err, "%s/%s: %s", q.panel, q.refID, expr) {
				continue
			}
			numbers := 0
			for _, s := range samples {
				if !s.IsNaN() {
					numbers++
				}
			}
			assert.NotZero(t, numbers, "%s/%s returns no series with a value: %s → %v", q.panel, q.refID, expr, samples)
		}
	}
}

// dryRunMetric is the test's dry-run metric: the p99 latency of podinfo's inbound traffic.
const (
	dryRunMetric = "latency-p99-strict"
	dryRunQuery  = `histogram_quantile(0.99, sum(rate(response_latency_ms_bucket{namespace="{{ namespace }}",deployment=~"{{ target }}",direction="inbound"}[{{ interval }}])) by (le))`
)

// checkVariables runs each query variable's label_values selector and checks the value the
// test selects is among the answers.
func checkVariables(ctx context.Context, t *testing.T, prom *testenv.Prometheus, d dashboard, vars map[string]string) {
	t.Helper()
	want := map[string][]string{"namespace": {vars["namespace"]}, "name": {"podinfo"},
		"metric": {"request-success-rate", "request-duration"}}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Definition)
		require.NotNil(t, m, v.Definition)
		samples, err := prom.Query(ctx, expand(m[1], vars))
		require.NoError(t, err, "variable %s", v.Name)
		got := map[string]bool{}
		for _, s := range samples {
			got[s.Labels[m[2]]] = true
		}
		require.Contains(t, want, v.Name, "a variable the test knows")
		for _, w := range want[v.Name] {
			assert.True(t, got[w], "variable %s offers %q: %v", v.Name, w, got)
		}
	}
}

// scrapedAfter waits until Prometheus holds a sample of query (one series) scraped after
// `after` and returns its value.
func scrapedAfter(t *testing.T, prom *testenv.Prometheus, query string, after time.Time) float64 {
	t.Helper()
	fresh := fmt.Sprintf("%s and timestamp(%s) > %s", query, query, strconv.FormatInt(after.Unix()+1, 10))
	var v float64
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, time.Minute, true,
		func(ctx context.Context) (bool, error) {
			v, last = prom.QueryValue(ctx, fresh)
			return last == nil, nil
		})
	require.NoError(t, err, "no sample of %s after %s (last: %v)", query, after, last)
	return v
}

// everWas reports 1 when query's one series had value v at some scrape of the test, else 0.
func everWas(t *testing.T, prom *testenv.Prometheus, query string, v int) float64 {
	t.Helper()
	got, err := prom.QueryValue(context.Background(), fmt.Sprintf("max_over_time((%s == bool %d)[%s:1s])", query, v, window))
	require.NoError(t, err)
	return got
}

// createPodinfo creates Deployment podinfo (one replica of podinfo:1, selected by app: podinfo).
func createPodinfo(ctx context.Context, t *testing.T, env *testenv.Env, ns string) {
	t.Helper()
	labels := map[string]string{"app": "podinfo"}
	_, err := env.Client().AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "podinfo:1"}}}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
}

// setImage makes a new revision of podinfo.
func setImage(ctx context.Context, t *testing.T, env *testenv.Env, ns, image string) {
	t.Helper()
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		dep, err := env.Client().AppsV1().Deployments(ns).Get(ctx, "podinfo", metav1.GetOptions{})
		if err != nil {
			return err
		}
		dep.Spec.Template.Spec.Containers[0].Image = image
		_, err = env.Client().AppsV1().Deployments(ns).Update(ctx, dep, metav1.UpdateOptions{})
		return err
	}))
}
