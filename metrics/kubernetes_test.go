package metrics

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
)

// Flagger's built-in queries of provider kubernetes as Flagger v1.44 writes them
// (pkg/metrics/observers/http.go), indentation and trailing spaces included; Flagger converts
// the duration's seconds to milliseconds after the query.
const (
	flaggerHTTPSuccessRate = "\n\tsum(\n\t\trate(\n\t\t\thttp_request_duration_seconds_count{\n" +
		"\t\t\t\tkubernetes_namespace=\"{{ namespace }}\",\n" +
		"\t\t\t\tkubernetes_pod_name=~\"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)\",\n" +
		"\t\t\t\tstatus!~\"5.*\"\n\t\t\t}[{{ interval }}]\n\t\t)\n\t) \n\t/ \n\tsum(\n\t\trate(\n" +
		"\t\t\thttp_request_duration_seconds_count{\n\t\t\t\tkubernetes_namespace=\"{{ namespace }}\",\n" +
		"\t\t\t\tkubernetes_pod_name=~\"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)\"\n" +
		"\t\t\t}[{{ interval }}]\n\t\t)\n\t) \n\t* 100"
	flaggerHTTPDuration = "\n\thistogram_quantile(\n\t\t0.99,\n\t\tsum(\n\t\t\trate(\n" +
		"\t\t\t\thttp_request_duration_seconds_bucket{\n\t\t\t\t\tkubernetes_namespace=\"{{ namespace }}\",\n" +
		"\t\t\t\t\tkubernetes_pod_name=~\"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)\"\n" +
		"\t\t\t\t}[{{ interval }}]\n\t\t\t)\n\t\t) by (le)\n\t)"
)

func TestKubernetesQueriesAreFlaggers(t *testing.T) {
	assert.Len(t, Kubernetes(), 2)
	assert.Equal(t, tokens(flaggerHTTPSuccessRate), tokens(Kubernetes()[RequestSuccessRate]))
	assert.Equal(t, tokens(flaggerHTTPDuration+" * 1000"), tokens(Kubernetes()[RequestDuration]), "in milliseconds")

	vars := canary.VarsFor(canary.Target{Namespace: "prod", Name: "frontend"}, canary.Metric{Interval: 30 * time.Second})
	got, err := canary.RenderQuery(Kubernetes()[RequestSuccessRate], vars)
	require.NoError(t, err)
	assert.Contains(t, got, `kubernetes_namespace="prod"`)
	assert.Contains(t, got, `kubernetes_pod_name=~"frontend-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"`)
	assert.Contains(t, got, `[30s]`)

	m := Kubernetes()
	m[RequestSuccessRate] = "vector(0)"
	assert.Equal(t, tokens(flaggerHTTPSuccessRate), tokens(Kubernetes()[RequestSuccessRate]), "each call returns a new map")
}
