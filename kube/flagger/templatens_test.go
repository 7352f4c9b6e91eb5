package flagger_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/kube/flagger"
)

// A templateRef without a namespace means the Canary's namespace when the template is looked
// up, as in Flagger (which reads it at every analysis). A Canary loaded without
// metadata.namespace (a Helm chart's, the embed example's canary.yaml) and placed in a
// namespace afterwards finds its templates in that namespace, not in "".
func TestTemplateRefNamespaceIsTheCanarysWhenResolved(t *testing.T) {
	m, err := flagger.LoadCanary([]byte(`apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898}
  analysis:
    interval: 30s
    stepWeight: 10
    metrics:
      - {name: errors, templateRef: {name: errors}, thresholdRange: {max: 1}}
      - {name: latency, templateRef: {name: latency, namespace: ops}, thresholdRange: {max: 500}}
`))
	require.NoError(t, err)
	m.Namespace, m.Target.Namespace = "test", "test" // placed, as examples/embed does
	src := &flagger.Objects{MetricTemplates: []flagger.MetricTemplate{
		{Name: "errors", Namespace: "test", Query: `sum(rate(x{namespace="{{ namespace }}"}[{{ interval }}]))`,
			Provider: flagger.MetricTemplateProvider{Type: "prometheus", Address: "http://prom:9090"}},
		{Name: "latency", Namespace: "ops", Query: "y",
			Provider: flagger.MetricTemplateProvider{Type: "prometheus", Address: "http://prom:9090"}},
	}}
	require.NoError(t, m.Resolve(context.Background(), src))
	require.Len(t, m.TemplateRefs, 2)
	assert.Equal(t, "test", m.TemplateRefs[0].Namespace, "the Canary's namespace at resolution")
	assert.Equal(t, "test/errors", m.TemplateRefs[0].Template.Key())
	assert.Equal(t, "ops", m.TemplateRefs[1].Namespace, "a namespace written in the manifest is kept")
	assert.Empty(t, m.Unresolved())

	// moved again: the next resolution follows it
	m.Namespace, m.Target.Namespace = "ops", "ops"
	err = m.Resolve(context.Background(), src)
	assert.ErrorContains(t, err, "MetricTemplate ops/errors is not among the 2 given")
}
