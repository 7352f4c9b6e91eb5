package gatewayapi_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/canarykit/canarykit/mesh/gatewayapi"
	"github.com/canarykit/canarykit/mesh/istioapi"
)

func fields(s gatewayapi.Service) []string {
	var out []string
	for _, p := range s.Problems() {
		out = append(out, p.Field+": "+p.Message)
	}
	return out
}

// What a Gateway API HTTPRoute can carry passes; what it cannot, or its CRD refuses, is named
// at its path.
func TestServiceProblems(t *testing.T) {
	sm := func(exact, prefix, regex string) *istioapi.StringMatch {
		return &istioapi.StringMatch{Exact: exact, Prefix: prefix, Regex: regex}
	}
	ok := gatewayapi.Service{
		Match: []istioapi.HTTPMatchRequest{
			{Name: "api", URI: sm("", "/api", ""), Method: sm("POST", "", ""), Headers: map[string]istioapi.StringMatch{"x-a": {Prefix: "b"}},
				QueryParams: map[string]istioapi.StringMatch{"q": {Exact: "1"}}},
			{URI: sm("/exact/p%20a;th@x", "", "")},
			{URI: sm("", "", "/v[0-9]+/.*")},
		},
		Headers: &istioapi.Headers{Request: &istioapi.HeaderOperations{Set: map[string]string{"x-a": "1"}, Remove: []string{"x-b"}}},
		Rewrite: &istioapi.HTTPRewrite{URI: "/", Authority: "podinfo.test.svc"},
	}
	assert.Empty(t, fields(ok))
	assert.Empty(t, fields(gatewayapi.Service{}))
	assert.True(t, gatewayapi.Service{}.IsZero())
	assert.False(t, ok.IsZero())
	prefix := gatewayapi.Service{Match: []istioapi.HTTPMatchRequest{{URI: sm("", "/a", "")}}, Rewrite: &istioapi.HTTPRewrite{URI: "/b"}, RewriteType: gatewayapi.ReplacePrefixMatch}
	assert.Empty(t, fields(prefix))
	prefix.Match = nil // the default match is the prefix "/"
	assert.Empty(t, fields(prefix))

	many := map[string]istioapi.StringMatch{}
	for _, c := range "abcdefghijklmnopq" {
		many["x-"+string(c)] = istioapi.StringMatch{Exact: "1"}
	}
	manyOps := map[string]string{}
	for k := range many {
		manyOps[k] = "v"
	}
	for _, c := range []struct {
		s    gatewayapi.Service
		want string
	}{
		{gatewayapi.Service{Match: []istioapi.HTTPMatchRequest{{Scheme: sm("https", "", "")}}}, "match[0].scheme: Gateway API's HTTPRouteMatch has no scheme"},
		{gatewayapi.Service{Match: []istioapi.HTTPMatchRequest{{Port: 80}}}, "match[0].port: Gateway API's HTTPRouteMatch has no port"},
		{gatewayapi.Service{Match: []istioapi.HTTPMatchRequest{{URI: sm("", "/a", ""), IgnoreURICase: true}}}, "match[0].ignoreUriCase:"},
		{gatewayapi.Service{Match: []istioapi.HTTPMatchRequest{{WithoutHeaders: map[string]istioapi.StringMatch{"x": {Exact: "y"}}}}}, "match[0].withoutHeaders:"},
		{gatewayapi.Service{Match: []istioapi.HTTPMatchRequest{{SourceLabels: map[string]string{"a": "b"}}}}, "match[0].sourceLabels:"},
		{gatewayapi.Service{Match: []istioapi.HTTPMatchRequest{{SourceNamespace: "x"}}}, "match[0].sourceNamespace:"},
		{gatewayapi.Service{Match: []istioapi.HTTPMatchRequest{{URI: sm("", "", "")}}}, "match[0].uri: set exact, prefix or regex"},
		{gatewayapi.Service{Match: []istioapi.HTTPMatchRequest{{URI: sm("", "api", "")}}}, `match[0].uri.prefix: "api" is not an absolute path`},
		{gatewayapi.Service{Match: []istioapi.HTTPMatchRequest{{URI: sm("/a b", "", "")}}}, `match[0].uri.exact: "/a b" has characters`},
		{gatewayapi.Service{Match: []istioapi.HTTPMatchRequest{{URI: sm("/a//b", "", "")}}}, `must not contain "//"`},
		{gatewayapi.Service{Match: []istioapi.HTTPMatchRequest{{URI: sm("/a%2fb", "", "")}}}, `must not contain "%2f"`},
		{gatewayapi.Service{Match: []istioapi.HTTPMatchRequest{{URI: sm("/a/..", "", "")}}}, "must not end with /.. or /."},
		{gatewayapi.Service{Match: []istioapi.HTTPMatchRequest{{URI: sm("/"+strings.Repeat("a", 1024), "", "")}}}, "match[0].uri.exact: at most 1024 bytes"},
		{gatewayapi.Service{Match: []istioapi.HTTPMatchRequest{{Method: sm("get", "", "")}}}, "match[0].method: Gateway API matches one method exactly"},
		{gatewayapi.Service{Match: []istioapi.HTTPMatchRequest{{Method: sm("", "", "GET|POST")}}}, "match[0].method:"},
		{gatewayapi.Service{Match: []istioapi.HTTPMatchRequest{{QueryParams: map[string]istioapi.StringMatch{"q": {}}}}}, "match[0].queryParams.q: set exact, prefix or regex"},
		{gatewayapi.Service{Match: []istioapi.HTTPMatchRequest{{Headers: many}}}, "match[0].headers: at most 16 in a Gateway API match, got 17"},
		{gatewayapi.Service{Match: make([]istioapi.HTTPMatchRequest, 65)}, "match: at most 64 for an HTTPRoute rule, got 65"},
		{gatewayapi.Service{Headers: &istioapi.Headers{Response: &istioapi.HeaderOperations{Add: manyOps}}}, "headers.response.add: at most 16"},
		{gatewayapi.Service{Headers: &istioapi.Headers{Request: &istioapi.HeaderOperations{Remove: []string{"x-a", "X-A"}}}}, `headers.request.remove: "X-A" is listed twice`},
		{gatewayapi.Service{Rewrite: &istioapi.HTTPRewrite{Authority: "Upper.example"}}, "rewrite.authority:"},
		{gatewayapi.Service{Rewrite: &istioapi.HTTPRewrite{URI: "v2"}}, `rewrite.uri: "v2" is not an absolute path`},
		{gatewayapi.Service{Rewrite: &istioapi.HTTPRewrite{URI: "/v2"}, RewriteType: "prefix"}, "rewrite.type: want ReplaceFullPath or ReplacePrefixMatch"},
		{gatewayapi.Service{RewriteType: gatewayapi.ReplacePrefixMatch}, "rewrite.type: there is no rewrite uri"},
		{gatewayapi.Service{Rewrite: &istioapi.HTTPRewrite{Authority: "a.b"}, RewriteType: gatewayapi.ReplaceFullPath}, "rewrite.type: there is no rewrite uri"},
		{gatewayapi.Service{Match: []istioapi.HTTPMatchRequest{{URI: sm("/a", "", "")}}, Rewrite: &istioapi.HTTPRewrite{URI: "/b"}, RewriteType: gatewayapi.ReplacePrefixMatch},
			"rewrite.type: ReplacePrefixMatch needs a path prefix match"},
		{gatewayapi.Service{Match: []istioapi.HTTPMatchRequest{{URI: sm("", "/a", "")}, {URI: sm("", "/b", "")}}, Rewrite: &istioapi.HTTPRewrite{URI: "/c"}, RewriteType: gatewayapi.ReplacePrefixMatch},
			"rewrite.type: ReplacePrefixMatch needs a route with one path prefix match, and match has 2"},
	} {
		got := fields(c.s)
		if assert.NotEmpty(t, got, c.want) {
			assert.Contains(t, strings.Join(got, "\n"), c.want)
		}
	}
}
