package flagger_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/kube/flagger"
)

// A shared Prometheus MetricTemplate that writes a templateVariables value outside a string
// (a range, a threshold) gives the Canary's author no more than a plain token there: a value
// that would close the range and add "or vector(1)" (a check that always passes, with the
// template's credentials) is refused at its path before anything runs, and the manifest is
// left as it was.
func TestPrometheusTemplateVariablesOutsideStrings(t *testing.T) {
	const query = `sum(rate(errors{namespace="{{ namespace }}", app="{{ variables.app }}"}[{{ variables.window }}]))`
	resolve := func(vars map[string]string) (*flagger.Canary, error) {
		m := load(t, "canary-003-ab-testing.yaml")
		m.Spec.Metrics[0].Variables = vars
		src := &flagger.Objects{MetricTemplates: []flagger.MetricTemplate{
			{Name: "error-rate", Namespace: "istio-system", Query: query,
				Provider: flagger.MetricTemplateProvider{Type: "prometheus", Address: "http://p:9090"}},
			{Name: "latency", Namespace: "istio-system", Query: "a", Provider: flagger.MetricTemplateProvider{Type: "prometheus", Address: "http://p:9090"}},
		}}
		return m, m.Resolve(context.Background(), src)
	}
	m, err := resolve(map[string]string{"app": "web (v2), or anything", "window": "5m"})
	require.NoError(t, err)
	assert.Equal(t, query, m.Spec.Metrics[0].Query)

	m, err = resolve(map[string]string{"app": "web", "window": "1m])) or vector(1) #"})
	require.Error(t, err)
	assert.Equal(t, []string{`spec.analysis.metrics[0].templateVariables["window"]: MetricTemplate istio-system/error-rate: ` +
		`the template writes it outside a PromQL string, where it may be one plain token only (letters, digits, '_', ':' and '.'): ']' at byte 2`}, problems(t, err))
	assert.Empty(t, m.Spec.Metrics[0].Query, "the manifest is left as it was")
}
