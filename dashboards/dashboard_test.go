package dashboards_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/dashboards"
	"github.com/canarykit/canarykit/metrics/selfmetrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The dashboard is a Grafana dashboard: a schema version, a uid, panels with unique ids laid
// out on the 24-column grid without overlapping, each query on the datasource variable.
func TestDashboardShape(t *testing.T) {
	d := load(t)
	assert.GreaterOrEqual(t, d.SchemaVersion, 36, "a schema version of current Grafana")
	assert.NotEmpty(t, d.UID)
	assert.LessOrEqual(t, len(d.UID), 40, "Grafana's uid limit")
	assert.NotEmpty(t, d.Title)
	require.NotEmpty(t, d.Panels)
	ids := map[int]bool{}
	type cell struct{ x, y int }
	taken := map[cell]string{}
	for _, p := range d.Panels {
		assert.False(t, ids[p.ID], "panel id %d twice", p.ID)
		ids[p.ID] = true
		assert.NotEmpty(t, p.Type, p.Title)
		g := p.GridPos
		assert.True(t, g.W > 0 && g.H > 0 && g.X >= 0 && g.Y >= 0 && g.X+g.W <= 24, "%s: gridPos %+v", p.Title, g)
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, ok := taken[cell{x, y}]; ok {
					t.Errorf("panels %q and %q overlap at %d,%d", other, p.Title, x, y)
				}
				taken[cell{x, y}] = p.Title
			}
		}
		assert.Equal(t, datasource{Type: "prometheus", UID: "${datasource}"}, p.Datasource, p.Title)
		require.NotEmpty(t, p.Targets, p.Title)
		refIDs := map[string]bool{}
		for _, tg := range p.Targets {
			assert.NotEmpty(t, tg.Expr, "%s/%s", p.Title, tg.RefID)
			assert.False(t, refIDs[tg.RefID], "%s: refId %s twice", p.Title, tg.RefID)
			refIDs[tg.RefID] = true
			assert.Equal(t, p.Datasource, tg.Datasource, "%s/%s", p.Title, tg.RefID)
		}
	}
}

// Every variable a panel, a title or another variable uses is defined (or one of Grafana's),
// defined before use, and the repeat variable exists.
func TestDashboardVariables(t *testing.T) {
	d := load(t)
	defined := map[string]bool{}
	for _, v := range d.Templating.List {
		for _, r := range refs(v.Definition) {
			assert.True(t, defined[r], "variable %s uses $%s before it is defined", v.Name, r)
		}
		if v.Type == "query" {
			assert.Regexp(t, labelValues, v.Definition, "variable %s", v.Name)
			var q string
			require.NoError(t, json.Unmarshal(v.Query, &q), "variable %s: a query string", v.Name)
			assert.Equal(t, v.Definition, q, "variable %s: definition and query agree", v.Name)
		}
		defined[v.Name] = true
	}
	for _, want := range []string{"datasource", "namespace", "name"} {
		assert.True(t, defined[want], "variable %s", want)
	}
	for _, p := range d.Panels {
		if p.Repeat != "" {
			assert.True(t, defined[p.Repeat], "%s repeats over an undefined variable %s", p.Title, p.Repeat)
		}
		texts := []string{p.Title}
		for _, tg := range p.Targets {
			texts = append(texts, tg.Expr)
		}
		for _, s := range texts {
			for _, r := range refs(s) {
				assert.True(t, defined[r] || builtins[r], "%s: $%s is not a variable", p.Title, r)
			}
		}
	}
}

// Every series a query reads is one the Collector exports (a histogram's _bucket, _sum and
// _count included), every selector filters on the namespace variable, and the brackets pair.
func TestDashboardReadsTheCollectorsMetrics(t *testing.T) {
	exported := map[string]bool{}
	for name, typ := range collectorMetrics(t) {
		exported[name] = true
		if typ == "histogram" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				exported[name+s] = true
			}
		}
	}
	d := load(t)
	read := map[string]bool{}
	for _, q := range d.queries() {
		assert.True(t, balanced(q.expr), "%s/%s: unbalanced: %s", q.panel, q.refID, q.expr)
		ms := metricsOf(q.expr)
		assert.NotEmpty(t, ms, "%s/%s reads no flagger_ or canarykit_ series", q.panel, q.refID)
		for _, m := range ms {
			assert.True(t, exported[m], "%s/%s reads %s, which the Collector does not export", q.panel, q.refID, m)
			read[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")] = true
		}
		assert.Contains(t, q.expr, `namespace=~"$namespace"`, "%s/%s", q.panel, q.refID)
	}
	for _, want := range []string{"flagger_canary_status", "flagger_canary_weight", "flagger_canary_metric_analysis",
		"flagger_canary_duration_seconds", "canarykit_canary_metric_threshold", "canarykit_canary_checks_total",
		"canarykit_canary_dry_run_checks_total"} {
		assert.True(t, read[want], "no panel shows %s", want)
	}
}

// The file in the repository is what the package embeds, and Canarykit hands out copies.
func TestCanarykitIsTheFile(t *testing.T) {
	file, err := os.ReadFile("canarykit.json")
	require.NoError(t, err)
	got := dashboards.Canarykit()
	require.Equal(t, file, got)
	got[0] = 'x'
	assert.Equal(t, file, dashboards.Canarykit(), "a caller's change does not reach the next copy")
}

// collectorMetrics returns the name and type of every metric the Collector exports.
func collectorMetrics(t *testing.T) map[string]string {
	t.Helper()
	c := selfmetrics.New(selfmetrics.Options{})
	reg := prometheus.NewRegistry()
	require.NoError(t, reg.Register(c))
	// one observation of each kind, so that every vector has a series to gather
	observeAll(c)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]string{}
	for _, mf := range mfs {
		out[mf.GetName()] = strings.ToLower(mf.GetType().String())
	}
	require.Len(t, out, 15, "the Collector's metrics: %v", out)
	return out
}

// observeAll feeds c a short release and a failed one, touching every metric.
func observeAll(c *selfmetrics.Collector) {
	tg := canary.Target{Namespace: "test", Name: "podinfo"}
	spec := canary.Spec{Metrics: []canary.Metric{{Name: "request-success-rate", ThresholdRange: canary.AtLeast(99)},
		{Name: "latency-p99", ThresholdRange: canary.AtMost(100), DryRun: true}}}
	observe := c.For(tg, spec)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ev := func(reason canary.Reason, phase canary.Phase, w int, checks ...canary.CheckResult) {
		at = at.Add(time.Minute)
		observe(canary.Event{Time: at, TickStarted: at.Add(-time.Second), Target: tg, Reason: reason, Phase: phase,
			Weights: canary.CanaryWeight(w), Checks: checks, Cause: canary.CauseThreshold})
	}
	ev(canary.ReasonNewRevision, canary.PhaseProgressing, 0)
	ev(canary.ReasonAdvanced, canary.PhaseProgressing, 10,
		canary.CheckResult{Name: "request-success-rate", Value: 99.5, Verdict: canary.VerdictPass},
		canary.CheckResult{Name: "latency-p99", Value: 150, Verdict: canary.VerdictFail, DryRun: true})
	ev(canary.ReasonSucceeded, canary.PhaseSucceeded, 0)
	ev(canary.ReasonFailed, canary.PhaseFailed, 0)
}
