package flagger_test

import (
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func splitCheckCanary(annotations string) []byte {
	return []byte(`
apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: test
  annotations:
` + annotations + `
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898}
  analysis: {interval: 30s, stepWeight: 5, maxWeight: 50}
`)
}

func TestSplitCheckAnnotation(t *testing.T) {
	for _, p := range canary.SplitPolicies() {
		c, err := flagger.LoadCanary(splitCheckCanary(`    canarykit.dev/split-check: ` + string(p) + "\n    fluxcd.io/automated: \"true\""))
		require.NoError(t, err, p)
		assert.Equal(t, p, c.Spec.SplitCheck)
	}
	c, err := flagger.LoadCanary(splitCheckCanary(`    fluxcd.io/automated: "true"`))
	require.NoError(t, err)
	assert.Equal(t, canary.SplitPolicy(""), c.Spec.SplitCheck, "absent: the engine's default (hold)")

	_, err = flagger.LoadCanary(splitCheckCanary(`    canarykit.dev/split-check: sometimes`))
	require.ErrorIs(t, err, canary.ErrInvalidSpec)
	assert.Equal(t, []string{`metadata.annotations.canarykit.dev/split-check: must be one of warn, hold, fail, off, got "sometimes"`}, problems(t, err))

	_, err = flagger.LoadCanary(splitCheckCanary(`    canarykit.dev/split-check: true`))
	assert.Equal(t, []string{`metadata.annotations.canarykit.dev/split-check: must be a string, got the boolean true (quote it)`}, problems(t, err))
}
