package metrics

import (
	"strings"
	"testing"
	"time"
	"unicode"

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

// promTokens splits a PromQL query into its tokens: quoted strings whole (spaces inside kept),
// names and numbers, and operators of one or two characters; whitespace separates tokens and
// is dropped.
func promTokens(t *testing.T, q string) []string {
	t.Helper()
	var out []string
	rs := []rune(q)
	word := func(r rune) bool {
		return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '.' || r == ':'
	}
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case r == '"':
			j := i + 1
			for j < len(rs) && rs[j] != '"' {
				if rs[j] == '\\' {
					j++
				}
				j++
			}
			require.Less(t, j, len(rs), "unterminated string in %q", q)
			out = append(out, string(rs[i:j+1]))
			i = j + 1
		case word(r):
			j := i
			for j < len(rs) && word(rs[j]) {
				j++
			}
			out = append(out, string(rs[i:j]))
			i = j
		default:
			op := string(r)
			if i+1 < len(rs) && strings.Contains("!=~", string(rs[i+1])) && strings.Contains("!=", op) {
				op += string(rs[i+1])
			}
			out = append(out, op)
			i += len([]rune(op))
		}
	}
	return out
}

func TestIstioPromTokens(t *testing.T) {
	assert.Equal(t, []string{"sum", "(", "a", "{", "b", "!~", `"5.*"`, ",", "c", "=~", `"x y"`, "}", "[", "30s", "]", ")", "*", "100"},
		promTokens(t, `sum(a{b!~"5.*",c=~"x y"}[30s]) * 100`))
	assert.NotEqual(t, promTokens(t, `a{b="x y"}`), promTokens(t, `a{b="xy"}`), "spaces inside strings count")
}

func TestIstioQueriesAreFlaggers(t *testing.T) {
	assert.Len(t, Istio(), 2)
	assert.Equal(t, promTokens(t, flaggerIstioSuccessRate), promTokens(t, Istio()[RequestSuccessRate]))
	assert.Equal(t, promTokens(t, flaggerIstioDuration), promTokens(t, Istio()[RequestDuration]))

	// rendered, Flagger's text and canarykit's give the same tokens too
	vars := canary.VarsFor(canary.Target{Namespace: "prod", Name: "frontend"}, canary.Metric{Interval: 30 * time.Second})
	for name, flagger := range map[string]string{RequestSuccessRate: flaggerIstioSuccessRate, RequestDuration: flaggerIstioDuration} {
		want, err := canary.RenderQuery(flagger, vars)
		require.NoError(t, err)
		got, err := canary.RenderQuery(Istio()[name], vars)
		require.NoError(t, err)
		assert.Equal(t, promTokens(t, want), promTokens(t, got), name)
		assert.Contains(t, got, `destination_workload_namespace="prod"`)
		assert.Contains(t, got, `destination_workload=~"frontend"`)
		assert.Contains(t, got, `[30s]`)
	}
}

func TestIstioReturnsTheCallersMap(t *testing.T) {
	m := Istio()
	m[RequestSuccessRate] = "vector(0)"
	assert.Equal(t, promTokens(t, flaggerIstioSuccessRate), promTokens(t, Istio()[RequestSuccessRate]))
}
