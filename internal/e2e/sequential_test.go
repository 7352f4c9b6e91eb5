package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/meshsim"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/webhook/loadgen"
)

// sequentialCanary is a Flagger Canary that canarykit analyses with its sequential test of the
// error rate (canarykit.dev/sequential-check) and a stricter error budget on trial
// (canarykit.dev/dry-run-metrics): Flagger would ignore both annotations.
const sequentialCanary = `apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: NAMESPACE
  annotations:
    # the simulated data plane spreads failures evenly (no Poisson bursts): no tempering
    canarykit.dev/sequential-check: |
      tolerance: 1
      learningRate: 1
    canarykit.dev/dry-run-metrics: error-budget-v2
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  progressDeadlineSeconds: 60
  service: {port: 9898, targetPort: 9898}
  analysis:
    interval: 30s
    threshold: 5
    maxWeight: 50
    stepWeight: 5
    metrics:
    - name: request-success-rate
      thresholdRange: {min: 70}
      interval: 1m
    - name: error-budget-v2
      query: |
        sum(rate(response_total{namespace="{{ namespace }}",deployment=~"{{ target }}",classification="failure",direction="inbound"}[{{ interval }}]))
        / sum(rate(response_total{namespace="{{ namespace }}",deployment=~"{{ target }}",direction="inbound"}[{{ interval }}])) * 100
      thresholdRange: {max: 1}
      interval: 1m
`

// TestSequentialCheckFromAManifest releases an annotated Flagger Canary through the driver on
// the real Prometheus, the simulated Linkerd data plane serving 10 % failures on the primary:
// a canary failing 20 % of its requests (a 2× regression, which the success-rate threshold
// lets through) is rolled back by the sequential test before it gets more than 10 % of the
// traffic; the next revision, failing 10 % like the primary and released seconds after that
// rollback, is promoted: its evidence counts from its own start, not the last requests of the
// rolled-back pods (the same Deployment's, so the same series labels). The dry-run error
// budget fails at every tick of both releases and decides nothing.
func TestSequentialCheckFromAManifest(t *testing.T) {
	w := newWorld(t, flagger.RouterSMI, map[string]meshsim.Behavior{
		"1.0.0": {ErrorRate: 0.10},
		"1.0.1": {ErrorRate: 0.20}, // 2× the errors
		"1.0.2": {ErrorRate: 0.10},
	})
	w.createApp("podinfo", "stefanprodan/podinfo:1.0.0")
	w.load(loadgen.Config{URL: "http://podinfo.test:9898/", Rate: 100, Concurrency: 50})
	manifest := func() *flagger.Canary {
		m, err := flagger.LoadCanary([]byte(strings.ReplaceAll(sequentialCanary, "NAMESPACE", w.ns)))
		require.NoError(t, err)
		require.NotNil(t, m.Sequential)
		for i := range m.Spec.Metrics {
			// the canary's first seconds have no traffic yet: see TestABTestingWithHTTPRoute
			m.Spec.Metrics[i].OnNoData = canary.NoDataHold
		}
		compress(t, &m.Spec)
		return m
	}
	ctx := context.Background()
	res, err := w.drive(ctx, manifest(), "driver-a", &timeline{t: t})
	require.NoError(t, err)
	require.False(t, res.Released, "bootstrap only")

	// events of a release: the sequential check's verdicts, the Halted checks, the dry runs
	type account struct {
		sequential []canary.Verdict
		halted     []string
		dryRuns    int
	}
	tally := func(tl *timeline) account {
		var a account
		for _, s := range tl.events {
			switch s.e.Reason {
			case canary.ReasonHalted:
				a.halted = append(a.halted, s.e.Check)
			case canary.ReasonDryRun:
				assert.Equal(t, "error-budget-v2", s.e.Check)
				a.dryRuns++
			}
			for _, c := range s.e.Checks {
				if c.Name == flagger.DefaultSequentialCheckName {
					a.sequential = append(a.sequential, c.Verdict)
				}
				if c.Name == "error-budget-v2" {
					assert.True(t, c.DryRun)
				}
			}
		}
		return a
	}

	t.Run("a 2× error rate is rolled back by 10 %", func(t *testing.T) {
		w.setImage("podinfo", "stefanprodan/podinfo:1.0.1")
		tl := &timeline{t: t}
		res, err := w.drive(ctx, manifest(), "driver-a", tl)
		require.NoError(t, err)
		require.Equal(t, canary.PhaseFailed, res.Phase, res.Reason)
		t.Logf("step timings:\n%s", tl.steps())
		assert.LessOrEqual(t, slices.Max(res.Weights), 10, "weights %v", res.Weights)
		a := tally(tl)
		require.NotEmpty(t, a.halted)
		for _, name := range a.halted {
			assert.Equal(t, flagger.DefaultSequentialCheckName, name, "only the sequential test halted the release")
		}
		assert.Contains(t, a.sequential, canary.VerdictFail)
		assert.Positive(t, a.dryRuns)
		assert.Equal(t, "stefanprodan/podinfo:1.0.0", w.image("podinfo-primary"))
		requireAllToPrimary(t, w, "podinfo")
	})

	t.Run("the same error rate as the primary, right after the rollback, is promoted", func(t *testing.T) {
		w.setImage("podinfo", "stefanprodan/podinfo:1.0.2")
		tl := &timeline{t: t}
		res, err := w.drive(ctx, manifest(), "driver-a", tl)
		require.NoError(t, err)
		require.Equal(t, canary.PhaseSucceeded, res.Phase, res.Reason)
		t.Logf("step timings:\n%s", tl.steps())
		assert.Equal(t, []int{5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 0}, res.Weights)
		a := tally(tl)
		assert.Empty(t, a.halted, "no failed check: the failing dry-run metric is not counted")
		assert.Contains(t, a.sequential, canary.VerdictPass)
		assert.NotContains(t, a.sequential, canary.VerdictFail)
		assert.GreaterOrEqual(t, a.dryRuns, 10, "the dry-run metric failed at every weight, and said so")
		assert.Equal(t, "stefanprodan/podinfo:1.0.2", w.image("podinfo-primary"))
	})
}
