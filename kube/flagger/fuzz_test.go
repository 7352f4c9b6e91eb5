package flagger_test

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/flagger"
)

func addTestdata(f *testing.F, pattern string) {
	files, err := filepath.Glob(filepath.Join("testdata", pattern))
	require.NoError(f, err)
	for _, name := range files {
		b, err := os.ReadFile(name)
		require.NoError(f, err)
		f.Add(b)
	}
}

// FuzzLoadCanary: a manifest LoadCanary accepts is one the engine's validation accepts, with
// finite thresholds, ports within 1..65535 (or absent), whole-second deadlines and intervals of at least a
// second, and query templates that render within bounds. Anything else is an ErrInvalidSpec.
func FuzzLoadCanary(f *testing.F) {
	addTestdata(f, "canary-*.yaml")
	f.Add([]byte(hostileCanary))
	f.Add([]byte("apiVersion: flagger.app/v1beta1\nkind: Canary\nspec: {service: {port: 4294967376}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := flagger.LoadCanary(data)
		if err != nil {
			assert.ErrorIs(t, err, canary.ErrInvalidSpec)
			return
		}
		require.NoError(t, m.Spec.Validate(), "accepted by the loader, refused by the engine")
		require.NoError(t, m.Service.Validate(), "accepted by the loader, refused by the Istio router")
		assert.True(t, m.Workload.Port >= 1 && m.Workload.Port <= 65535, "port %d", m.Workload.Port)
		assert.Zero(t, m.Spec.ProgressDeadline%time.Second, "deadline %s", m.Spec.ProgressDeadline)
		assert.GreaterOrEqual(t, m.Spec.ProgressDeadline, time.Duration(0))
		if m.Spec.Interval != 0 {
			assert.GreaterOrEqual(t, m.Spec.Interval, time.Second)
		}
		for _, met := range m.Spec.Metrics {
			for _, b := range []*float64{met.ThresholdRange.Min, met.ThresholdRange.Max} {
				if b != nil {
					assert.False(t, math.IsNaN(*b) || math.IsInf(*b, 0), "threshold %v", *b)
				}
			}
			if met.Interval != 0 {
				assert.GreaterOrEqual(t, met.Interval, time.Second)
			}
			if met.Query != "" {
				q, err := canary.RenderQuery(met.Query, canary.VarsFor(m.Target, met))
				if err == nil {
					assert.LessOrEqual(t, len(q), canary.MaxQueryLength)
				}
			}
		}
		for _, h := range m.Spec.Webhooks {
			assert.LessOrEqual(t, h.Retries, canary.MaxHookRetries)
		}
	})
}

// FuzzLoadObjects: MetricTemplates and AlertProviders load or fail with ErrInvalidSpec; what
// loads has http(s) addresses and queries within bounds.
func FuzzLoadObjects(f *testing.F) {
	addTestdata(f, "metric-templates-*.yaml")
	f.Add([]byte("apiVersion: v1\nkind: List\nitems: {a: 1}\n"))
	f.Add([]byte("apiVersion: flagger.app/v1beta1\nkind: AlertProvider\nmetadata: {name: a, namespace: b}\nspec: {type: slack, address: \"https://hooks.slack.com/x\"}\n---\n---\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := flagger.LoadObjects(data)
		if err != nil {
			assert.ErrorIs(t, err, canary.ErrInvalidSpec)
			return
		}
		for _, mt := range objs.MetricTemplates {
			assert.LessOrEqual(t, len(mt.Query), canary.MaxQueryLength)
			assert.Regexp(t, `^https?://`, mt.Provider.Address)
		}
		for _, p := range objs.AlertProviders {
			if p.Address != "" {
				assert.Regexp(t, `^https?://`, p.Address)
			}
		}
	})
}
