package flagger_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/flagger"
)

// flagger.app/v1beta1 keeps the deprecated scalar threshold of a metric (CanaryMetric.Threshold),
// and Flagger's own podinfo chart and Kuma tutorial write it: Flagger checks it as a minimum
// of request-success-rate and a maximum of everything else, and checks the range instead
// when there is one. It loads as in v1alpha3, with a Note.
func TestV1beta1ScalarThreshold(t *testing.T) {
	m, err := flagger.LoadCanary(podinfoCanary(`
    stepWeight: 10
    metrics:
      - {name: request-success-rate, threshold: 99, interval: 1m}
      - {name: request-duration, threshold: 500, interval: 1m}
      - {name: errors, query: 'sum(rate(x[{{ interval }}]))', threshold: 2}
      - {name: latency, query: 'y', threshold: 3, thresholdRange: {min: 1, max: 5}}
`))
	require.NoError(t, err)
	assert.Equal(t, canary.AtLeast(99), m.Spec.Metrics[0].ThresholdRange)
	assert.Equal(t, canary.AtMost(500), m.Spec.Metrics[1].ThresholdRange)
	assert.Equal(t, canary.AtMost(2), m.Spec.Metrics[2].ThresholdRange)
	assert.Equal(t, canary.Between(1, 5), m.Spec.Metrics[3].ThresholdRange, "the range, not the scalar")
	assert.Contains(t, m.Notes, "spec.analysis.metrics[0]: legacy threshold 99 read as thresholdRange >= 99")
	assert.Contains(t, m.Notes, "spec.analysis.metrics[2]: legacy threshold 2 read as thresholdRange <= 2")
	assert.Contains(t, m.Notes, "spec.analysis.metrics[3]: legacy threshold 3 not used: thresholdRange [1, 5] is set")
}

// Flagger compares its built-in request-duration check in whole milliseconds, its bounds
// truncated as its value is (a time.Duration): a bound with a fraction is read so, with a
// Note; other metrics keep theirs.
func TestRequestDurationBoundsAreWholeMilliseconds(t *testing.T) {
	m, err := flagger.LoadCanary(podinfoCanary(`
    stepWeight: 10
    metrics:
      - {name: request-duration, thresholdRange: {min: 0.9, max: 500.7}, interval: 1m}
      - {name: latency, query: 'y', thresholdRange: {max: 500.7}}
`))
	require.NoError(t, err)
	assert.Equal(t, canary.Between(0, 500), m.Spec.Metrics[0].ThresholdRange)
	assert.Equal(t, canary.AtMost(500.7), m.Spec.Metrics[1].ThresholdRange)
	assert.Contains(t, m.Notes, "spec.analysis.metrics[0]: request-duration bound 500.7 read as 500: Flagger compares whole milliseconds")

	m, err = flagger.LoadCanary(podinfoCanary(`
    stepWeight: 10
    metrics:
      - {name: request-duration, threshold: 500.5, interval: 1m}
`))
	require.NoError(t, err)
	assert.Equal(t, canary.AtMost(500), m.Spec.Metrics[0].ThresholdRange, "the legacy scalar too")
}
