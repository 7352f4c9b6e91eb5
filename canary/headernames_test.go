package canary_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/canarykit/canarykit/canary"
)

// A header's name reaches the data plane as a name: in an ingress-nginx canary-by-header
// annotation, a Gateway API HTTPHeaderName, an Envoy header matcher. One that is not an HTTP
// token (a space, a colon, a line break) would be read there as something else, or refused by
// the API server after the release began; it is refused at its path before anything is written.
func TestMatchHeaderNamesAreTokens(t *testing.T) {
	for _, name := range []string{"x-canary", "X-Canary", "cookie", "x_user.tier", "a!#$%&'*+-.^_`|~z", "0"} {
		assert.Empty(t, problemsOf(t, []canary.Match{{Headers: map[string]canary.StringMatch{name: {Exact: "v"}}}}), "%q", name)
		assert.Empty(t, problemsOf(t, []canary.Match{{WithoutHeaders: map[string]canary.StringMatch{name: {Exact: "v"}}}}), "%q", name)
	}
	for name, want := range map[string]string{
		"x canary":             `match[0].headers["x canary"]: "x canary" is not a header name (letters, digits and !#$%&'*+-.^_` + "`" + `|~, an RFC 9110 token)`,
		"x-canary:\nx-evil":    `match[0].headers["x-canary:\nx-evil"]: "x-canary:\nx-evil" is not a header name`,
		":authority":           `match[0].headers[":authority"]: ":authority" is not a header name`,
		"x-\"quoted\"":         `is not a header name`,
		"x-tier\x00":           `is not a header name`,
		"caf\u00e9":            `is not a header name`,
		"x-canary(comment)":    `is not a header name`,
		"x-canary;y=1":         `is not a header name`,
		"x-canary,x-other":     `is not a header name`,
		"x-canary/other":       `is not a header name`,
		"{x-canary}":           `is not a header name`,
		"x-canary=insider ...": `is not a header name`,
	} {
		got := problemsOf(t, []canary.Match{{Headers: map[string]canary.StringMatch{name: {Exact: "v"}}}})
		if assert.Len(t, got, 1, "%q", name) {
			assert.Contains(t, got[0], want, "%q", name)
		}
		got = problemsOf(t, []canary.Match{{WithoutHeaders: map[string]canary.StringMatch{name: {Exact: "v"}}}})
		if assert.Len(t, got, 1, "%q", name) {
			assert.Contains(t, got[0], "withoutHeaders", "%q", name)
		}
	}
}

// A query parameter's name may hold more than a token (Istio takes "filter[tier]"), but not
// what would end it in a query string or a route's text.
func TestMatchQueryParamNamesHoldNoSeparator(t *testing.T) {
	for _, name := range []string{"beta", "filter[tier]", "a.b", "x-y_z"} {
		assert.Empty(t, problemsOf(t, []canary.Match{{QueryParams: map[string]canary.StringMatch{name: {Exact: "1"}}}}), "%q", name)
	}
	for _, name := range []string{"a b", "a&b", "a=b", "a#b", "a?b", "a\nb", "a\x7fb"} {
		got := problemsOf(t, []canary.Match{{QueryParams: map[string]canary.StringMatch{name: {Exact: "1"}}}})
		if assert.Len(t, got, 1, "%q", name) {
			assert.Contains(t, got[0], "is not a query parameter name (no space, control character, '&', '=', '#' or '?')", "%q", name)
		}
	}
}
