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

// An alert's providerRef without a namespace likewise means the Canary's namespace when the
// AlertProvider is looked up.
func TestProviderRefNamespaceIsTheCanarysWhenResolved(t *testing.T) {
	m, err := flagger.LoadCanary([]byte(`apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898}
  analysis:
    interval: 30s
    stepWeight: 10
    alerts:
      - {name: team, severity: info, providerRef: {name: on-call}}
      - {name: ops, severity: error, providerRef: {name: pager, namespace: ops}}
`))
	require.NoError(t, err)
	m.Namespace, m.Target.Namespace = "test", "test" // placed, as examples/embed does
	src := &flagger.Objects{AlertProviders: []flagger.AlertProvider{
		{Name: "on-call", Namespace: "test", Type: "slack", Address: "https://hooks.slack.com/services/x", Channel: "c", Username: "u"},
		{Name: "pager", Namespace: "ops", Type: "slack", Address: "https://hooks.slack.com/services/y", Channel: "c", Username: "u"},
	}}
	require.NoError(t, m.Resolve(context.Background(), src))
	require.Len(t, m.Alerts, 2)
	assert.Equal(t, "test", m.Alerts[0].ProviderNamespace, "the Canary's namespace at resolution")
	assert.Equal(t, "test/on-call", m.Alerts[0].Provider.Key())
	assert.Equal(t, "ops", m.Alerts[1].ProviderNamespace, "a namespace written in the manifest is kept")
	assert.Empty(t, m.Unresolved())

	m.Namespace, m.Target.Namespace = "ops", "ops"
	err = m.Resolve(context.Background(), src)
	assert.ErrorContains(t, err, "AlertProvider ops/on-call is not among the 2 given")
}
