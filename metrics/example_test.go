package metrics_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/canarykit/canarykit/metrics"
)

// fakePrometheus answers every query with one sample whose value depends on the query: a
// stand-in for a Prometheus server in examples.
func fakePrometheus(value func(query string) string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1767225600,%q]}]}}`,
			value(r.FormValue("query")))
	}))
}

// A provider for a Prometheus behind authentication, running one of Flagger's built-in
// Linkerd queries.
func ExampleNewPrometheus() {
	srv := fakePrometheus(func(string) string { return "99.5" })
	defer srv.Close()

	p, err := metrics.NewPrometheus(metrics.PrometheusOptions{
		Address:     srv.URL,
		Credentials: metrics.Credentials{BearerToken: "token"},
		Timeout:     5 * time.Second,
	})
	if err != nil {
		panic(err)
	}
	target := canary.Target{Namespace: "test", Name: "podinfo"}
	q, err := canary.RenderQuery(metrics.Linkerd()[metrics.RequestSuccessRate], canary.VarsFor(target, canary.Metric{}))
	if err != nil {
		panic(err)
	}
	v, err := p.Query(context.Background(), q)
	fmt.Println(v, err)
	// Output: 99.5 <nil>
}

// Flagger's secretRef keys: "token", or "username" and "password".
func ExampleSecretCredentials() {
	creds, err := metrics.SecretCredentials(map[string][]byte{"username": []byte("flagger"), "password": []byte("s3cr3t")})
	fmt.Println(creds.Username, err)
	_, err = metrics.SecretCredentials(map[string][]byte{"username": []byte("flagger")})
	fmt.Println(err)
	// Output:
	// flagger <nil>
	// secret has "username" but no "password"
}

// A Flagger Canary's analysis with Linkerd's built-in checks: metrics named without a query
// take Linkerd's; the provider runs them.
func Example_linkerdBuiltins() {
	srv := fakePrometheus(func(q string) string {
		if strings.HasPrefix(q, "histogram_quantile") {
			return "180" // p99 in ms
		}
		return "99.9" // success rate in percent
	})
	defer srv.Close()
	prom, err := metrics.NewPrometheus(metrics.PrometheusOptions{Address: srv.URL})
	if err != nil {
		panic(err)
	}

	env := canarytest.NewEnv(canary.Target{Namespace: "test", Name: "podinfo"}) // in-memory workload, router, virtual clock
	cfg := env.Config(canary.Spec{
		Interval: time.Minute, StepWeight: 20, MaxWeight: 60,
		Metrics: []canary.Metric{
			{Name: metrics.RequestSuccessRate, ThresholdRange: canary.AtLeast(99), Interval: time.Minute},
			{Name: metrics.RequestDuration, ThresholdRange: canary.AtMost(500), Interval: 30 * time.Second},
		},
	})
	cfg.Builtins = metrics.Linkerd()
	cfg.Metrics = prom
	r, err := canary.New(cfg)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if _, err := r.Run(ctx); err != nil { // bootstrap
		panic(err)
	}
	env.Workload.SetRevision("v2")
	res, err := r.Run(ctx)
	fmt.Println(res.Phase, res.Weights, err)
	// Output: Succeeded [20 40 60 0] <nil>
}

// The judge as a check of a Rollout: bound by name in Config.Checkers, it compares the
// canary's samples with the primary's at every tick. Here the canary's error ratio is about
// twice the primary's, so the release is rolled back.
func ExampleNewJudge() {
	baseline := []float64{0.50, 0.48, 0.53, 0.51, 0.47, 0.52, 0.49, 0.50, 0.54, 0.46, 0.51, 0.50}
	regressed := []float64{1.02, 0.97, 1.05, 0.99, 1.08, 0.95, 1.01, 1.03, 0.98, 1.04, 1.00, 0.96}
	source := metrics.SamplesFunc(func(_ context.Context, req metrics.SampleRequest) (metrics.Samples, error) {
		return metrics.Samples{Canary: regressed, Baseline: baseline}, nil
	})
	judge, err := metrics.NewJudge(metrics.JudgeOptions{
		Source: source,
		Metrics: []metrics.JudgeMetric{
			{Name: "error-ratio", Direction: metrics.DirectionIncrease, Critical: true},
		},
	})
	if err != nil {
		panic(err)
	}

	env := canarytest.NewEnv(canary.Target{Namespace: "test", Name: "podinfo"})
	cfg := env.Config(canary.Spec{Interval: time.Minute, StepWeight: 10, MaxWeight: 50, Threshold: 2,
		Metrics: []canary.Metric{{Name: "canary-judge", OnNoData: canary.NoDataHold}}})
	cfg.Checkers = map[string]canary.Checker{"canary-judge": judge}
	r, err := canary.New(cfg)
	if err != nil {
		panic(err)
	}
	if _, err := r.Run(context.Background()); err != nil {
		panic(err)
	}
	env.Workload.SetRevision("v2")
	res, _ := r.Run(context.Background())
	fmt.Println(res.Phase, "-", res.Reason)
	for _, e := range env.Events.Events() {
		if e.Reason == canary.ReasonHalted {
			fmt.Println(e.Message)
			break
		}
	}
	// Output:
	// Failed - failed checks threshold reached 2
	// Halt podinfo.test advancement canary-judge score 0 < 75 (critical metric error-ratio is High): error-ratio High (critical): canary median 1.005 vs baseline 0.5, shift +0.5 [+0.47, +0.54] at 98%, p=3.6e-05, mean ratio 2.01, n=12/12
}

// The Mann-Whitney test of R's wilcox.test help page (Hollander & Wolfe 1973, p. 69).
func ExampleMannWhitney() {
	x := []float64{0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46}
	y := []float64{1.15, 0.88, 0.90, 0.74, 1.21}
	r, err := metrics.MannWhitney(x, y, 0.95)
	if err != nil {
		panic(err)
	}
	fmt.Printf("U=%v p=%.4f exact=%v shift=%.3f 95%% CI [%.2f, %.2f]\n", r.U, r.P, r.Exact, r.Estimate, r.Lower, r.Upper)
	// Output: U=35 p=0.2544 exact=true shift=0.305 95% CI [-0.15, 0.76]
}
