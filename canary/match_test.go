package canary_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
)

// problemsOf is ValidateMatches' problems as "path: message" lines.
func problemsOf(t *testing.T, ms []canary.Match) []string {
	t.Helper()
	err := canary.ValidateMatches(ms)
	if err == nil {
		return nil
	}
	var ve *canary.ValidationError
	require.True(t, errors.As(err, &ve), "%v", err)
	require.ErrorIs(t, err, canary.ErrInvalidSpec)
	var out []string
	for _, p := range ve.Problems {
		out = append(out, p.Error())
	}
	return out
}

func TestMatchBeyondHeadersIsValidatedByPath(t *testing.T) {
	// every field Flagger's analysis.match (an Istio HTTPMatchRequest) has, set well
	good := canary.Match{
		URI: &canary.StringMatch{Prefix: "/api"}, Method: &canary.StringMatch{Exact: "GET"},
		QueryParams: map[string]canary.StringMatch{"beta": {Exact: "1"}}, Name: "beta-users",
		Authority: &canary.StringMatch{Suffix: ".example.com"}, Scheme: &canary.StringMatch{Exact: "https"},
		Port: 8080, IgnoreURICase: true, WithoutHeaders: map[string]canary.StringMatch{"x-bot": {Regex: ".+"}},
		SourceLabels: map[string]string{"app": "frontend"}, SourceNamespace: "web",
	}
	assert.Empty(t, problemsOf(t, []canary.Match{good}))
	assert.Equal(t, []string{"headers", "uri", "method", "queryParams", "name", "authority", "scheme", "port", "ignoreUriCase",
		"withoutHeaders", "sourceLabels", "sourceNamespace"}, append([]string{"headers"}, good.Fields()...))
	// a uri alone is a condition: headers are no longer required
	assert.Empty(t, problemsOf(t, []canary.Match{{URI: &canary.StringMatch{Exact: "/"}}}))

	bad := canary.Match{
		URI: &canary.StringMatch{Regex: "(["}, Method: &canary.StringMatch{},
		QueryParams: map[string]canary.StringMatch{"": {Exact: "1"}, "q": {Prefix: strings.Repeat("p", canary.MaxMatchValueLen+1)}},
		Name:        strings.Repeat("n", canary.MaxHeaderNameLen+1), Authority: &canary.StringMatch{Exact: "a", Prefix: "b"},
		Port: 70000, IgnoreURICase: true, WithoutHeaders: map[string]canary.StringMatch{"x": {Regex: `\pL{999}\pL{999}`}},
		SourceLabels: map[string]string{"": "x"}, SourceNamespace: "Not_A_Namespace",
	}
	assert.Equal(t, []string{
		"match[0].queryParams[\"\"]: query parameter name must not be empty",
		"match[0].queryParams.q.prefix: at most 1024 bytes, got 1025",
		"match[0].withoutHeaders.x.regex: too complex: compiles to more than 1000 instructions",
		"match[0].uri.regex: not an RE2 regular expression: error parsing regexp: missing closing ]: `[`",
		"match[0].method: must set exactly one of exact, prefix, suffix, regex (got 0)",
		"match[0].authority: must set exactly one of exact, prefix, suffix, regex (got 2)",
		"match[0].name: at most 253 bytes, got 254",
		"match[0].port: must be 1..65535, got 70000",
		"match[0].ignoreUriCase: applies to a uri exact or prefix match (Istio ignores case in no other), and there is none",
		"match[0].sourceLabels[\"\"]: label name: want 1 to 253 bytes, got 0",
		"match[0].sourceNamespace: \"Not_A_Namespace\" is not a namespace name (a lowercase RFC 1123 label)",
	}, problemsOf(t, []canary.Match{bad}))

	// a name alone matches nothing
	assert.Equal(t, []string{"match[0]: must set at least one condition: headers, uri, method, queryParams, authority, scheme, port, withoutHeaders, sourceLabels or sourceNamespace"},
		problemsOf(t, []canary.Match{{Name: "n"}}))
	many := map[string]string{}
	for i := range canary.MaxMatchHeaders + 1 {
		many[strings.Repeat("l", i+1)] = "v"
	}
	assert.Equal(t, []string{"match[0].sourceLabels: at most 64 labels, got 65"}, problemsOf(t, []canary.Match{{SourceLabels: many}}))
}

func TestHeadersOnlyNamesTheFirstOtherField(t *testing.T) {
	require.NoError(t, canary.HeadersOnly("an SMI HTTPRouteGroup", []canary.Match{{Headers: map[string]canary.StringMatch{"x": {Exact: "y"}}}}))
	err := canary.HeadersOnly("an SMI HTTPRouteGroup", []canary.Match{
		{Headers: map[string]canary.StringMatch{"x": {Exact: "y"}}},
		{Headers: map[string]canary.StringMatch{"x": {Exact: "y"}}, QueryParams: map[string]canary.StringMatch{"q": {Exact: "1"}}, Port: 80},
	})
	require.ErrorIs(t, err, canary.ErrMatchUnsupported)
	assert.Contains(t, err.Error(), "match[1].queryParams: an SMI HTTPRouteGroup matches headers only")
}

func TestMatchesAreCopiedDeeply(t *testing.T) {
	// the Rollout copies the spec's matches into the target it gives routers
	ms := []canary.Match{{
		URI: &canary.StringMatch{Prefix: "/a"}, QueryParams: map[string]canary.StringMatch{"q": {Exact: "1"}},
		SourceLabels: map[string]string{"app": "x"}, Method: &canary.StringMatch{Exact: "GET"},
	}}
	c := canary.CloneMatches(ms)
	ms[0].URI.Prefix, ms[0].Method.Exact = "/b", "POST"
	ms[0].QueryParams["q"] = canary.StringMatch{Exact: "2"}
	ms[0].SourceLabels["app"] = "y"
	assert.Equal(t, "/a", c[0].URI.Prefix)
	assert.Equal(t, "GET", c[0].Method.Exact)
	assert.Equal(t, "1", c[0].QueryParams["q"].Exact)
	assert.Equal(t, "x", c[0].SourceLabels["app"])
}
