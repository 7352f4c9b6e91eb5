package gatewayapi_test

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

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

// Mirrors to core Services and CORS policies a CORS filter carries pass; the rest is named at
// its path.
func TestServiceMirrorAndCORSProblems(t *testing.T) {
	ok := gatewayapi.Service{
		Mirror: []gatewayapi.Mirror{{Name: "shadow", Port: 80}, {Kind: "Service", Name: "shadow", Namespace: "audit", Port: 80}, {Name: "shadow", Port: 81}},
		CORS: &istioapi.CorsPolicy{AllowOrigin: []string{"https://a.example", "http://*.b.example:8080"}, AllowOrigins: []istioapi.StringMatch{{Exact: "spiffe://c"}},
			AllowMethods: []string{"GET"}, AllowHeaders: []string{"x-a"}, ExposeHeaders: []string{"x-b"}, MaxAge: istioapi.Duration(time.Hour), AllowCredentials: true},
	}
	assert.Empty(t, fields(ok))
	assert.False(t, ok.IsZero())
	assert.Empty(t, fields(gatewayapi.Service{CORS: &istioapi.CorsPolicy{AllowOrigin: []string{"*"}}}))
	origins, paths := gatewayapi.CORSOrigins(ok.CORS)
	assert.Equal(t, []string{"https://a.example", "http://*.b.example:8080", "spiffe://c"}, origins)
	assert.Equal(t, []string{"corsPolicy.allowOrigin[0]", "corsPolicy.allowOrigin[1]", "corsPolicy.allowOrigins[0].exact"}, paths)

	many := make([]gatewayapi.Mirror, gatewayapi.MaxMirrors+1)
	for i := range many {
		many[i] = gatewayapi.Mirror{Name: fmt.Sprintf("m%d", i), Port: 80}
	}
	origins = nil
	for i := range 65 {
		origins = append(origins, fmt.Sprintf("https://o%d.example", i))
	}
	for _, c := range []struct {
		s    gatewayapi.Service
		want string
	}{
		{gatewayapi.Service{Mirror: many}, "mirror: at most 11 for an HTTPRoute rule"},
		{gatewayapi.Service{Mirror: []gatewayapi.Mirror{{Group: "x.io", Name: "s", Port: 1}}}, "mirror[0].backendRef.group:"},
		{gatewayapi.Service{Mirror: []gatewayapi.Mirror{{Kind: "Backend", Name: "s", Port: 1}}}, "mirror[0].backendRef.kind:"},
		{gatewayapi.Service{Mirror: []gatewayapi.Mirror{{Name: "1s", Port: 1}}}, `mirror[0].backendRef.name: "1s" is not a Service name`},
		{gatewayapi.Service{Mirror: []gatewayapi.Mirror{{Name: "", Port: 1}}}, "mirror[0].backendRef.name:"},
		{gatewayapi.Service{Mirror: []gatewayapi.Mirror{{Name: "s", Namespace: "A", Port: 1}}}, "mirror[0].backendRef.namespace:"},
		{gatewayapi.Service{Mirror: []gatewayapi.Mirror{{Name: "s"}}}, "mirror[0].backendRef.port: a Service backend needs its port"},
		{gatewayapi.Service{Mirror: []gatewayapi.Mirror{{Name: "s", Port: 1}, {Name: "s", Port: 1}}}, "mirror[1].backendRef: \"s\" port 1 is listed twice"},
		{gatewayapi.Service{CORS: &istioapi.CorsPolicy{AllowOrigins: []istioapi.StringMatch{{Prefix: "https://"}}}}, "corsPolicy.allowOrigins[0]: Gateway API's CORS filter takes origins"},
		{gatewayapi.Service{CORS: &istioapi.CorsPolicy{AllowOrigin: []string{"a.example"}}}, `corsPolicy.allowOrigin[0]: "a.example" is not an origin`},
		{gatewayapi.Service{CORS: &istioapi.CorsPolicy{AllowOrigin: []string{"https://a.example/"}}}, `corsPolicy.allowOrigin[0]: "https://a.example/" is not an origin`},
		{gatewayapi.Service{CORS: &istioapi.CorsPolicy{AllowOrigin: []string{"https://" + strings.Repeat("a", 250)}}}, "corsPolicy.allowOrigin[0]: at most 253 bytes"},
		{gatewayapi.Service{CORS: &istioapi.CorsPolicy{AllowOrigin: []string{"https://a.b", "*"}}}, "corsPolicy.allowOrigin[1]: '*' allows every origin"},
		{gatewayapi.Service{CORS: &istioapi.CorsPolicy{AllowOrigin: origins}}, "corsPolicy: a Gateway API CORS filter lists at most 64 origins"},
		{gatewayapi.Service{CORS: &istioapi.CorsPolicy{AllowHeaders: []string{"x-a", "X-a"}}}, `corsPolicy.allowHeaders[1]: "X-a" is listed twice`},
		{gatewayapi.Service{CORS: &istioapi.CorsPolicy{MaxAge: istioapi.Duration(math.MaxInt32+1) * istioapi.Duration(time.Second)}}, "corsPolicy.maxAge: at most 2147483647 seconds"},
	} {
		got := fields(c.s)
		if assert.NotEmpty(t, got, c.want) {
			assert.Contains(t, strings.Join(got, "\n"), c.want)
		}
	}
}

// A mirror to one of the target's Services, in the route's namespace, conflicts; the same
// name in another namespace does not.
func TestServiceMirrorConflicts(t *testing.T) {
	s := gatewayapi.Service{Mirror: []gatewayapi.Mirror{{Name: "shadow", Port: 80}, {Name: "podinfo-canary", Port: 80}, {Name: "podinfo", Namespace: "test", Port: 80},
		{Name: "podinfo-primary", Namespace: "other", Port: 80}}}
	var got []string
	for _, p := range s.MirrorConflicts("test", "podinfo", "podinfo-primary", "podinfo-canary") {
		got = append(got, p.Field)
	}
	assert.Equal(t, []string{"mirror[1].backendRef.name", "mirror[2].backendRef.name"}, got)
}
