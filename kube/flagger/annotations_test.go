package flagger_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/flagger"
)

// annotatedCanary is a valid Flagger Canary with the given metadata.annotations block.
func annotatedCanary(annotations string) []byte {
	return []byte(`apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: test
  annotations:
` + annotations + `
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898}
  analysis:
    interval: 30s
    threshold: 5
    maxWeight: 50
    stepWeight: 5
    metrics:
    - name: request-success-rate
      thresholdRange: {min: 99}
      interval: 1m
    - name: error-ratio-v2
      query: sum(rate(errors{app="{{ target }}"}[{{ interval }}]))
      thresholdRange: {max: 1}
`)
}

func TestSequentialCheckAnnotation(t *testing.T) {
	c, err := flagger.LoadCanary(annotatedCanary(`    canarykit.dev/sequential-check: |
      name: errors-sequential
      interval: 2m
      alpha: 0.005
      beta: 0.02
      regression: 3
      tolerance: 1.5
      learningRate: 0.25
      minSamples: 10
    canarykit.dev/dry-run-metrics: "error-ratio-v2"
    other.example/annotation: kept out of the analysis`))
	require.NoError(t, err)
	require.Len(t, c.Spec.Metrics, 3)
	assert.Equal(t, canary.Metric{Name: "errors-sequential", Interval: 2 * time.Minute, OnNoData: canary.NoDataHold}, c.Spec.Metrics[2])
	require.NotNil(t, c.Sequential)
	assert.Equal(t, flagger.SequentialCheck{Metric: 2, Alpha: 0.005, Beta: 0.02, Regression: 3, Tolerance: 1.5, LearningRate: 0.25, MinSamples: 10,
		Path: "metadata.annotations.canarykit.dev/sequential-check"}, *c.Sequential)
	assert.True(t, c.Spec.Metrics[1].DryRun)
	assert.False(t, c.Spec.Metrics[0].DryRun)
	assert.False(t, c.Spec.Metrics[2].DryRun)

	// an empty mapping takes every default; the check itself may run dry
	c, err = flagger.LoadCanary(annotatedCanary(`    canarykit.dev/sequential-check: "{}"
    canarykit.dev/dry-run-metrics: " sequential-error-rate , error-ratio-v2"`))
	require.NoError(t, err)
	require.Len(t, c.Spec.Metrics, 3)
	assert.Equal(t, canary.Metric{Name: flagger.DefaultSequentialCheckName, Interval: time.Minute, OnNoData: canary.NoDataHold, DryRun: true}, c.Spec.Metrics[2])
	assert.Equal(t, flagger.SequentialCheck{Metric: 2, Path: "metadata.annotations.canarykit.dev/sequential-check"}, *c.Sequential)
	assert.True(t, c.Spec.Metrics[1].DryRun)

	// without the annotations: nothing added
	c, err = flagger.LoadCanary(annotatedCanary(`    other.example/annotation: "x"`))
	require.NoError(t, err)
	assert.Nil(t, c.Sequential)
	assert.Len(t, c.Spec.Metrics, 2)
}

func TestAnnotationProblemsByPath(t *testing.T) {
	const seq = "metadata.annotations.canarykit.dev/sequential-check"
	const dry = "metadata.annotations.canarykit.dev/dry-run-metrics"
	for name, tc := range map[string]struct {
		annotations string
		want        []string
	}{
		"bad values": {`    canarykit.dev/sequential-check: |
      alpha: 0.9
      beta: -1
      regression: 1.1
      learningRate: 2
      minSamples: -3
      colour: blue`, []string{
			seq + ".alpha: must be in (0, 0.5], got 0.9",
			seq + ".beta: must be in (0, 0.5], got -1",
			seq + ".regression: must be above the tolerance (1.25), got 1.1",
			seq + ".learningRate: must be in (0, 1], got 2",
			seq + ".minSamples: must be 0..10000, got -3",
			seq + ".colour: unknown field; known: name, interval,",
		}},
		"tolerance below 1": {`    canarykit.dev/sequential-check: "{tolerance: 0.5, regression: 2}"`, []string{seq + ".tolerance: must be at least 1"}},
		"not a mapping":     {`    canarykit.dev/sequential-check: "[1, 2]"`, []string{seq + ": must be a mapping"}},
		"not YAML":          {`    canarykit.dev/sequential-check: "{a: [}"`, []string{seq + ": must be a YAML mapping"}},
		"name taken":        {`    canarykit.dev/sequential-check: "{name: request-success-rate}"`, []string{seq + `.name: "request-success-rate" is already a metric`}},
		"bad name":          {`    canarykit.dev/sequential-check: "{name: \"Errors Seq\"}"`, []string{seq + `.name: "Errors Seq" is not a valid Kubernetes name`}},
		"one query":         {`    canarykit.dev/sequential-check: "{requestsQuery: sum(x)}"`, []string{seq + ": set both requestsQuery and errorsQuery"}},
		"too long":          {`    canarykit.dev/sequential-check: "` + strings.Repeat("x", 5000) + `"`, []string{seq + ": must be at most 4096 bytes, got 5000"}},
		"unknown dry-run":   {`    canarykit.dev/dry-run-metrics: "error-ratio-v2,nope,,error-ratio-v2"`, []string{dry + `[1]: no metric "nope"`, dry + "[2]: empty metric name", dry + `[3]: metric "error-ratio-v2" listed twice`}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := flagger.LoadCanary(annotatedCanary(tc.annotations))
			got := problems(t, err)
			require.Len(t, got, len(tc.want), "%q", got)
			for i, w := range tc.want {
				assert.Contains(t, got[i], w)
			}
		})
	}
}
