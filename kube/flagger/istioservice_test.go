package flagger_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/mesh/istioapi"
)

func dur(d time.Duration) istioapi.Duration { return istioapi.Duration(d) }

// Flagger's documented Istio Canary (its FAQ's frontend) loads with every spec.service field
// in place, typed.
func TestIstioFlaggerFAQCanaryLoads(t *testing.T) {
	data, err := os.ReadFile("testdata/canary-istio-frontend.yaml")
	require.NoError(t, err)
	c, err := flagger.LoadCanary(data)
	require.NoError(t, err)
	assert.Equal(t, flagger.RouterIstio, c.Router.Kind)
	assert.Equal(t, istioapi.Service{
		Hosts:         []string{"frontend.example.com"},
		Gateways:      []string{"istio-system/public-gateway", "mesh"},
		TrafficPolicy: &istioapi.TrafficPolicy{TLS: &istioapi.ClientTLSSettings{Mode: "DISABLE"}},
		Match:         []istioapi.HTTPMatchRequest{{URI: &istioapi.StringMatch{Prefix: "/"}}},
		Rewrite:       &istioapi.HTTPRewrite{URI: "/"},
		Retries:       &istioapi.HTTPRetry{Attempts: 3, PerTryTimeout: dur(time.Second), RetryOn: "gateway-error,connect-failure,refused-stream"},
		Headers:       &istioapi.Headers{Request: &istioapi.HeaderOperations{Add: map[string]string{"x-some-header": "value"}}},
		CorsPolicy: &istioapi.CorsPolicy{AllowOrigin: []string{"example.com"}, AllowMethods: []string{"GET"},
			AllowHeaders: []string{"x-some-header"}, MaxAge: dur(24 * time.Hour)},
	}, c.Service)
	assert.Empty(t, c.Notes)
}

// Every field canarykit reads, decoded into istioapi's types.
func TestIstioServiceDecodesEveryField(t *testing.T) {
	c, err := flagger.LoadCanary(canaryWith("istio", `timeout: 30s,
      match: [{name: api, uri: {regex: "/api/.*"}, scheme: {exact: https}, method: {exact: GET}, authority: {prefix: api.},
        headers: {x-tier: {exact: gold}, x-present: {}}, port: 9898, queryParams: {debug: {exact: "1"}}, ignoreUriCase: true,
        withoutHeaders: {x-bot: {prefix: "y"}}, sourceLabels: {app: web}, sourceNamespace: front}],
      rewrite: {uri: /v2, authority: api.internal},
      retries: {attempts: 2, perTryTimeout: 500ms, retryOn: "5xx,503"},
      corsPolicy: {allowOrigins: [{exact: "https://example.com"}, {regex: "https://.*[.]example[.]org"}], allowMethods: [GET, POST],
        allowHeaders: [x-a], exposeHeaders: [x-b], maxAge: 1h, allowCredentials: true},
      headers: {request: {set: {x-a: "1"}, add: {x-b: "2"}, remove: [x-c]}, response: {remove: [server]}},
      trafficPolicy: {
        loadBalancer: {consistentHash: {httpCookie: {name: user, path: /, ttl: 0s}, minimumRingSize: 1024},
          localityLbSetting: {enabled: false, failover: [{from: eu, to: us}]}, warmupDurationSecs: 30s},
        connectionPool: {tcp: {maxConnections: 100, connectTimeout: 30ms}, http: {h2UpgradePolicy: UPGRADE, http1MaxPendingRequests: 10, http2MaxRequests: 100,
          maxRequestsPerConnection: 5, maxRetries: 3, idleTimeout: 5m}},
        outlierDetection: {consecutive5xxErrors: 0, consecutiveGatewayErrors: 5, consecutiveLocalOriginFailures: 2,
          splitExternalLocalOriginErrors: true, interval: 10s, baseEjectionTime: 30s, maxEjectionPercent: 50, minHealthPercent: 20},
        tls: {mode: SIMPLE, caCertificates: /etc/ca.pem, subjectAltNames: [api.example.com], sni: api.example.com}}`))
	require.NoError(t, err)
	off := false
	assert.Equal(t, istioapi.Service{
		Timeout: dur(30 * time.Second),
		Match: []istioapi.HTTPMatchRequest{{Name: "api", URI: &istioapi.StringMatch{Regex: "/api/.*"}, Scheme: &istioapi.StringMatch{Exact: "https"},
			Method: &istioapi.StringMatch{Exact: "GET"}, Authority: &istioapi.StringMatch{Prefix: "api."},
			Headers: map[string]istioapi.StringMatch{"x-tier": {Exact: "gold"}, "x-present": {}}, Port: 9898,
			QueryParams: map[string]istioapi.StringMatch{"debug": {Exact: "1"}}, IgnoreURICase: true,
			WithoutHeaders: map[string]istioapi.StringMatch{"x-bot": {Prefix: "y"}}, SourceLabels: map[string]string{"app": "web"}, SourceNamespace: "front"}},
		Rewrite: &istioapi.HTTPRewrite{URI: "/v2", Authority: "api.internal"},
		Retries: &istioapi.HTTPRetry{Attempts: 2, PerTryTimeout: dur(500 * time.Millisecond), RetryOn: "5xx,503"},
		CorsPolicy: &istioapi.CorsPolicy{AllowOrigins: []istioapi.StringMatch{{Exact: "https://example.com"}, {Regex: "https://.*[.]example[.]org"}},
			AllowMethods: []string{"GET", "POST"}, AllowHeaders: []string{"x-a"}, ExposeHeaders: []string{"x-b"}, MaxAge: dur(time.Hour), AllowCredentials: true},
		Headers: &istioapi.Headers{Request: &istioapi.HeaderOperations{Set: map[string]string{"x-a": "1"}, Add: map[string]string{"x-b": "2"}, Remove: []string{"x-c"}},
			Response: &istioapi.HeaderOperations{Remove: []string{"server"}}},
		TrafficPolicy: &istioapi.TrafficPolicy{
			LoadBalancer: &istioapi.LoadBalancerSettings{
				ConsistentHash:     &istioapi.ConsistentHashLB{HTTPCookie: &istioapi.HTTPCookie{Name: "user", Path: "/", TTL: ptr(dur(0))}, MinimumRingSize: 1024},
				LocalityLbSetting:  &istioapi.LocalityLbSetting{Enabled: &off, Failover: []istioapi.LocalityFailover{{From: "eu", To: "us"}}},
				WarmupDurationSecs: dur(30 * time.Second)},
			ConnectionPool: &istioapi.ConnectionPoolSettings{TCP: &istioapi.TCPSettings{MaxConnections: 100, ConnectTimeout: dur(30 * time.Millisecond)}, HTTP: &istioapi.HTTPSettings{H2UpgradePolicy: "UPGRADE", HTTP1MaxPendingRequests: 10,
				HTTP2MaxRequests: 100, MaxRequestsPerConnection: 5, MaxRetries: 3, IdleTimeout: dur(5 * time.Minute)}},
			OutlierDetection: &istioapi.OutlierDetection{Consecutive5xxErrors: ptr(uint32(0)), ConsecutiveGatewayErrors: ptr(uint32(5)),
				ConsecutiveLocalOriginFailures: ptr(uint32(2)), SplitExternalLocalOriginErrors: true, Interval: dur(10 * time.Second),
				BaseEjectionTime: dur(30 * time.Second), MaxEjectionPercent: 50, MinHealthPercent: 20},
			TLS: &istioapi.ClientTLSSettings{Mode: "SIMPLE", CaCertificates: "/etc/ca.pem", SubjectAltNames: []string{"api.example.com"}, SNI: "api.example.com"},
		},
	}, c.Service)
}

func ptr[T any](v T) *T { return &v }

// A consistent hash cookie's ttl: 0s is Istio's session cookie, unlike no ttl (Envoy then
// generates no cookie): the DestinationRules' traffic policy keeps it.
func TestIstioCookieTTLZeroIsASessionCookie(t *testing.T) {
	for ttl, want := range map[string]string{
		", ttl: 0s": `{"name":"user","ttl":"0s"}`, ", ttl: 1h": `{"name":"user","ttl":"1h"}`,
		"": `{"name":"user"}`, ", ttl: null": `{"name":"user"}`, `, ttl: ""`: `{"name":"user"}`,
	} {
		c, err := flagger.LoadCanary(canaryWith("istio", "trafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {name: user"+ttl+"}}}}"))
		require.NoError(t, err, ttl)
		b, err := json.Marshal(c.Service.TrafficPolicy.LoadBalancer.ConsistentHash.HTTPCookie)
		require.NoError(t, err)
		assert.JSONEq(t, want, string(b), ttl)
	}
}

// Unknown fields, wrong types and values Istio refuses are errors at their full paths.
func TestIstioServiceErrorsNameTheirPath(t *testing.T) {
	for service, want := range map[string][]string{
		"timeout: 30":                        {"spec.service.timeout: must be a string"},
		"timeout: soon":                      {`spec.service.timeout: must be a duration like 1s, 500ms or 24h, got "soon"`},
		"timeout: -1s":                       {`spec.service.timeout: must not be negative, got "-1s"`},
		"timeout: 0s":                        {"spec.service.timeout: must be at least 1ms, got 0s: Istio refuses a zero route timeout; leave it out for none (an Istio route has no timeout unless given one)"},
		"timeout: 1.5ms":                     {"spec.service.timeout: Istio takes whole milliseconds, got 1.5ms"},
		"retries: {attempts: x}":             {`spec.service.retries.attempts: must be a whole number, got "x"`},
		"retries: {attempts: 1, perTry: 1s}": {"spec.service.retries.perTry: unknown field (not a Flagger Canary field canarykit knows)"},
		"retries: {attempts: 1, retryRemoteLocalities: true}": {"spec.service.retries.retryRemoteLocalities: unknown field (not a Flagger Canary field canarykit knows)"},
		"retries: [3]":                                  {"spec.service.retries: must be a mapping"},
		"retries: {retryOn: often}":                     {`spec.service.retries.retryOn: "often" is neither a retry condition (5xx, gateway-error, reset, reset-before-request, connect-failure, envoy-ratelimited, retriable-4xx, refused-stream, retriable-status-codes, retriable-headers, http3-post-connect-failure, cancelled, deadline-exceeded, internal, resource-exhausted, unavailable) nor an HTTP status code`},
		"match: [{uri: {suffix: .js}}]":                 {"spec.service.match[0].uri.suffix: Istio's StringMatch has no suffix (the API server would drop it); use regex"},
		"match: [{uri: /api}]":                          {"spec.service.match[0].uri: must be a mapping"},
		"match: [{gateways: [mesh]}]":                   {"spec.service.match[0].gateways: not supported by canarykit yet"},
		"match: [{headers: {x-a: {regex: '('}}}]":       {"spec.service.match[0].headers.x-a.regex: not an RE2 regular expression: error parsing regexp: missing closing ): `(`"},
		"match: [{port: 70000}]":                        {"spec.service.match[0].port: must be 1..65535, got 70000"},
		"match: [{port: -1}]":                           {"spec.service.match[0].port: must be 0..4294967295, got -1"},
		"match: {uri: {prefix: /}}":                     {"spec.service.match: must be a list"},
		"rewrite: {uri: /, type: ReplacePrefixMatch}":   {"spec.service.rewrite.type: only a Gateway API HTTPRoute has a rewrite type (Flagger reads it there only); leave it out"},
		"rewrite: {authority: ''}":                      {"spec.service.rewrite: must set uri or authority (Istio refuses an empty rewrite)"},
		"corsPolicy: {maxAge: 1500ms}":                  {"spec.service.corsPolicy.maxAge: Istio takes whole seconds, got 1.5s"},
		"corsPolicy: {allowMethods: GET}":               {"spec.service.corsPolicy.allowMethods: must be a list of strings"},
		"corsPolicy: {allowMethods: [get]}":             {`spec.service.corsPolicy.allowMethods[0]: must be one of GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH, got "get"`},
		"headers: {request: {add: {x-a: [1]}}}":         {"spec.service.headers.request.add.x-a: must be a string"},
		`headers: {request: {set: {"x a": "1"}}}`:       {`spec.service.headers.request.set["x a"]: "x a" is not an HTTP header name (letters, digits, '-' and '_')`},
		`headers: {request: {set: {"x\ny": true}}}`:     {`spec.service.headers.request.set["x\ny"]: must be a string, got the boolean true (quote it)`},
		"headers: {requests: {}}":                       {"spec.service.headers.requests: unknown field (not a Flagger Canary field canarykit knows)"},
		"trafficPolicy: {tls: null}":                    {"spec.service.trafficPolicy: set at least one of loadBalancer, connectionPool, outlierDetection and tls, or leave it out (Istio refuses an empty traffic policy)"},
		"trafficPolicy: {tls: {}}":                      {"spec.service.trafficPolicy.tls.mode: required: one of DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL"},
		"trafficPolicy: {tls: {mode: MUTUAL}}":          {"spec.service.trafficPolicy.tls.clientCertificate: required with mode MUTUAL", "spec.service.trafficPolicy.tls.privateKey: required with mode MUTUAL"},
		"trafficPolicy: {loadBalancer: {simple: FAST}}": {`spec.service.trafficPolicy.loadBalancer.simple: must be one of ROUND_ROBIN, LEAST_CONN, RANDOM, PASSTHROUGH, LEAST_REQUEST, got "FAST"`},
		"trafficPolicy: {connectionPool: {tcp: {maxConnections: -1, connectTimeout: 0.5ms}}}":               {"spec.service.trafficPolicy.connectionPool.tcp.maxConnections: must not be negative, got -1", "spec.service.trafficPolicy.connectionPool.tcp.connectTimeout: must be at least 1ms, got 500µs"},
		"trafficPolicy: {connectionPool: {tcp: {tcpKeepalive: {}}}}":                                        {"spec.service.trafficPolicy.connectionPool.tcp.tcpKeepalive: unknown field (not a Flagger Canary field canarykit knows)"},
		"trafficPolicy: {outlierDetection: {consecutiveErrors: 5}}":                                         {"spec.service.trafficPolicy.outlierDetection.consecutiveErrors: Istio deprecated it: use consecutive5xxErrors or consecutiveGatewayErrors"},
		"trafficPolicy: {outlierDetection: {interval: 0.5ms}}":                                              {"spec.service.trafficPolicy.outlierDetection.interval: must be at least 1ms, got 500µs"},
		"trafficPolicy: {loadBalancer: {localityLbSetting: {distribute: [{from: a, to: {b: 60, c: 30}}]}}}": {"spec.service.trafficPolicy.loadBalancer.localityLbSetting.distribute[0].to: weights must sum to 100, got 90"},
		"trafficPolicy: {portLevelSettings: [{port: {number: 80}}]}":                                        {"spec.service.trafficPolicy.portLevelSettings: unknown field (not a Flagger Canary field canarykit knows)"},
	} {
		_, err := flagger.LoadCanary(canaryWith("istio", service))
		if want == nil {
			assert.NoError(t, err, service)
			continue
		}
		assert.Equal(t, want, problems(t, err), service)
	}
}

// Lists and mappings are bounded before their entries are read.
func TestIstioServiceBounds(t *testing.T) {
	_, err := flagger.LoadCanary(canaryWith("istio", "match: ["+strings.Repeat("{uri: {prefix: /}}, ", 65)+"]"))
	assert.Equal(t, []string{"spec.service.match: at most 64, got 65"}, problems(t, err))
	var headers []string
	for i := range 65 {
		headers = append(headers, fmt.Sprintf("x-%d: v", i))
	}
	_, err = flagger.LoadCanary(canaryWith("istio", "headers: {request: {set: {"+strings.Join(headers, ", ")+"}}}"))
	assert.Equal(t, []string{"spec.service.headers.request.set: at most 64 entries, got 65"}, problems(t, err))
	_, err = flagger.LoadCanary(canaryWith("istio", "match: [{queryParams: {"+strings.Join(headers, ", ")+"}}]"))
	assert.Equal(t, []string{"spec.service.match[0].queryParams: at most 64 entries, got 65"}, problems(t, err))
	_, err = flagger.LoadCanary(canaryWith("istio", "corsPolicy: {allowMethods: ["+strings.Repeat("GET, ", 65)+"]}"))
	assert.Equal(t, []string{"spec.service.corsPolicy.allowMethods: at most 64, got 65"}, problems(t, err))
	_, err = flagger.LoadCanary(canaryWith("istio", "rewrite: {uri: /"+strings.Repeat("a", 1024)+"}"))
	assert.Equal(t, []string{"spec.service.rewrite.uri: at most 1024 bytes, got 1025"}, problems(t, err))
}

// null is absent, as Flagger reads it; empty values are what Flagger writes for them.
func TestIstioServiceNullAndZeroValues(t *testing.T) {
	c, err := flagger.LoadCanary(canaryWith("istio", "timeout: null, retries: null, corsPolicy: null, headers: null, rewrite: null, trafficPolicy: null, match: null"))
	require.NoError(t, err)
	assert.Equal(t, istioapi.Service{}, c.Service)
	assert.Empty(t, c.Service.IstioFields())

	c, err = flagger.LoadCanary(canaryWith("istio", "match: [], retries: {}, headers: {}, corsPolicy: {}, trafficPolicy: {}, rewrite: {}"))
	require.NoError(t, err)
	assert.Empty(t, c.Service.Match)
	// an empty traffic policy or rewrite, which Istio refuses, is the default (none)
	assert.Nil(t, c.Service.TrafficPolicy)
	assert.Nil(t, c.Service.Rewrite)
	// Flagger writes retries: {attempts: 0} for these (retries off), and empty headers and
	// CORS policies, which change nothing
	assert.Equal(t, &istioapi.HTTPRetry{}, c.Service.Retries)
	assert.Equal(t, &istioapi.Headers{}, c.Service.Headers)
	assert.Equal(t, &istioapi.CorsPolicy{}, c.Service.CorsPolicy)
}

// The Istio fields are the VirtualService's and DestinationRules': with another provider they
// are refused by path (but timeout with a Gateway API HTTPRoute, its rules' timeouts.request as
// Flagger writes it), without one they are left to the driver's default router, with a note.
func TestIstioFieldsNeedProviderIstio(t *testing.T) {
	service := "timeout: 10s, retries: {attempts: 2}, trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}"
	for _, p := range []string{"linkerd", "gatewayapi:v1", "nginx", "kubernetes"} {
		_, err := flagger.LoadCanary(canaryWith(p, service))
		got := problems(t, err)
		for _, f := range []string{"trafficPolicy", "timeout", "retries"} {
			want := fmt.Sprintf("spec.service.%s: only provider istio writes it, into the VirtualService or DestinationRules (spec.provider is %q)", f, p)
			if f == "timeout" && p == "gatewayapi:v1" {
				assert.NotContains(t, got, want, p)
				continue
			}
			assert.Contains(t, got, want, p)
		}
	}
	c, err := flagger.LoadCanary(canaryWith("", service))
	require.NoError(t, err)
	assert.Equal(t, dur(10*time.Second), c.Service.Timeout)
	assert.Contains(t, c.Notes, "spec.provider is not set: spec.service's hosts, gateways and Istio fields are for the driver's default router, which must be istio (hosts: or a Gateway API HTTPRoute)")
}

// spec.service.delegation makes the VirtualService a delegate (Flagger's Istio delegation):
// without hosts or gateways, which are refused beside it, and for provider istio only.
func TestIstioDelegation(t *testing.T) {
	c, err := flagger.LoadCanary(canaryWith("istio", "delegation: true"))
	require.NoError(t, err)
	assert.True(t, c.Service.Delegation)
	c, err = flagger.LoadCanary(canaryWith("istio", "delegation: false"))
	require.NoError(t, err)
	assert.False(t, c.Service.Delegation)

	_, err = flagger.LoadCanary(canaryWith("istio", "delegation: true, hosts: [app.example.com]"))
	assert.Equal(t, []string{"spec.service.delegation: a delegate VirtualService has no hosts and no gateways (its root VirtualService has them): remove hosts and gateways"},
		problems(t, err))
	_, err = flagger.LoadCanary(canaryWith("istio", "delegation: yes"))
	assert.Equal(t, []string{"spec.service.delegation: must be true or false"}, problems(t, err))
	_, err = flagger.LoadCanary(canaryWith("linkerd", "delegation: true"))
	assert.Equal(t, []string{`spec.service.delegation: only provider istio writes it, into the VirtualService or DestinationRules (spec.provider is "linkerd")`},
		problems(t, err))
}
