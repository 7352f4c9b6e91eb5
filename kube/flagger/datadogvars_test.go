package flagger_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/kube/flagger"
)

// A Datadog template writes a templateVariables value bare (Datadog's queries have no quoted
// strings), so a value with a brace, a comma, a space or an operator would end its tag and add
// to the query, reading series of another namespace with the template's keys. Such a value is
// refused at its path when the template is resolved; the same value stays allowed for a
// Prometheus template, where the quotes around it hold it.
func TestDatadogTemplateVariablesAreTagValues(t *testing.T) {
	const injection = "web} + sum:requests.errors{kube_namespace:payments"
	const bare = `sum:requests.errors{kube_namespace:{{ namespace }},service:{{ variables.service }}}.as_count()`
	resolveQuery := func(provider, query, value string) error {
		m := load(t, "canary-003-ab-testing.yaml")
		m.Spec.Metrics[0].Variables = map[string]string{"service": value}
		src := &flagger.Objects{MetricTemplates: []flagger.MetricTemplate{
			{Name: "error-rate", Namespace: "istio-system", Query: query,
				Provider: flagger.MetricTemplateProvider{Type: provider, SecretRef: "dd", Address: "http://p:9090"}},
			{Name: "latency", Namespace: "istio-system", Query: "a", Provider: flagger.MetricTemplateProvider{Type: "prometheus", Address: "http://p:9090"}},
		}}
		err := m.Resolve(context.Background(), src)
		if err == nil {
			assert.Contains(t, m.Spec.Metrics[0].Query, "{{ variables.service }}", "resolved")
		}
		return err
	}
	resolve := func(provider, value string) error { return resolveQuery(provider, bare, value) }
	err := resolve("datadog", injection)
	require.Error(t, err)
	assert.Equal(t, []string{`spec.analysis.metrics[0].templateVariables["service"]: a Datadog template writes it bare in its query, ` +
		`so it may hold only letters, digits, '_', '-', '.', ':' and '/' (a Datadog tag's characters): "}" at byte 3`}, problems(t, err))
	for _, v := range []string{"web,kube_namespace:payments", "web OR service:*", "web*", "(web)", "wéb"} {
		assert.Error(t, resolve("datadog", v), "%q", v)
	}
	for _, v := range []string{"web", "web-api_v2", "team:payments/web", "v1.2.3"} {
		assert.NoError(t, resolve("datadog", v), "%q", v)
	}
	// a PromQL template that keeps the value in a string literal holds it there, whose ends
	// are refused on their own; one that writes it bare is held to a plain token
	assert.NoError(t, resolveQuery("prometheus", `sum(rate(errors{service="{{ variables.service }}"}[1m]))`, injection))
	err = resolve("prometheus", injection)
	require.Error(t, err)
	assert.Contains(t, problems(t, err)[0], "outside a PromQL string")
}
