package metrics

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
)

// Flagger's built-in Istio queries as Flagger v1.44 writes them (pkg/metrics/observers/
// istio.go), indentation and trailing spaces included.
const (
	flaggerIstioSuccessRate = "\n\tsum(\n\t\trate(\n\t\t\tistio_requests_total{\n\t\t\t\treporter=\"destination\",\n" +
		"\t\t\t\tdestination_workload_namespace=\"{{ namespace }}\",\n\t\t\t\tdestination_workload=~\"{{ target }}\",\n" +
		"\t\t\t\tresponse_code!~\"5.*\"\n\t\t\t}[{{ interval }}]\n\t\t)\n\t) \n\t/ \n\tsum(\n\t\trate(\n\t\t\tistio_requests_total{\n" +
		"\t\t\t\treporter=\"destination\",\n\t\t\t\tdestination_workload_namespace=\"{{ namespace }}\",\n" +
		"\t\t\t\tdestination_workload=~\"{{ target }}\"\n\t\t\t}[{{ interval }}]\n\t\t)\n\t) \n\t* 100"
	flaggerIstioDuration = "\n\thistogram_quantile(\n\t\t0.99,\n\t\tsum(\n\t\t\trate(\n\t\t\t\tistio_request_duration_milliseconds_bucket{\n" +
		"\t\t\t\t\treporter=\"destination\",\n\t\t\t\t\tdestination_workload_namespace=\"{{ namespace }}\",\n" +
		"\t\t\t\t\tdestination_workload=~\"{{ target }}\"\n\t\t\t\t}[{{ interval }}]\n\t\t\t)\n\t\t) by (le)\n\t)"
)

func TestIstioQueriesAreFlaggers(t *testing.T) {
	assert.Len(t, Istio(), 2)
	assert.Equal(t, tokens(flaggerIstioSuccessRate), tokens(Istio()[RequestSuccessRate]))
	assert.Equal(t, tokens(flaggerIstioDuration), tokens(Istio()[RequestDuration]))

	// rendered, Flagger's text and canarykit's give the same tokens too
	vars := canary.VarsFor(canary.Target{Namespace: "prod", Name: "frontend"}, canary.Metric{Interval: 30 * time.Second})
	for name, flagger := range map[string]string{RequestSuccessRate: flaggerIstioSuccessRate, RequestDuration: flaggerIstioDuration} {
		want, err := canary.RenderQuery(flagger, vars)
		require.NoError(t, err)
		got, err := canary.RenderQuery(Istio()[name], vars)
		require.NoError(t, err)
		assert.Equal(t, tokens(want), tokens(got), name)
		assert.Contains(t, got, `destination_workload_namespace="prod"`)
		assert.Contains(t, got, `destination_workload=~"frontend"`)
		assert.Contains(t, got, `[30s]`)
	}
}

func TestIstioReturnsTheCallersMap(t *testing.T) {
	m := Istio()
	m[RequestSuccessRate] = "vector(0)"
	assert.Equal(t, tokens(flaggerIstioSuccessRate), tokens(Istio()[RequestSuccessRate]))
}
