package istioapi

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/canarykit/canarykit/internal/textcut"
)

// Service is what a target's Istio route objects carry besides their names and weights: a
// Flagger Canary's spec.service hosts, gateways and Istio fields. The zero value is Flagger's
// default (hosts: the apex service; gateways: mesh; nothing else).
type Service struct {
	// Hosts are the VirtualService's hosts besides the apex service (which is added unless
	// listed, or "*" is).
	Hosts []string
	// Gateways are the Istio Gateways the VirtualService binds to; none means "mesh" (the
	// sidecars). List "mesh" with Gateways to serve both.
	Gateways []string
	// Delegation makes the VirtualService a delegate: no hosts and no gateways, for a root
	// VirtualService (the user's) to delegate routes to (Istio's
	// PILOT_ENABLE_VIRTUAL_SERVICE_DELEGATE). Hosts and Gateways must then be empty.
	Delegation bool
	// TrafficPolicy is both DestinationRules' (the primary's and the canary's).
	TrafficPolicy *TrafficPolicy
	// Match are the HTTP routes' match conditions. With an A/B analysis the canary's route
	// matches each of them with each analysis match's headers, and the primary's route these.
	Match []HTTPMatchRequest
	// Rewrite, Timeout, Retries, CorsPolicy and Headers are set on every HTTP route.
	Rewrite    *HTTPRewrite
	Timeout    Duration
	Retries    *HTTPRetry
	CorsPolicy *CorsPolicy
	Headers    *Headers
	// TCP routes the service's traffic with one TCP route instead of HTTP routes, as Flagger
	// does for a Canary whose spec.service.appProtocol is "tcp": the weighted destinations,
	// matching the ports of Match (a TCP route matches by port only). The HTTP routes' fields
	// (Rewrite, Timeout, Retries, CorsPolicy, Headers, and Match conditions other than port)
	// are refused with it, where Flagger drops them.
	TCP bool
}

// IstioFields names the fields s sets besides hosts and gateways, as a Flagger Canary's
// spec.service names them (delegation, trafficPolicy, match, rewrite, timeout, retries,
// corsPolicy, headers): what only an Istio router writes.
func (s Service) IstioFields() []string {
	var out []string
	for _, f := range []struct {
		name string
		set  bool
	}{{"delegation", s.Delegation}, {"trafficPolicy", s.TrafficPolicy != nil}, {"match", len(s.Match) > 0}, {"rewrite", s.Rewrite != nil},
		{"timeout", s.Timeout != 0}, {"retries", s.Retries != nil}, {"corsPolicy", s.CorsPolicy != nil}, {"headers", s.Headers != nil}} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}

// StringMatch is Istio's StringMatch: at most one of exact, prefix and regex (RE2, matched
// against the whole value). Empty, it matches the presence of a header or query parameter.
type StringMatch struct {
	Exact  string `json:"exact,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	Regex  string `json:"regex,omitempty"`
}

// HTTPMatchRequest is the part of Istio's HTTPMatchRequest a Flagger Canary carries.
type HTTPMatchRequest struct {
	Name            string                 `json:"name,omitempty"`
	URI             *StringMatch           `json:"uri,omitempty"`
	Scheme          *StringMatch           `json:"scheme,omitempty"`
	Method          *StringMatch           `json:"method,omitempty"`
	Authority       *StringMatch           `json:"authority,omitempty"`
	Headers         map[string]StringMatch `json:"headers,omitempty"`
	Port            uint32                 `json:"port,omitempty"`
	QueryParams     map[string]StringMatch `json:"queryParams,omitempty"`
	IgnoreURICase   bool                   `json:"ignoreUriCase,omitempty"`
	WithoutHeaders  map[string]StringMatch `json:"withoutHeaders,omitempty"`
	SourceLabels    map[string]string      `json:"sourceLabels,omitempty"`
	SourceNamespace string                 `json:"sourceNamespace,omitempty"`
}

// Fields names the conditions m sets, as a Flagger Canary names them (name, uri, scheme,
// method, authority, headers, port, queryParams, ignoreUriCase, withoutHeaders, sourceLabels,
// sourceNamespace), in that order (canary.Match.Fields is the engine's match's).
func (m HTTPMatchRequest) Fields() []string {
	var out []string
	for _, f := range []struct {
		name string
		set  bool
	}{{"name", m.Name != ""}, {"uri", m.URI != nil}, {"scheme", m.Scheme != nil}, {"method", m.Method != nil}, {"authority", m.Authority != nil},
		{"headers", len(m.Headers) > 0}, {"port", m.Port != 0}, {"queryParams", len(m.QueryParams) > 0}, {"ignoreUriCase", m.IgnoreURICase},
		{"withoutHeaders", len(m.WithoutHeaders) > 0}, {"sourceLabels", len(m.SourceLabels) > 0}, {"sourceNamespace", m.SourceNamespace != ""}} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}

// HTTPRewrite rewrites the path (or the matched prefix) and the authority.
type HTTPRewrite struct {
	URI       string `json:"uri,omitempty"`
	Authority string `json:"authority,omitempty"`
}

// HTTPRetry is a route's retry policy. Attempts is always written, as Flagger writes it: 0
// disables retries.
type HTTPRetry struct {
	Attempts              int32    `json:"attempts"`
	PerTryTimeout         Duration `json:"perTryTimeout,omitempty"`
	RetryOn               string   `json:"retryOn,omitempty"`
	RetryRemoteLocalities bool     `json:"retryRemoteLocalities,omitempty"`
}

// CorsPolicy is a route's CORS policy. AllowOrigin is Istio's deprecated list of exact
// origins (Flagger's documentation uses it); AllowOrigins its successor.
type CorsPolicy struct {
	AllowOrigin      []string      `json:"allowOrigin,omitempty"`
	AllowOrigins     []StringMatch `json:"allowOrigins,omitempty"`
	AllowMethods     []string      `json:"allowMethods,omitempty"`
	AllowHeaders     []string      `json:"allowHeaders,omitempty"`
	ExposeHeaders    []string      `json:"exposeHeaders,omitempty"`
	MaxAge           Duration      `json:"maxAge,omitempty"`
	AllowCredentials bool          `json:"allowCredentials,omitempty"`
}

// Headers are header operations on requests and responses.
type Headers struct {
	Request  *HeaderOperations `json:"request,omitempty"`
	Response *HeaderOperations `json:"response,omitempty"`
}

// HeaderOperations set, add and remove headers.
type HeaderOperations struct {
	Set    map[string]string `json:"set,omitempty"`
	Add    map[string]string `json:"add,omitempty"`
	Remove []string          `json:"remove,omitempty"`
}

// TrafficPolicy is the part of a DestinationRule's traffic policy Flagger's Canary schema
// holds.
type TrafficPolicy struct {
	LoadBalancer     *LoadBalancerSettings   `json:"loadBalancer,omitempty"`
	ConnectionPool   *ConnectionPoolSettings `json:"connectionPool,omitempty"`
	OutlierDetection *OutlierDetection       `json:"outlierDetection,omitempty"`
	TLS              *ClientTLSSettings      `json:"tls,omitempty"`
}

// LoadBalancerSettings choose the load balancer: Simple or ConsistentHash, not both.
type LoadBalancerSettings struct {
	Simple             string             `json:"simple,omitempty"`
	ConsistentHash     *ConsistentHashLB  `json:"consistentHash,omitempty"`
	LocalityLbSetting  *LocalityLbSetting `json:"localityLbSetting,omitempty"`
	WarmupDurationSecs Duration           `json:"warmupDurationSecs,omitempty"`
}

// ConsistentHashLB hashes on one of a header, a cookie, the source IP or a query parameter.
type ConsistentHashLB struct {
	HTTPHeaderName         string      `json:"httpHeaderName,omitempty"`
	HTTPCookie             *HTTPCookie `json:"httpCookie,omitempty"`
	UseSourceIP            bool        `json:"useSourceIp,omitempty"`
	HTTPQueryParameterName string      `json:"httpQueryParameterName,omitempty"`
	MinimumRingSize        uint64      `json:"minimumRingSize,omitempty"`
}

// HTTPCookie is the cookie a consistent hash uses (and Envoy sets, with TTL, when missing).
// TTL is a pointer: a zero TTL asks for a session cookie, nil for no cookie to be set.
type HTTPCookie struct {
	Name string    `json:"name"`
	Path string    `json:"path,omitempty"`
	TTL  *Duration `json:"ttl,omitempty"`
}

// LocalityLbSetting is locality-weighted load balancing: Distribute or Failover, not both.
// Enabled nil leaves the mesh's setting.
type LocalityLbSetting struct {
	Distribute []LocalityDistribute `json:"distribute,omitempty"`
	Failover   []LocalityFailover   `json:"failover,omitempty"`
	Enabled    *bool                `json:"enabled,omitempty"`
}

// LocalityDistribute sends traffic from a locality to others by weight (summing to 100).
type LocalityDistribute struct {
	From string            `json:"from,omitempty"`
	To   map[string]uint32 `json:"to,omitempty"`
}

// LocalityFailover names the region traffic fails over to from another.
type LocalityFailover struct {
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

// ConnectionPoolSettings are the upstream HTTP connection pool's limits.
type ConnectionPoolSettings struct {
	TCP  *TCPSettings  `json:"tcp,omitempty"`
	HTTP *HTTPSettings `json:"http,omitempty"`
}

// TCPSettings limit TCP connections to the destination (the fields of Flagger's Canary
// schema).
type TCPSettings struct {
	MaxConnections int32    `json:"maxConnections,omitempty"`
	ConnectTimeout Duration `json:"connectTimeout,omitempty"`
}

// HTTPSettings limit HTTP connections and requests to the destination.
type HTTPSettings struct {
	H2UpgradePolicy          string   `json:"h2UpgradePolicy,omitempty"`
	HTTP1MaxPendingRequests  int32    `json:"http1MaxPendingRequests,omitempty"`
	HTTP2MaxRequests         int32    `json:"http2MaxRequests,omitempty"`
	MaxRequestsPerConnection int32    `json:"maxRequestsPerConnection,omitempty"`
	MaxRetries               int32    `json:"maxRetries,omitempty"`
	IdleTimeout              Duration `json:"idleTimeout,omitempty"`
}

// OutlierDetection ejects failing endpoints. The three error counts are pointers: 0 turns a
// check off, nil leaves Istio's default.
type OutlierDetection struct {
	Consecutive5xxErrors           *uint32  `json:"consecutive5xxErrors,omitempty"`
	ConsecutiveGatewayErrors       *uint32  `json:"consecutiveGatewayErrors,omitempty"`
	ConsecutiveLocalOriginFailures *uint32  `json:"consecutiveLocalOriginFailures,omitempty"`
	SplitExternalLocalOriginErrors bool     `json:"splitExternalLocalOriginErrors,omitempty"`
	Interval                       Duration `json:"interval,omitempty"`
	BaseEjectionTime               Duration `json:"baseEjectionTime,omitempty"`
	MaxEjectionPercent             int32    `json:"maxEjectionPercent,omitempty"`
	MinHealthPercent               int32    `json:"minHealthPercent,omitempty"`
}

// ClientTLSSettings are the TLS settings of connections to the destination. Mode is required.
type ClientTLSSettings struct {
	Mode              string   `json:"mode"`
	ClientCertificate string   `json:"clientCertificate,omitempty"`
	PrivateKey        string   `json:"privateKey,omitempty"`
	CaCertificates    string   `json:"caCertificates,omitempty"`
	SubjectAltNames   []string `json:"subjectAltNames,omitempty"`
	SNI               string   `json:"sni,omitempty"`
}

// Duration is an Istio duration: written as a string such as "1s", "500ms" or "24h" (Istio
// reads Go's duration syntax); 0 is absent.
type Duration time.Duration

// ParseDuration reads a duration in Go's syntax ("1s", "1m30s", "250ms"), as Istio does.
func ParseDuration(s string) (Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("must be a duration like 1s, 500ms or 24h, got %q", cut(s))
	}
	return Duration(d), nil
}

// String writes d in the largest whole unit of h, m, s and ms that holds it ("24h", "90s",
// "1500ms"); a duration finer than a millisecond in Go's form.
func (d Duration) String() string {
	td := time.Duration(d)
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}} {
		if td != 0 && td%u.unit == 0 {
			return strconv.FormatInt(int64(td/u.unit), 10) + u.name
		}
	}
	return td.String()
}

// MarshalJSON writes d as its String.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := ParseDuration(s)
	*d = v
	return err
}

// cut shortens s for a message.
func cut(s string) string { return strings.ToValidUTF8(textcut.Bytes(s, 64), "?") }
