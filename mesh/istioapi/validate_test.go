package istioapi_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/ptr"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh/istioapi"
)

func ms(d time.Duration) istioapi.Duration { return istioapi.Duration(d) }

func u32(v uint32) *uint32 { return &v }

// full is a service using every field, as Flagger's documentation and Istio's accept them.
func full() istioapi.Service {
	on := true
	return istioapi.Service{
		Hosts:    []string{"frontend.example.com"},
		Gateways: []string{"istio-system/public-gateway", "mesh"},
		TrafficPolicy: &istioapi.TrafficPolicy{
			LoadBalancer: &istioapi.LoadBalancerSettings{
				ConsistentHash:     &istioapi.ConsistentHashLB{HTTPCookie: &istioapi.HTTPCookie{Name: "user", TTL: ptr.To(ms(time.Hour))}, MinimumRingSize: 1024},
				LocalityLbSetting:  &istioapi.LocalityLbSetting{Enabled: &on, Distribute: []istioapi.LocalityDistribute{{From: "eu/*", To: map[string]uint32{"eu/*": 80, "us/*": 20}}}},
				WarmupDurationSecs: ms(30 * time.Second),
			},
			ConnectionPool: &istioapi.ConnectionPoolSettings{TCP: &istioapi.TCPSettings{MaxConnections: 100, ConnectTimeout: ms(30 * time.Millisecond)}, HTTP: &istioapi.HTTPSettings{H2UpgradePolicy: "UPGRADE", HTTP1MaxPendingRequests: 100,
				HTTP2MaxRequests: 1000, MaxRequestsPerConnection: 10, MaxRetries: 3, IdleTimeout: ms(time.Minute)}},
			OutlierDetection: &istioapi.OutlierDetection{Consecutive5xxErrors: u32(0), ConsecutiveGatewayErrors: u32(5),
				Interval: ms(10 * time.Second), BaseEjectionTime: ms(30 * time.Second), MaxEjectionPercent: 50, MinHealthPercent: 10},
			TLS: &istioapi.ClientTLSSettings{Mode: "ISTIO_MUTUAL", SNI: "frontend.test.svc"},
		},
		Match: []istioapi.HTTPMatchRequest{{
			Name: "api", URI: &istioapi.StringMatch{Prefix: "/api"}, IgnoreURICase: true, Method: &istioapi.StringMatch{Exact: "GET"},
			Headers: map[string]istioapi.StringMatch{"x-present": {}, "x-tier": {Regex: "gold|silver"}}, Port: 9898,
			QueryParams: map[string]istioapi.StringMatch{"debug": {Exact: "1"}}, WithoutHeaders: map[string]istioapi.StringMatch{"x-bot": {}},
		}},
		Rewrite: &istioapi.HTTPRewrite{URI: "/"},
		Timeout: ms(30 * time.Second),
		Retries: &istioapi.HTTPRetry{Attempts: 3, PerTryTimeout: ms(time.Second), RetryOn: "gateway-error,connect-failure,refused-stream,503"},
		CorsPolicy: &istioapi.CorsPolicy{AllowOrigin: []string{"example.com"}, AllowOrigins: []istioapi.StringMatch{{Regex: `https://.*\.example\.com`}},
			AllowMethods: []string{"GET", "POST"}, AllowHeaders: []string{"x-some-header"}, MaxAge: ms(24 * time.Hour), AllowCredentials: true},
		Headers: &istioapi.Headers{Request: &istioapi.HeaderOperations{Add: map[string]string{"x-some-header": "value"}},
			Response: &istioapi.HeaderOperations{Remove: []string{"x-internal"}}},
	}
}

func TestValidServices(t *testing.T) {
	assert.NoError(t, istioapi.Service{}.Validate(), "the zero value is Flagger's default")
	assert.NoError(t, full().Validate())
	assert.Equal(t, []string{"trafficPolicy", "match", "rewrite", "timeout", "retries", "corsPolicy", "headers"}, full().IstioFields())
	assert.Empty(t, istioapi.Service{Hosts: []string{"a"}, Gateways: []string{"b"}}.IstioFields(), "hosts and gateways are not Istio-only")
	// a retry policy and header operations may be empty, as Flagger writes them
	assert.NoError(t, istioapi.Service{Retries: &istioapi.HTTPRetry{}, Headers: &istioapi.Headers{}, CorsPolicy: &istioapi.CorsPolicy{}}.Validate())
}

// Every kind of value Istio refuses is refused at its path, all at once.
func TestInvalidServices(t *testing.T) {
	for name, tc := range map[string]struct {
		edit func(*istioapi.Service)
		want []string
	}{
		"durations": {func(s *istioapi.Service) {
			s.Timeout = ms(time.Microsecond)
			s.Retries.PerTryTimeout = ms(1500 * time.Microsecond)
			s.CorsPolicy.MaxAge = ms(1500 * time.Millisecond)
			s.TrafficPolicy.OutlierDetection.Interval = ms(-time.Second)
		}, []string{
			"trafficPolicy.outlierDetection.interval: must be at least 1ms, got -1s",
			"timeout: must be at least 1ms, got 1µs",
			"retries.perTryTimeout: Istio takes whole milliseconds, got 1.5ms",
			"corsPolicy.maxAge: Istio takes whole seconds, got 1.5s",
		}},
		"enums": {func(s *istioapi.Service) {
			s.TrafficPolicy.LoadBalancer = &istioapi.LoadBalancerSettings{Simple: "FASTEST"}
			s.TrafficPolicy.ConnectionPool.HTTP.H2UpgradePolicy = "ALWAYS"
			s.TrafficPolicy.TLS.Mode = "mutual"
			s.CorsPolicy.AllowMethods = []string{"GET", "FETCH"}
		}, []string{
			`trafficPolicy.loadBalancer.simple: must be one of ROUND_ROBIN, LEAST_CONN, RANDOM, PASSTHROUGH, LEAST_REQUEST, got "FASTEST"`,
			`trafficPolicy.connectionPool.http.h2UpgradePolicy: must be one of DEFAULT, DO_NOT_UPGRADE, UPGRADE, got "ALWAYS"`,
			`trafficPolicy.tls.mode: must be one of DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL, got "mutual"`,
			`corsPolicy.allowMethods[1]: must be one of GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH, got "FETCH"`,
		}},
		"matches": {func(s *istioapi.Service) {
			s.Match[0].URI = &istioapi.StringMatch{Prefix: "/a", Regex: "/b"}
			s.Match[0].Method = &istioapi.StringMatch{}
			s.Match[0].Headers = map[string]istioapi.StringMatch{"x y": {Exact: "1"}, "x-re": {Regex: "(unclosed"}}
			s.Match[0].Port = 70000
			s.Match = append(s.Match, istioapi.HTTPMatchRequest{IgnoreURICase: true})
		}, []string{
			"match[0].uri: set one of exact, prefix and regex",
			"match[0].method: set one of exact, prefix and regex",
			`match[0].headers["x y"]: "x y" is not an HTTP header name (letters, digits, '-' and '_')`,
			"match[0].headers.x-re.regex: not an RE2 regular expression: error parsing regexp: missing closing ): `(unclosed`",
			"match[0].port: must be 1..65535, got 70000",
			"match[1].ignoreUriCase: applies to a uri match; there is none",
		}},
		"retries": {func(s *istioapi.Service) {
			s.Retries = &istioapi.HTTPRetry{Attempts: -1, RetryOn: "5xx,sometimes,600"}
		}, []string{
			"retries.attempts: must not be negative, got -1",
			`retries.retryOn: "sometimes" is neither a retry condition (` + "5xx, gateway-error, reset, reset-before-request, connect-failure, envoy-ratelimited, retriable-4xx, refused-stream, retriable-status-codes, retriable-headers, http3-post-connect-failure, cancelled, deadline-exceeded, internal, resource-exhausted, unavailable" + `) nor an HTTP status code`,
			`retries.retryOn: "600" is neither a retry condition (` + "5xx, gateway-error, reset, reset-before-request, connect-failure, envoy-ratelimited, retriable-4xx, refused-stream, retriable-status-codes, retriable-headers, http3-post-connect-failure, cancelled, deadline-exceeded, internal, resource-exhausted, unavailable" + `) nor an HTTP status code`,
		}},
		"empty rewrite and traffic policy": {func(s *istioapi.Service) {
			s.Rewrite = &istioapi.HTTPRewrite{}
			s.TrafficPolicy = &istioapi.TrafficPolicy{}
		}, []string{
			"trafficPolicy: set at least one of loadBalancer, connectionPool, outlierDetection and tls, or leave it out (Istio refuses an empty traffic policy)",
			"rewrite: must set uri or authority (Istio refuses an empty rewrite)",
		}},
		"tls": {func(s *istioapi.Service) {
			s.TrafficPolicy.TLS = &istioapi.ClientTLSSettings{Mode: "MUTUAL"}
		}, []string{
			"trafficPolicy.tls.clientCertificate: required with mode MUTUAL",
			"trafficPolicy.tls.privateKey: required with mode MUTUAL",
		}},
		"tls mode": {func(s *istioapi.Service) {
			s.TrafficPolicy.TLS = &istioapi.ClientTLSSettings{CaCertificates: "/etc/ca.pem"}
		}, []string{"trafficPolicy.tls.mode: required: one of DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL"}},
		"load balancer": {func(s *istioapi.Service) {
			lb := s.TrafficPolicy.LoadBalancer
			lb.Simple = "RANDOM"
			lb.ConsistentHash = &istioapi.ConsistentHashLB{UseSourceIP: true, HTTPHeaderName: "x-user"}
			lb.LocalityLbSetting.Distribute[0].To["us/*"] = 30
			lb.LocalityLbSetting.Failover = []istioapi.LocalityFailover{{From: "eu", To: "eu"}}
		}, []string{
			"trafficPolicy.loadBalancer: set simple or consistentHash, not both",
			"trafficPolicy.loadBalancer.consistentHash: set one of httpHeaderName, httpCookie, useSourceIp and httpQueryParameterName",
			"trafficPolicy.loadBalancer.localityLbSetting: set distribute or failover, not both",
			"trafficPolicy.loadBalancer.localityLbSetting.distribute[0].to: weights must sum to 100, got 110",
			`trafficPolicy.loadBalancer.localityLbSetting.failover[0]: from and to are the same region "eu"`,
		}},
		"headers": {func(s *istioapi.Service) {
			s.Headers.Request.Set = map[string]string{"": "x", "x-ok": "a\r\nInjected: yes"}
			s.Headers.Response.Remove = []string{":status"}
			s.CorsPolicy.AllowHeaders = []string{"x y"}
		}, []string{
			`corsPolicy.allowHeaders[0]: "x y" is not an HTTP header name (letters, digits, '-' and '_')`,
			`headers.request.set[""]: header name must not be empty`,
			"headers.request.set.x-ok: must not hold control characters",
			`headers.response.remove[0]: ":status" is not an HTTP header name (letters, digits, '-' and '_')`,
		}},
		"percentages and counts": {func(s *istioapi.Service) {
			s.TrafficPolicy.OutlierDetection.MaxEjectionPercent = 101
			s.TrafficPolicy.ConnectionPool.HTTP.MaxRetries = -1
			s.TrafficPolicy.ConnectionPool.TCP = &istioapi.TCPSettings{MaxConnections: -1, ConnectTimeout: ms(time.Microsecond)}
		}, []string{
			"trafficPolicy.connectionPool.tcp.maxConnections: must not be negative, got -1",
			"trafficPolicy.connectionPool.tcp.connectTimeout: must be at least 1ms, got 1µs",
			"trafficPolicy.connectionPool.http.maxRetries: must not be negative, got -1",
			"trafficPolicy.outlierDetection.maxEjectionPercent: must be 0..100 (percent), got 101",
		}},
		"hosts and gateways": {func(s *istioapi.Service) {
			s.Hosts = []string{"a", "", "a"}
			s.Gateways = []string{strings.Repeat("g", 254)}
		}, []string{
			"hosts[1]: want 1 to 253 characters, got 0",
			`hosts[2]: "a" is listed twice`,
			"gateways[0]: want 1 to 253 characters, got 254",
		}},
	} {
		t.Run(name, func(t *testing.T) {
			s := full()
			tc.edit(&s)
			var got []string
			for _, p := range s.Problems() {
				got = append(got, p.Error())
			}
			assert.Equal(t, tc.want, got)
			assert.ErrorIs(t, s.Validate(), canary.ErrInvalidSpec)
		})
	}
}

// Lists, mappings and strings are bounded: a manifest is untrusted.
func TestServiceBounds(t *testing.T) {
	s := istioapi.Service{Match: make([]istioapi.HTTPMatchRequest, istioapi.MaxItems+1)}
	assert.EqualError(t, s.Validate(), "invalid Istio service: match: at most 64, got 65")

	headers := map[string]string{}
	for i := range istioapi.MaxItems + 1 {
		headers["x-h"+strings.Repeat("a", i)] = "v"
	}
	s = istioapi.Service{Headers: &istioapi.Headers{Request: &istioapi.HeaderOperations{Add: headers}}}
	assert.EqualError(t, s.Validate(), "invalid Istio service: headers.request.add: at most 64, got 65")

	s = istioapi.Service{Rewrite: &istioapi.HTTPRewrite{URI: "/" + strings.Repeat("a", istioapi.MaxValueLen)}}
	assert.EqualError(t, s.Validate(), "invalid Istio service: rewrite.uri: at most 1024 bytes, got 1025")

	s = istioapi.Service{Match: []istioapi.HTTPMatchRequest{{URI: &istioapi.StringMatch{Regex: strings.Repeat("a", istioapi.MaxValueLen+1)}}}}
	assert.EqualError(t, s.Validate(), "invalid Istio service: match[0].uri.regex: at most 1024 bytes, got 1025")
}

// Durations are written the way Flagger's users write them, and read in Go's syntax as Istio
// reads them.
func TestDuration(t *testing.T) {
	for in, want := range map[string]string{"1s": "1s", "24h": "24h", "90s": "90s", "1m30s": "90s", "1500ms": "1500ms", "60m": "1h", "2.5s": "2500ms"} {
		d, err := istioapi.ParseDuration(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, d.String(), in)
		b, err := json.Marshal(d)
		require.NoError(t, err)
		assert.JSONEq(t, `"`+want+`"`, string(b))
		var back istioapi.Duration
		require.NoError(t, json.Unmarshal(b, &back))
		assert.Equal(t, d, back)
	}
	for _, bad := range []string{"", "10", "1d", "s", "-"} {
		_, err := istioapi.ParseDuration(bad)
		assert.Error(t, err, bad)
	}
	var d istioapi.Duration
	assert.Error(t, json.Unmarshal([]byte(`"soon"`), &d))
	assert.Error(t, json.Unmarshal([]byte(`5`), &d))
}

// A regular expression is bounded by what it compiles to, not only by its length: 1 KiB of
// \pL{999} compiles to over 100,000 instructions (100 ms each time it is checked; Envoy
// refuses such a program).
func TestRegexSizeBound(t *testing.T) {
	huge := strings.Repeat(`\pL{999}`, 128)[:istioapi.MaxValueLen]
	s := istioapi.Service{Match: []istioapi.HTTPMatchRequest{{URI: &istioapi.StringMatch{Regex: huge}}},
		CorsPolicy: &istioapi.CorsPolicy{AllowOrigins: []istioapi.StringMatch{{Regex: `[a-z]{999}[a-z]{999}`}}}}
	var got []string
	for _, p := range s.Problems() {
		got = append(got, p.Error())
	}
	assert.Equal(t, []string{
		"match[0].uri.regex: too complex: compiles to more than 1000 instructions",
		"corsPolicy.allowOrigins[0].regex: too complex: compiles to more than 1000 instructions",
	}, got)
	s = istioapi.Service{Match: []istioapi.HTTPMatchRequest{{URI: &istioapi.StringMatch{Regex: `^(.*?;)?(type=insider)(;.*)?$|[a-z]{1,64}\.example\.com`}}}}
	assert.NoError(t, s.Validate())
}

// A TCP service keeps what a TCP route can carry (the ports of its match conditions, its
// hosts, gateways and traffic policy) and refuses, by path, the HTTP routes' fields, which
// Flagger drops for a TCP service.
func TestTCPServiceRefusesHTTPFields(t *testing.T) {
	tcp := istioapi.Service{TCP: true, Hosts: []string{"db.example.com"}, TrafficPolicy: full().TrafficPolicy,
		Match: []istioapi.HTTPMatchRequest{{Port: 5432}, {Port: 6432}}}
	assert.NoError(t, tcp.Validate())

	all := full()
	all.TCP = true
	var fields []string
	for _, p := range all.Problems() {
		fields = append(fields, p.Field)
		assert.Contains(t, p.Message, "TCP")
	}
	assert.Equal(t, []string{"rewrite", "timeout", "retries", "corsPolicy", "headers",
		"match[0].name", "match[0].uri", "match[0].method", "match[0].headers", "match[0].queryParams", "match[0].ignoreUriCase", "match[0].withoutHeaders"}, fields)

	noPort := istioapi.Service{TCP: true, Match: []istioapi.HTTPMatchRequest{{SourceNamespace: "front"}}}
	err := noPort.Validate()
	require.Error(t, err)
	assert.ErrorContains(t, err, "match[0].port: required for a TCP service")
	assert.ErrorContains(t, err, "match[0].sourceNamespace: a TCP route matches by port only")
}

func TestMatchFields(t *testing.T) {
	assert.Empty(t, istioapi.HTTPMatchRequest{}.Fields())
	assert.Equal(t, []string{"name", "uri", "method", "headers", "port", "queryParams", "ignoreUriCase", "withoutHeaders"}, full().Match[0].Fields())
	assert.Equal(t, []string{"scheme", "authority", "sourceLabels", "sourceNamespace"}, istioapi.HTTPMatchRequest{
		Scheme: &istioapi.StringMatch{Exact: "https"}, Authority: &istioapi.StringMatch{Exact: "a"},
		SourceLabels: map[string]string{"app": "front"}, SourceNamespace: "front"}.Fields())
}
