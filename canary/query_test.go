package canary_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Flagger's {{ ingress }} is the Canary's ingressRef name (Target.Ingress), the target's name
// without one.
func TestQueryIngressVariable(t *testing.T) {
	target := canary.Target{Namespace: "test", Name: "podinfo", Service: "web", Canary: "frontend"}
	m := canary.Metric{Name: "nginx-errors", Interval: time.Minute, ThresholdRange: canary.AtMost(1),
		Query: `sum(rate(nginx_ingress_controller_requests{namespace="{{ namespace }}",ingress="{{ ingress }}",status=~"5.*"}[{{ interval }}]))`}
	q, err := canary.RenderQuery(m.Query, canary.VarsFor(target, m))
	require.NoError(t, err)
	assert.Equal(t, `sum(rate(nginx_ingress_controller_requests{namespace="test",ingress="podinfo",status=~"5.*"}[1m]))`, q)
	target.Ingress = "public"
	q, err = canary.RenderQuery(m.Query, canary.VarsFor(target, m))
	require.NoError(t, err)
	assert.Equal(t, `sum(rate(nginx_ingress_controller_requests{namespace="test",ingress="public",status=~"5.*"}[1m]))`, q)

	spec := canary.Spec{Interval: 30 * time.Second, Threshold: 2, MaxWeight: 50, StepWeight: 10, Metrics: []canary.Metric{m}}
	assert.NoError(t, spec.Validate(), "a query using {{ ingress }} parses")
}

// A query template is parsed once and shared (parseQuery remembers it): renders of the same
// text at once, each with its own variables, each get their own, and a template that does not
// parse is refused under each metric's own name.
func TestRenderQuerySharesItsTemplateSafely(t *testing.T) {
	const text = `sum(rate(requests{namespace="{{ namespace }}",pod=~"{{ target }}-[0-9a-zA-Z]+",code!~"5.."}[{{ interval }}]))`
	const n = 16
	got := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vars := canary.QueryVars{Namespace: fmt.Sprintf("team-%d", i), Target: "web", Interval: "1m"}
			for range 50 {
				if got[i], errs[i] = canary.RenderQuery(text, vars); errs[i] != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		assert.Equal(t, fmt.Sprintf(`sum(rate(requests{namespace="team-%d",pod=~"web-[0-9a-zA-Z]+",code!~"5.."}[1m]))`, i), got[i])
	}

	bad := func(name string) canary.Spec {
		return canary.Spec{Interval: 30 * time.Second, Threshold: 2, MaxWeight: 50, StepWeight: 10,
			Metrics: []canary.Metric{{Name: name, Interval: time.Minute, ThresholdRange: canary.AtMost(1), Query: `sum(x{{ if }}`}}}
	}
	for _, name := range []string{"first", "second", "first"} {
		err := bad(name).Validate()
		require.Error(t, err)
		assert.Contains(t, err.Error(), "template: "+name+":1:", "the error names the metric it was parsed for")
	}
}

// BenchmarkRenderQuery is the rendering of one of Flagger's built-in queries, as a release's
// Rollout does it for each of its metrics.
func BenchmarkRenderQuery(b *testing.B) {
	const text = `sum(rate(response_total{namespace="{{ namespace }}",deployment=~"{{ target }}",classification!="failure",direction="inbound"}[{{ interval }}])) / sum(rate(response_total{namespace="{{ namespace }}",deployment=~"{{ target }}",direction="inbound"}[{{ interval }}])) * 100`
	vars := canary.QueryVars{Namespace: "test", Target: "podinfo", Interval: "1m"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := canary.RenderQuery(text, vars); err != nil {
			b.Fatal(err)
		}
	}
}
