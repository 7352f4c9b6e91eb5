package flagger_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// kedaCanary is a Canary whose spec.autoscalerRef is the given flow mapping.
func kedaCanary(autoscalerRef string) []byte {
	return []byte(`
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  autoscalerRef: ` + autoscalerRef + `
  service: {port: 9898}
  analysis: {interval: 30s, stepWeight: 10}
`)
}

// A KEDA ScaledObject (keda.sh/v1alpha1) is read as Flagger's reads it: its name, the primary's
// replica bounds and, by trigger name, the primary's queries.
func TestLoadScaledObjectAutoscaler(t *testing.T) {
	c, err := flagger.LoadCanary(kedaCanary(`
    apiVersion: keda.sh/v1alpha1
    kind: ScaledObject
    name: podinfo-so
    primaryScalerReplicas: {minReplicas: 2, maxReplicas: 5}
    primaryScalerQueries:
      rps: sum(rate(http_requests_total{app="podinfo-primary"}[2m]))
      lag: "10"`))
	require.NoError(t, err)
	assert.Equal(t, flagger.Workload{Port: 9898, Autoscaler: "podinfo-so", AutoscalerKind: "ScaledObject",
		PrimaryMinReplicas: 2, PrimaryMaxReplicas: 5,
		PrimaryScalerQueries: map[string]string{"rps": `sum(rate(http_requests_total{app="podinfo-primary"}[2m]))`, "lag": "10"}}, c.Workload)
	assert.Empty(t, c.Notes)

	c, err = flagger.LoadCanary(kedaCanary(`{apiVersion: keda.sh/v1alpha1, kind: ScaledObject, name: podinfo, primaryScalerQueries: null}`))
	require.NoError(t, err)
	assert.Equal(t, flagger.Workload{Port: 9898, Autoscaler: "podinfo", AutoscalerKind: "ScaledObject"}, c.Workload,
		"no queries: the primary's are rewritten from the target's, as Flagger does")

	c, err = flagger.LoadCanary(kedaCanary(`{apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler, name: podinfo, primaryScalerQueries: {}}`))
	require.NoError(t, err)
	assert.Equal(t, flagger.Workload{Port: 9898, Autoscaler: "podinfo"}, c.Workload, "an HPA has no queries: {} asks for none")

	c, err = flagger.LoadCanary(kedaCanary(`{apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler, name: podinfo}`))
	require.NoError(t, err)
	assert.Equal(t, flagger.Workload{Port: 9898, Autoscaler: "podinfo"}, c.Workload, "an HPA's kind is the default")
}

// What canarykit cannot honour is refused by path: another apiVersion of a ScaledObject, a kind
// that is neither, queries that are not strings or are out of bounds, and queries for an HPA.
func TestLoadScaledObjectRefused(t *testing.T) {
	for _, tc := range []struct {
		name, ref string
		want      []string
	}{
		{"apiVersion", `{apiVersion: keda.sh/v1beta1, kind: ScaledObject, name: podinfo}`,
			[]string{`spec.autoscalerRef.apiVersion: a KEDA ScaledObject must be keda.sh/v1alpha1, got "keda.sh/v1beta1"`}},
		{"no apiVersion", `{kind: ScaledObject, name: podinfo}`,
			[]string{`spec.autoscalerRef.apiVersion: a KEDA ScaledObject must be keda.sh/v1alpha1, got ""`}},
		{"kind", `{apiVersion: keda.sh/v1alpha1, kind: ScaledJob, name: podinfo}`,
			[]string{`spec.autoscalerRef.kind: canarykit supports HorizontalPodAutoscaler and ScaledObject (KEDA); got "ScaledJob"`}},
		{"number", `{apiVersion: keda.sh/v1alpha1, kind: ScaledObject, name: podinfo, primaryScalerQueries: {rps: 1.10, up: true}}`,
			[]string{"spec.autoscalerRef.primaryScalerQueries.rps: must be a string, got a number (quote it: YAML reads 1.10 as 1.1)",
				"spec.autoscalerRef.primaryScalerQueries.up: must be a string, got the boolean true (quote it)"}},
		{"not a mapping", `{apiVersion: keda.sh/v1alpha1, kind: ScaledObject, name: podinfo, primaryScalerQueries: [q]}`,
			[]string{"spec.autoscalerRef.primaryScalerQueries: must be a mapping of strings"}},
		{"empty query", `{apiVersion: keda.sh/v1alpha1, kind: ScaledObject, name: podinfo, primaryScalerQueries: {rps: ""}}`,
			[]string{"spec.autoscalerRef.primaryScalerQueries.rps: the query must not be empty"}},
		{"long query", `{apiVersion: keda.sh/v1alpha1, kind: ScaledObject, name: podinfo, primaryScalerQueries: {rps: ` + strings.Repeat("q", 16<<10+1) + `}}`,
			[]string{fmt.Sprintf("spec.autoscalerRef.primaryScalerQueries.rps: the query is at most 16384 bytes, got %d", 16<<10+1)}},
		{"long name", `{apiVersion: keda.sh/v1alpha1, kind: ScaledObject, name: podinfo, primaryScalerQueries: {` + strings.Repeat("n", 254) + `: q}}`,
			[]string{canary.FieldPath("spec.autoscalerRef.primaryScalerQueries", strings.Repeat("n", 254)) + ": a trigger name is at most 253 bytes, got 254"}},
		// Flagger rewrites the primary's queries only when the mapping is absent (nil): given
		// empty, it leaves every trigger's query as the target's, and the primary would scale
		// on the canary's load
		{"empty", `{apiVersion: keda.sh/v1alpha1, kind: ScaledObject, name: podinfo, primaryScalerQueries: {}}`,
			[]string{"spec.autoscalerRef.primaryScalerQueries: empty: Flagger then keeps the target's queries on the primary's triggers unchanged, which scale the primary on the canary's load; leave it out to have them rewritten for the primary, or give each trigger's query"}},
		{"hpa", `{apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler, name: podinfo, primaryScalerQueries: {rps: q}}`,
			[]string{"spec.autoscalerRef.primaryScalerQueries: applies to a ScaledObject (KEDA) only: a HorizontalPodAutoscaler has no queries (Flagger ignores it)"}},
		{"unknown field", `{apiVersion: keda.sh/v1alpha1, kind: ScaledObject, name: podinfo, primaryScalerQuery: {rps: q}}`,
			[]string{"spec.autoscalerRef.primaryScalerQuery: unknown field (not a Flagger Canary field canarykit knows)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := flagger.LoadCanary(kedaCanary(tc.ref))
			assert.ElementsMatch(t, tc.want, problems(t, err))
		})
	}
	var many []string
	for i := range 65 {
		many = append(many, fmt.Sprintf("t%d: q", i))
	}
	_, err := flagger.LoadCanary(kedaCanary(`{apiVersion: keda.sh/v1alpha1, kind: ScaledObject, name: podinfo, primaryScalerQueries: {` + strings.Join(many, ", ") + `}}`))
	assert.Equal(t, []string{"spec.autoscalerRef.primaryScalerQueries: at most 64 queries, got 65"}, problems(t, err))
}
