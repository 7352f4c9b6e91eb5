package flagger_test

import (
	"testing"

	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A metric named after one of Flagger's built-in checks runs that check in Flagger even when
// it has a query or a templateRef: Flagger then runs both, each against the range. canarykit
// ran the query or the template alone, so the manifest lost a check; it is refused at the
// field that would be dropped.
func TestBuiltinCheckNameWithAQueryOrTemplateIsRefused(t *testing.T) {
	_, err := flagger.LoadCanary(podinfoCanary(`
    stepWeight: 10
    metrics:
    - name: request-success-rate
      query: sum(rate(http_requests_total{status!~"5.."}[{{ interval }}])) / sum(rate(http_requests_total[{{ interval }}])) * 100
      thresholdRange: {min: 99}
    - name: request-duration
      templateRef: {name: latency}
      thresholdRange: {max: 500}
`))
	assert.Equal(t, []string{
		"spec.analysis.metrics[0].query: request-success-rate names Flagger's built-in check, which Flagger runs as well as this query, both against the range; rename the metric to run the query alone, or remove the query for the built-in check",
		"spec.analysis.metrics[1].templateRef: request-duration names Flagger's built-in check, which Flagger runs as well as this template's query, both against the range; rename the metric to run the template alone, or remove the templateRef for the built-in check",
	}, problems(t, err))

	// the built-in checks alone, and queries under other names, load as before
	m, err := flagger.LoadCanary(podinfoCanary(`
    stepWeight: 10
    metrics:
    - {name: request-success-rate, thresholdRange: {min: 99}, query: ""}
    - {name: request-duration, thresholdRange: {max: 500}}
    - {name: success-rate, query: sum(up), thresholdRange: {min: 1}}
    - {name: latency, templateRef: {name: latency}, thresholdRange: {max: 500}}
`))
	require.NoError(t, err)
	assert.Len(t, m.Spec.Metrics, 4)
	assert.Empty(t, m.Spec.Metrics[0].Query, "the built-in check")
}

// Flagger's built-in checks run Flagger's own queries, which use no template variables:
// templateVariables on a metric that is a built-in check were read and never used. They are
// refused at their path; an empty mapping asks for nothing.
func TestBuiltinCheckTemplateVariablesRefused(t *testing.T) {
	_, err := flagger.LoadCanary(podinfoCanary(`
    stepWeight: 10
    metrics:
    - name: request-success-rate
      thresholdRange: {min: 99}
      templateVariables: {route: checkout}
`))
	assert.Equal(t, []string{
		"spec.analysis.metrics[0].templateVariables: request-success-rate is Flagger's built-in check, whose query uses no template variables; leave them out, or give the metric another name and a query or templateRef that uses them",
	}, problems(t, err))

	_, err = flagger.LoadCanary(podinfoCanary(`
    stepWeight: 10
    metrics:
    - {name: request-duration, thresholdRange: {max: 500}, templateVariables: {}}
`))
	assert.NoError(t, err)
}
