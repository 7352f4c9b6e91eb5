package gatewayapi

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/textcut"
	"github.com/canarykit/canarykit/mesh/istioapi"
)

// Path modifier types: how an HTTPRoute's URLRewrite filter rewrites the path (Flagger's
// spec.service.rewrite.type; its default is ReplaceFullPath).
const (
	ReplaceFullPath    = "ReplaceFullPath"
	ReplacePrefixMatch = "ReplacePrefixMatch"
)

// Bounds of Gateway API v1.4's HTTPRoute CRD that a Canary's spec.service reaches.
const (
	// MaxMatches is the most matches one rule holds.
	MaxMatches = 64
	// MaxMatchItems is the most header or query parameter matches one match holds.
	MaxMatchItems = 16
	// MaxHeaderOps is the most headers a header modifier sets, adds or removes, each.
	MaxHeaderOps = 16
	// MaxPathLen bounds a path match's value and a rewritten path.
	MaxPathLen = 1024
)

// Methods are the HTTP methods an HTTPRouteMatch may name.
var Methods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}

// Service is what an HTTPRoute carries of a Canary's spec.service besides its parents,
// hostnames and timeouts, as Flagger's Gateway API router writes it, in the Istio types the
// Canary's schema gives them (mesh/istioapi):
//   - Match: each rule's matches (the path, method, headers and query parameters a request
//     must have); with A/B testing, each analysis match is merged into each of them;
//   - Headers: a RequestHeaderModifier and a ResponseHeaderModifier filter on each rule;
//   - Rewrite: a URLRewrite filter on each rule, its uri the path (RewriteType
//     ReplaceFullPath, the default) or the matched prefix's replacement (ReplacePrefixMatch),
//     its authority the Host;
//   - Mirror: a RequestMirror filter on each rule per entry (spec.service.mirror, Flagger's
//     Gateway API type), copying every request to that Service;
//   - CORS: a CORS filter on each rule (spec.service.corsPolicy): Gateway API's experimental
//     channel has it, its standard channel (up to v1.4 at least) refuses it.
type Service struct {
	Match       []istioapi.HTTPMatchRequest
	Headers     *istioapi.Headers
	Rewrite     *istioapi.HTTPRewrite
	RewriteType string
	Mirror      []Mirror
	CORS        *istioapi.CorsPolicy
}

// IsZero reports whether s sets nothing.
func (s Service) IsZero() bool {
	return len(s.Match) == 0 && s.Headers == nil && s.Rewrite == nil && s.RewriteType == "" && len(s.Mirror) == 0 && s.CORS == nil
}

// Problems is what Gateway API cannot express of s, or its HTTPRoute CRD refuses, at paths
// relative to the service (a Flagger Canary's spec.service): Istio match fields an
// HTTPRouteMatch lacks (scheme, authority, port, ignoreUriCase, withoutHeaders, sourceLabels,
// sourceNamespace), a path that is not an absolute path of the characters Gateway API allows,
// a method match that is not one exact method, a presence-only header or query parameter
// match, a list over the CRD's bounds, a rewrite authority that is not a hostname,
// ReplacePrefixMatch with other than one path prefix match, a mirror that is not a core
// Service with a name and port (or is listed twice, or beyond MaxMirrors), and a CORS policy a
// CORS filter cannot carry (an allowOrigins prefix or regular expression, an origin that is
// not scheme://host[:port] or a lone '*', an entry listed twice). It assumes s passed Istio's
// checks (istioapi.Service.Problems, the CORS policy included): header names, methods, RE2
// regular expressions and string bounds are those checks'. MirrorConflicts checks the mirrors
// against a target's Services.
func (s Service) Problems() []canary.FieldError {
	c := &checker{}
	if len(s.Match) > MaxMatches {
		c.add("match", "at most %d for an HTTPRoute rule, got %d", MaxMatches, len(s.Match))
	}
	for i, m := range s.Match {
		c.match(fmt.Sprintf("match[%d]", i), m)
	}
	if h := s.Headers; h != nil {
		c.headerOps("headers.request", h.Request)
		c.headerOps("headers.response", h.Response)
	}
	c.rewrite(s)
	c.mirrors(s.Mirror)
	c.cors(s.CORS)
	return c.problems
}

type checker struct{ problems []canary.FieldError }

func (c *checker) add(field, format string, args ...any) {
	c.problems = append(c.problems, canary.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// routeMatchFields are the fields of an Istio match an HTTPRouteMatch has (name is only a
// label, which an HTTPRoute rule does not carry).
var routeMatchFields = []string{"name", "uri", "method", "headers", "queryParams"}

func (c *checker) match(field string, m istioapi.HTTPMatchRequest) {
	for _, f := range m.Fields() {
		if !slices.Contains(routeMatchFields, f) {
			c.add(field+"."+f, "Gateway API's HTTPRouteMatch has no %s (an HTTPRoute matches the path, method, headers and query parameters)", f)
		}
	}
	if u := m.URI; u != nil {
		switch {
		case u.Exact != "":
			c.path(field+".uri.exact", u.Exact)
		case u.Prefix != "":
			c.path(field+".uri.prefix", u.Prefix)
		case u.Regex != "":
			if len(u.Regex) > MaxPathLen {
				c.add(field+".uri.regex", "at most %d bytes, got %d", MaxPathLen, len(u.Regex))
			}
		default:
			c.add(field+".uri", "set exact, prefix or regex: Gateway API matches a path's value")
		}
	}
	if mm := m.Method; mm != nil && (mm.Exact == "" || !slices.Contains(Methods, mm.Exact)) {
		c.add(field+".method", "Gateway API matches one method exactly: want exact, one of %s", strings.Join(Methods, ", "))
	}
	c.values(field+".headers", m.Headers)
	c.values(field+".queryParams", m.QueryParams)
}

// values checks a header or query parameter mapping: Gateway API matches a value (exact or
// a regular expression; a prefix is written as an anchored one), not a presence.
func (c *checker) values(field string, m map[string]istioapi.StringMatch) {
	if len(m) > MaxMatchItems {
		c.add(field, "at most %d in a Gateway API match, got %d", MaxMatchItems, len(m))
		return
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if v := m[k]; v.Exact == "" && v.Prefix == "" && v.Regex == "" {
			c.add(canary.FieldPath(field, k), "set exact, prefix or regex: Gateway API matches a value, not a presence")
		}
	}
}

// pathChars are the characters Gateway API allows in an Exact or PathPrefix path.
var pathChars = regexp.MustCompile(`^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|%[0-9a-fA-F]{2})+$`)

// path checks an Exact or PathPrefix path match's value as the HTTPRoute CRD does.
func (c *checker) path(field, p string) {
	switch {
	case len(p) > MaxPathLen:
		c.add(field, "at most %d bytes, got %d", MaxPathLen, len(p))
	case !strings.HasPrefix(p, "/"):
		c.add(field, "%s is not an absolute path: it must start with '/'", quote(p))
	case !pathChars.MatchString(p):
		c.add(field, "%s has characters Gateway API does not allow in a path (letters, digits, -._~!$&'()*+,;=:@/ and %%-escapes)", quote(p))
	default:
		for _, bad := range []string{"//", "/./", "/../", "%2f", "%2F", "#"} {
			if strings.Contains(p, bad) {
				c.add(field, "%s must not contain %q", quote(p), bad)
				return
			}
		}
		if strings.HasSuffix(p, "/..") || strings.HasSuffix(p, "/.") {
			c.add(field, "%s must not end with /.. or /.", quote(p))
		}
	}
}

func (c *checker) headerOps(field string, ops *istioapi.HeaderOperations) {
	if ops == nil {
		return
	}
	for _, f := range []struct {
		key   string
		names []string
	}{{"set", slices.Sorted(maps.Keys(ops.Set))}, {"add", slices.Sorted(maps.Keys(ops.Add))}, {"remove", ops.Remove}} {
		at := field + "." + f.key
		if len(f.names) > MaxHeaderOps {
			c.add(at, "at most %d in a Gateway API header modifier, got %d", MaxHeaderOps, len(f.names))
			continue
		}
		seen := map[string]bool{}
		for _, n := range f.names {
			if seen[strings.ToLower(n)] {
				c.add(at, "%s is listed twice (header names are case-insensitive)", quote(n))
			}
			seen[strings.ToLower(n)] = true
		}
	}
}

func (c *checker) rewrite(s Service) {
	if s.RewriteType != "" && s.RewriteType != ReplaceFullPath && s.RewriteType != ReplacePrefixMatch {
		c.add("rewrite.type", "want %s or %s, got %s", ReplaceFullPath, ReplacePrefixMatch, quote(s.RewriteType))
	}
	r := s.Rewrite
	if r == nil {
		if s.RewriteType != "" {
			c.add("rewrite.type", "there is no rewrite uri for it to apply to")
		}
		return
	}
	if r.Authority != "" && !canary.IsDNSSubdomain(r.Authority) {
		c.add("rewrite.authority", "%s is not a hostname (Gateway API rewrites the Host to a lowercase RFC 1123 DNS name)", quote(r.Authority))
	}
	if r.URI == "" {
		if s.RewriteType != "" {
			c.add("rewrite.type", "there is no rewrite uri for it to apply to")
		}
		return
	}
	if len(r.URI) > MaxPathLen {
		c.add("rewrite.uri", "at most %d bytes, got %d", MaxPathLen, len(r.URI))
	} else if !strings.HasPrefix(r.URI, "/") {
		c.add("rewrite.uri", "%s is not an absolute path: it must start with '/'", quote(r.URI))
	}
	if s.RewriteType != ReplacePrefixMatch {
		return
	}
	// Gateway API replaces a prefix only in a rule with exactly one PathPrefix match
	switch {
	case len(s.Match) > 1:
		c.add("rewrite.type", "ReplacePrefixMatch needs a route with one path prefix match, and match has %d", len(s.Match))
	case len(s.Match) == 1 && s.Match[0].URI != nil && s.Match[0].URI.Prefix == "":
		c.add("rewrite.type", "ReplacePrefixMatch needs a path prefix match, and match[0].uri is not a prefix")
	}
}

// quote quotes a value for a message, cut short.
func quote(s string) string { return textcut.Quote(s, maxShown) }
