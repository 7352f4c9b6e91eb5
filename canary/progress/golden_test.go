package progress_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/canarykit/canarykit/canary/progress"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the output of the tests")

// golden compares got with testdata/name.golden, or rewrites the file with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./canary/progress -run %s -update to create it", t.Name())
	assert.Equal(t, string(want), got, "output differs from %s (go test -run %s -update rewrites it)", path, t.Name())
}

// errorRate is a templated query, so that the verbose output shows a resolved one.
const errorRate = `sum(rate(http_requests_total{namespace="{{ namespace }}",pod=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)",status=~"5.."}[{{ interval }}]))`

// seedChecks are Linkerd's two built-in checks, as the seeds' Canary manifests set them.
func seedChecks() []canary.Metric {
	return []canary.Metric{
		{Name: "request-success-rate", ThresholdRange: canary.AtLeast(99), Interval: time.Minute},
		{Name: "request-duration", ThresholdRange: canary.AtMost(500), Interval: 30 * time.Second},
	}
}

func seedHooks() []canary.Webhook {
	return []canary.Webhook{
		{Name: "acceptance-test", Type: canary.HookPreRollout, URL: "http://flagger-loadtester.test/"},
		{Name: "load-test", Type: canary.HookRollout, URL: "http://flagger-loadtester.test/"},
	}
}

// release bootstraps a target at 3.1.0 and releases 3.1.1 under spec in virtual time, showing
// every event through a Live that is not a terminal. It returns what the Live printed and the
// release's result.
func release(t *testing.T, env *canarytest.Env, spec canary.Spec, opts progress.Options) (string, canary.Result) {
	t.Helper()
	var out bytes.Buffer
	opts.Terminal = progress.TerminalNever
	live := progress.NewLive(&out, opts)
	require.False(t, live.Terminal())
	env.Events.Then = live.Handle
	env.Workload.SetRevision("3.1.0")
	r, err := env.New(spec)
	require.NoError(t, err)
	_, err = r.Run(context.Background())
	require.NoError(t, err)
	env.Workload.SetRevision("3.1.1")
	res, err := r.Run(context.Background())
	require.NoError(t, err)
	fmt.Fprintf(live, "=> %s %s: %s\n", res.Revision, res.Phase, res.Reason)
	require.NoError(t, live.Close())
	return out.String(), res
}

func TestGoldenPromotion(t *testing.T) {
	env := canarytest.NewEnv(canary.Target{})
	env.Metrics.Seed = 2
	env.Metrics.Set("request-success-rate", canarytest.Normal(99.9, 0.05, 0, 100))
	env.Metrics.Set("request-duration", canarytest.Normal(120, 15, 1, 10000))
	out, res := release(t, env, canary.Spec{Interval: 30 * time.Second, Threshold: 5, MaxWeight: 50, StepWeight: 10,
		Metrics: seedChecks(), Webhooks: seedHooks()}, progress.Options{})
	require.Equal(t, canary.PhaseSucceeded, res.Phase)
	assert.Contains(t, out, "✔ request-success-rate")
	assert.NotContains(t, out, "✘")
	assert.Contains(t, out, "Routing all traffic to primary  [....................]\n", "the bar shows the weights the event announces")
	golden(t, "promotion", out)
}

func TestGoldenRollback(t *testing.T) {
	env := canarytest.NewEnv(canary.Target{})
	env.Metrics.Seed = 2
	// the success rate drops from the third query; the latency spikes once, at the fourth
	env.Metrics.Set("request-success-rate", canarytest.FromCall(3, canarytest.Normal(99.9, 0.05, 0, 100), canarytest.Normal(90, 0.5, 0, 100)))
	env.Metrics.Set("request-duration", canarytest.Sequence(110, 120, 130, 650, 125))
	out, res := release(t, env, canary.Spec{Interval: 30 * time.Second, Threshold: 3, MaxWeight: 50, StepWeight: 5,
		Metrics: seedChecks(), Webhooks: seedHooks()}, progress.Options{})
	require.Equal(t, canary.PhaseFailed, res.Phase)
	// the tick where both checks fail halts twice; each line names its own check once and
	// shows the other one failing
	assert.Contains(t, out, "Halt podinfo.test advancement request-duration 650.00 > 500  ✘ request-success-rate")
	assert.Contains(t, out, "< 99  ✘ request-duration 650.00 (want <= 500)\n")
	assert.NotRegexp(t, `request-success-rate (8\d|9[0-8])\.\d\d >= 99`, out, "a failed check never reads as a passing one")
	golden(t, "rollback", out)
}

func TestGoldenNoDataHold(t *testing.T) {
	env := canarytest.NewEnv(canary.Target{})
	env.Metrics.Seed = 2
	spec := canary.Spec{Interval: 30 * time.Second, Threshold: 2, MaxWeight: 50, StepWeight: 25,
		Metrics: []canary.Metric{
			{Name: "request-success-rate", ThresholdRange: canary.AtLeast(99), Interval: time.Minute},
			{Name: "error-rate", Query: errorRate, ThresholdRange: canary.AtMost(1), OnNoData: canary.NoDataHold},
		}}
	q, err := canary.RenderQuery(errorRate, canary.VarsFor(env.Target, spec.Metrics[1]))
	require.NoError(t, err)
	env.Metrics.Set("request-success-rate", canarytest.Normal(99.9, 0.05, 0, 100))
	// no traffic reaches the canary for the first three queries
	env.Metrics.Set(q, canarytest.FromCall(4, canarytest.NoData(), canarytest.Constant(0.2)))
	out, res := release(t, env, spec, progress.Options{Verbose: true})
	require.Equal(t, canary.PhaseSucceeded, res.Phase)
	assert.Zero(t, res.FailedChecks, "a hold counts no failed check")
	assert.Contains(t, out, "✔ error-rate 0.20 <= 1")
	assert.Contains(t, out, "error-rate: query "+q, "verbose shows the resolved query of a passing check")
	golden(t, "nodata-hold", out)
}

func TestGoldenABTest(t *testing.T) {
	env := canarytest.NewEnv(canary.Target{})
	env.Metrics.Seed = 2
	env.Metrics.Set("request-success-rate", canarytest.Normal(99.9, 0.05, 0, 100))
	env.Metrics.Set("request-duration", canarytest.Normal(120, 15, 1, 10000))
	out, res := release(t, env, canary.Spec{Interval: time.Minute, Threshold: 5, Iterations: 3,
		Match:   []canary.Match{{Headers: map[string]canary.StringMatch{"x-canary": {Exact: "insider"}}}},
		Metrics: seedChecks()}, progress.Options{})
	require.Equal(t, canary.PhaseSucceeded, res.Phase)
	assert.Contains(t, out, "Advance podinfo.test canary iteration 3/3  ✔ request-success-rate")
	assert.NotContains(t, out, "[####################]", "an A/B test's weights apply to matching requests only: no bar")
	golden(t, "abtest", out)
}
