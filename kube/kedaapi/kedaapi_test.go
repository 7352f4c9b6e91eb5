package kedaapi_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/canarykit/canarykit/kube/kedaapi"
	"github.com/stretchr/testify/assert"
)

// PrimaryQuery rewrites as Flagger's setPrimaryScaledObjectQueries does: the canary's and the
// target's names become the primary's, never "-primary-primary" from its own rewrite.
func TestPrimaryQuery(t *testing.T) {
	for _, tc := range []struct{ query, want string }{
		{`sum(rate(http_requests_total{deployment="podinfo"}[1m]))`, `sum(rate(http_requests_total{deployment="podinfo-primary"}[1m]))`},
		{`sum(rate(x{app="podinfo-canary"}[1m])) + sum(rate(x{app="podinfo"}[1m]))`,
			`sum(rate(x{app="podinfo-primary"}[1m])) + sum(rate(x{app="podinfo-primary"}[1m]))`},
		{`up{job="other"}`, `up{job="other"}`},
		// as Flagger: a name that holds the target's is rewritten too
		{`x{deployment="podinfo-primary"}`, `x{deployment="podinfo-primary-primary"}`},
		{"a\uE000podinfo-canary \uE001", "a\uE000podinfo-primary \uE001"},
	} {
		assert.Equal(t, tc.want, kedaapi.PrimaryQuery(tc.query, "podinfo"), tc.query)
	}
	assert.Equal(t, "q", kedaapi.PrimaryQuery("q", ""))
}

func TestQueriesProblems(t *testing.T) {
	assert.Empty(t, kedaapi.QueriesProblems(nil))
	assert.Empty(t, kedaapi.QueriesProblems(map[string]string{"rps": "sum(x)"}))
	assert.Equal(t, []kedaapi.Problem{
		{Key: "", Message: "a trigger name must not be empty"},
		{Key: "blank", Message: "the query must not be empty"},
		{Key: "long", Message: fmt.Sprintf("the query is at most %d bytes, got %d", kedaapi.MaxQueryBytes, kedaapi.MaxQueryBytes+1)},
		{Key: strings.Repeat("n", 254), Message: "a trigger name is at most 253 bytes, got 254"},
	}, kedaapi.QueriesProblems(map[string]string{"": "q", "blank": " ", "long": strings.Repeat("q", kedaapi.MaxQueryBytes+1), strings.Repeat("n", 254): "q"}))
	many := map[string]string{}
	for i := range kedaapi.MaxQueries + 1 {
		many[fmt.Sprint(i)] = "q"
	}
	assert.Equal(t, []kedaapi.Problem{{Message: "at most 64 queries, got 65"}}, kedaapi.QueriesProblems(many))
}
