package istioapi

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/canarykit/canarykit/canary"
)

// Bounds on what a Service may hold: a manifest is untrusted, and Istio's own objects are
// bounded by the API server's request size.
const (
	// MaxItems bounds every list and mapping (hosts, gateways, match conditions, headers, ...).
	MaxItems = 64
	// MaxNameLen bounds hosts, gateways and header names.
	MaxNameLen = 253
	// MaxValueLen bounds every other string (header values, regular expressions, URIs).
	MaxValueLen = 1024
)

// Validate checks s as Istio's validation would (durations of at least 1ms in whole
// milliseconds, known enums, RE2 regular expressions, header names, retry conditions, TLS
// settings) and within the bounds above, reporting every problem at its path (e.g.
// "retries.perTryTimeout"). The error is a *canary.ValidationError wrapping
// canary.ErrInvalidSpec.
func (s Service) Validate() error {
	if p := s.Problems(); len(p) > 0 {
		return &canary.ValidationError{Subject: "Istio service", Problems: p}
	}
	return nil
}

// Problems is Validate's list, with paths relative to the service (a Flagger Canary's
// spec.service).
func (s Service) Problems() []canary.FieldError {
	c := &checker{}
	c.names("hosts", s.Hosts)
	c.names("gateways", s.Gateways)
	if s.Delegation && (len(s.Hosts) > 0 || len(s.Gateways) > 0) {
		c.add("delegation", "a delegate VirtualService has no hosts and no gateways (its root VirtualService has them): remove hosts and gateways")
	}
	if s.TrafficPolicy != nil {
		c.trafficPolicy("trafficPolicy", *s.TrafficPolicy)
	}
	if c.count("match", len(s.Match)) {
		for i, m := range s.Match {
			c.match(fmt.Sprintf("match[%d]", i), m)
		}
	}
	if r := s.Rewrite; r != nil {
		if r.URI == "" && r.Authority == "" {
			c.add("rewrite", "must set uri or authority (Istio refuses an empty rewrite)")
		}
		c.value("rewrite.uri", r.URI)
		c.value("rewrite.authority", r.Authority)
	}
	c.duration("timeout", s.Timeout, time.Millisecond)
	if r := s.Retries; r != nil {
		c.retries("retries", *r)
	}
	if p := s.CorsPolicy; p != nil {
		c.cors("corsPolicy", *p)
	}
	if h := s.Headers; h != nil {
		c.headerOps("headers.request", h.Request)
		c.headerOps("headers.response", h.Response)
	}
	if s.TCP {
		c.tcp(s)
	}
	return c.problems
}

// tcp refuses what a TCP route cannot carry: the HTTP routes' fields, and match conditions
// on anything but the port (Istio's L4 match of a TCP route has no HTTP attributes; Flagger
// writes the port only and drops the rest).
func (c *checker) tcp(s Service) {
	const why = "a TCP service (appProtocol tcp) is routed by a TCP route, which has no %s; remove it"
	for _, f := range []named[bool]{{"rewrite", s.Rewrite != nil}, {"timeout", s.Timeout != 0}, {"retries", s.Retries != nil},
		{"corsPolicy", s.CorsPolicy != nil}, {"headers", s.Headers != nil}} {
		if f.v {
			c.add(f.key, why, f.key)
		}
	}
	for i, m := range s.Match {
		at := fmt.Sprintf("match[%d]", i)
		if m.Port == 0 {
			c.add(at+".port", "required for a TCP service: a TCP route matches by port only")
		}
		for _, f := range m.Fields() {
			if f != "port" {
				c.add(at+"."+f, "a TCP route matches by port only; remove it")
			}
		}
	}
}

type checker struct{ problems []canary.FieldError }

// named is a field's key and value, for checks over several fields in order.
type named[T any] struct {
	key string
	v   T
}

func (c *checker) add(field, format string, args ...any) {
	c.problems = append(c.problems, canary.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// count reports whether n items fit in MaxItems, and a problem when they do not.
func (c *checker) count(field string, n int) bool {
	if n > MaxItems {
		c.add(field, "at most %d, got %d", MaxItems, n)
		return false
	}
	return true
}

// value checks a string's length and that it holds no control characters (Envoy refuses
// them in headers).
func (c *checker) value(field, s string) {
	switch {
	case len(s) > MaxValueLen:
		c.add(field, "at most %d bytes, got %d", MaxValueLen, len(s))
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }):
		c.add(field, "must not hold control characters")
	}
}

// names checks a list of distinct names (hosts, gateways).
func (c *checker) names(field string, list []string) {
	if !c.count(field, len(list)) {
		return
	}
	for i, s := range list {
		at := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case s == "" || len(s) > MaxNameLen:
			c.add(at, "want 1 to %d characters, got %d", MaxNameLen, len(s))
		case slices.Contains(list[:i], s):
			c.add(at, "%q is listed twice", cut(s))
		}
	}
}

// durations as Istio validates them: at least min (1ms), in whole milliseconds.
func (c *checker) duration(field string, d Duration, min time.Duration) {
	td := time.Duration(d)
	switch {
	case td == 0:
	case td < min:
		c.add(field, "must be at least %s, got %s", Duration(min), td)
	case td%time.Millisecond != 0:
		c.add(field, "Istio takes whole milliseconds, got %s", td)
	}
}

// headerName is an HTTP header name as Istio accepts it.
var headerName = regexp.MustCompile(`^[-_A-Za-z0-9]+$`)

func (c *checker) headerName(field, name string) {
	switch {
	case name == "":
		c.add(field, "header name must not be empty")
	case len(name) > MaxNameLen:
		c.add(field, "header name: at most %d bytes, got %d", MaxNameLen, len(name))
	case !headerName.MatchString(name):
		c.add(field, "%q is not an HTTP header name (letters, digits, '-' and '_')", cut(name))
	}
}

// stringMatch checks a StringMatch; presence (all empty) is allowed where a header or query
// parameter is matched.
func (c *checker) stringMatch(field string, m StringMatch, presence bool) {
	set := 0
	for _, v := range []string{m.Exact, m.Prefix, m.Regex} {
		if v != "" {
			set++
		}
	}
	switch {
	case set > 1:
		c.add(field, "set one of exact, prefix and regex")
	case set == 0 && !presence:
		c.add(field, "set one of exact, prefix and regex")
	}
	c.value(field+".exact", m.Exact)
	c.value(field+".prefix", m.Prefix)
	c.value(field+".regex", m.Regex)
	if m.Regex != "" && len(m.Regex) <= MaxValueLen {
		if err := canary.CheckRegex(m.Regex); err != nil {
			c.add(field+".regex", "%v", err)
		}
	}
}

// matchMap checks a header, query parameter or withoutHeaders mapping.
func (c *checker) matchMap(field string, m map[string]StringMatch, headers bool) {
	if !c.count(field, len(m)) {
		return
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		at := canary.FieldPath(field, k)
		if headers {
			c.headerName(at, k)
		} else if k == "" || len(k) > MaxNameLen {
			c.add(at, "query parameter name: want 1 to %d bytes, got %d", MaxNameLen, len(k))
		}
		c.stringMatch(at, m[k], true)
	}
}

func (c *checker) match(field string, m HTTPMatchRequest) {
	c.value(field+".name", m.Name)
	for _, sm := range []struct {
		key string
		m   *StringMatch
	}{{"uri", m.URI}, {"scheme", m.Scheme}, {"method", m.Method}, {"authority", m.Authority}} {
		if sm.m != nil {
			c.stringMatch(field+"."+sm.key, *sm.m, false)
		}
	}
	c.matchMap(field+".headers", m.Headers, true)
	c.matchMap(field+".queryParams", m.QueryParams, false)
	c.matchMap(field+".withoutHeaders", m.WithoutHeaders, true)
	if m.Port > 65535 {
		c.add(field+".port", "must be 1..65535, got %d", m.Port)
	}
	if m.IgnoreURICase && m.URI == nil {
		c.add(field+".ignoreUriCase", "applies to a uri match; there is none")
	}
	if c.count(field+".sourceLabels", len(m.SourceLabels)) {
		for _, k := range slices.Sorted(maps.Keys(m.SourceLabels)) {
			at := canary.FieldPath(field+".sourceLabels", k)
			if k == "" || len(k) > MaxNameLen {
				c.add(at, "label name: want 1 to %d bytes, got %d", MaxNameLen, len(k))
			}
			c.value(at, m.SourceLabels[k])
		}
	}
	c.value(field+".sourceNamespace", m.SourceNamespace)
}

// retryOn are the retry conditions Istio accepts besides HTTP status codes: Envoy's
// x-envoy-retry-on and x-envoy-retry-grpc-on policies.
var retryOn = []string{"5xx", "gateway-error", "reset", "reset-before-request", "connect-failure", "envoy-ratelimited",
	"retriable-4xx", "refused-stream", "retriable-status-codes", "retriable-headers", "http3-post-connect-failure",
	"cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable"}

func (c *checker) retries(field string, r HTTPRetry) {
	if r.Attempts < 0 {
		c.add(field+".attempts", "must not be negative, got %d", r.Attempts)
	}
	c.duration(field+".perTryTimeout", r.PerTryTimeout, time.Millisecond)
	if len(r.RetryOn) > MaxValueLen {
		c.add(field+".retryOn", "at most %d bytes, got %d", MaxValueLen, len(r.RetryOn))
		return
	}
	if r.RetryOn == "" {
		return
	}
	for _, p := range strings.Split(r.RetryOn, ",") {
		p = strings.TrimSpace(p)
		if slices.Contains(retryOn, p) {
			continue
		}
		if code, err := strconv.Atoi(p); err == nil && code >= 100 && code <= 599 {
			continue
		}
		c.add(field+".retryOn", "%q is neither a retry condition (%s) nor an HTTP status code", cut(p), strings.Join(retryOn, ", "))
	}
}

// httpMethods are the methods Istio's CORS validation accepts.
var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}

func (c *checker) cors(field string, p CorsPolicy) {
	if c.count(field+".allowOrigin", len(p.AllowOrigin)) {
		for i, o := range p.AllowOrigin {
			at := fmt.Sprintf("%s.allowOrigin[%d]", field, i)
			if o == "" {
				c.add(at, "must not be empty")
			}
			c.value(at, o)
		}
	}
	if c.count(field+".allowOrigins", len(p.AllowOrigins)) {
		for i, o := range p.AllowOrigins {
			c.stringMatch(fmt.Sprintf("%s.allowOrigins[%d]", field, i), o, false)
		}
	}
	if c.count(field+".allowMethods", len(p.AllowMethods)) {
		for i, m := range p.AllowMethods {
			if !slices.Contains(httpMethods, m) {
				c.add(fmt.Sprintf("%s.allowMethods[%d]", field, i), "must be one of %s, got %q", strings.Join(httpMethods, ", "), cut(m))
			}
		}
	}
	for _, f := range []named[[]string]{{"allowHeaders", p.AllowHeaders}, {"exposeHeaders", p.ExposeHeaders}} {
		if c.count(field+"."+f.key, len(f.v)) {
			for i, h := range f.v {
				c.headerName(fmt.Sprintf("%s.%s[%d]", field, f.key, i), h)
			}
		}
	}
	c.duration(field+".maxAge", p.MaxAge, time.Millisecond)
	if p.MaxAge%Duration(time.Second) != 0 {
		c.add(field+".maxAge", "Istio takes whole seconds, got %s", time.Duration(p.MaxAge))
	}
}

func (c *checker) headerOps(field string, ops *HeaderOperations) {
	if ops == nil {
		return
	}
	for _, f := range []named[map[string]string]{{"set", ops.Set}, {"add", ops.Add}} {
		at := field + "." + f.key
		if !c.count(at, len(f.v)) {
			continue
		}
		for _, name := range slices.Sorted(maps.Keys(f.v)) {
			c.headerName(canary.FieldPath(at, name), name)
			c.value(canary.FieldPath(at, name), f.v[name])
		}
	}
	if c.count(field+".remove", len(ops.Remove)) {
		for i, name := range ops.Remove {
			c.headerName(fmt.Sprintf("%s.remove[%d]", field, i), name)
		}
	}
}
