package canary

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// Bounds on a Spec's A/B match conditions (Spec.Match).
const (
	// MaxMatches bounds the match conditions of an analysis.
	MaxMatches = 64
	// MaxMatchHeaders bounds the entries of one match's mappings each: its headers, query
	// parameters, headers it must lack and source labels.
	MaxMatchHeaders = 64
	// MaxHeaderNameLen bounds a header's, query parameter's or source label's name in a match
	// condition, and the match's name.
	MaxHeaderNameLen = 253
	// MaxMatchValueLen bounds an exact, prefix or suffix value in a match condition, and a
	// source label's value.
	MaxMatchValueLen = 1024
)

// Match is one A/B condition (Flagger's analysis.match entry, an Istio HTTPMatchRequest): a
// request matches when every condition it sets holds. Conditions of different Match entries
// are alternatives. Headers, URI, Method and QueryParams are the conditions Istio and Gateway
// API both route by; the others Istio's VirtualService alone. A MeshRouter
// refuses, wrapping ErrMatchUnsupported and naming the field (Match.Fields), what its route
// cannot match by.
type Match struct {
	// Headers: the request's header of each name matches (cookies are the "cookie" header).
	Headers map[string]StringMatch `json:"headers,omitempty"`
	// URI: the request's path matches.
	URI *StringMatch `json:"uri,omitempty"`
	// Method: the request's method matches.
	Method *StringMatch `json:"method,omitempty"`
	// QueryParams: the request's query parameter of each name matches.
	QueryParams map[string]StringMatch `json:"queryParams,omitempty"`

	// Name names the condition (Istio's match name, in its access logs); it matches nothing.
	Name string `json:"name,omitempty"`
	// Authority and Scheme: the request's authority (Host) and scheme match.
	Authority *StringMatch `json:"authority,omitempty"`
	Scheme    *StringMatch `json:"scheme,omitempty"`
	// Port: the request reached this port (1..65535; 0: any).
	Port uint32 `json:"port,omitempty"`
	// IgnoreURICase: URI's exact or prefix matches ignoring case.
	IgnoreURICase bool `json:"ignoreUriCase,omitempty"`
	// WithoutHeaders: the request has no header of each name that matches.
	WithoutHeaders map[string]StringMatch `json:"withoutHeaders,omitempty"`
	// SourceLabels and SourceNamespace: the calling workload has these labels and runs in this
	// namespace.
	SourceLabels    map[string]string `json:"sourceLabels,omitempty"`
	SourceNamespace string            `json:"sourceNamespace,omitempty"`
}

// Fields names the fields m sets, as a Flagger Canary's analysis.match spells them, in the
// order the Match declares them.
func (m Match) Fields() []string {
	var out []string
	for _, f := range []struct {
		name string
		set  bool
	}{{"headers", len(m.Headers) > 0}, {"uri", m.URI != nil}, {"method", m.Method != nil}, {"queryParams", len(m.QueryParams) > 0},
		{"name", m.Name != ""}, {"authority", m.Authority != nil}, {"scheme", m.Scheme != nil}, {"port", m.Port != 0},
		{"ignoreUriCase", m.IgnoreURICase}, {"withoutHeaders", len(m.WithoutHeaders) > 0}, {"sourceLabels", len(m.SourceLabels) > 0},
		{"sourceNamespace", m.SourceNamespace != ""}} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}

// HeadersOnly refuses, wrapping ErrMatchUnsupported, a match condition that sets any field
// but Headers, naming the first such field at its path from "match" (match[0].uri): for the
// routes that match headers only (an SMI HTTPRouteGroup as canarykit writes it, an
// ingress-nginx canary Ingress), which route names.
func HeadersOnly(route string, ms []Match) error {
	for i, m := range ms {
		for _, f := range m.Fields() {
			if f != "headers" {
				return fmt.Errorf("%w: match[%d].%s: %s matches headers only", ErrMatchUnsupported, i, f, route)
			}
		}
	}
	return nil
}

// StringMatch matches a value; exactly one field is set.
type StringMatch struct {
	Exact  string `json:"exact,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	Suffix string `json:"suffix,omitempty"`
	Regex  string `json:"regex,omitempty"`
}

// AsRegex is m as a regular expression that means the same whether the data plane requires
// the whole value to match (Envoy) or searches it (Rust's and Go's regexp): exact "v" → ^v$,
// prefix "p" → ^p.*, suffix "s" → .*s$ (literals escaped with regexp.QuoteMeta), regex as
// given.
func (m StringMatch) AsRegex() string {
	switch {
	case m.Exact != "":
		return "^" + regexp.QuoteMeta(m.Exact) + "$"
	case m.Prefix != "":
		return "^" + regexp.QuoteMeta(m.Prefix) + ".*"
	case m.Suffix != "":
		return ".*" + regexp.QuoteMeta(m.Suffix) + "$"
	}
	return m.Regex
}

// ValidateMatches checks A/B match conditions as Validate checks a Spec's analysis.match, each
// problem at its path from "match" (match[0].headers["x-user"].regex): for MeshRouters, which
// take them from a Target whoever built it. The error is a *ValidationError about "match".
func ValidateMatches(ms []Match) error {
	var p problems
	validateMatches(&p, "match", ms)
	if err := p.err(); err != nil {
		err.(*ValidationError).Subject = "match"
		return err
	}
	return nil
}

func validateMatches(p *problems, field string, ms []Match) {
	if len(ms) > MaxMatches {
		p.add(field, "at most %d match conditions, got %d", MaxMatches, len(ms))
	}
	for i, m := range ms[:min(len(ms), MaxMatches)] {
		validateMatch(p, fmt.Sprintf("%s[%d]", field, i), m)
	}
}

func validateMatch(p *problems, field string, m Match) {
	if fs := m.Fields(); len(fs) == 0 || slices.Equal(fs, []string{"name"}) {
		p.add(field, "must set at least one condition: headers, uri, method, queryParams, authority, scheme, port, withoutHeaders, sourceLabels or sourceNamespace")
	}
	validateMatchMap(p, field+".headers", "header", m.Headers)
	validateMatchMap(p, field+".queryParams", "query parameter", m.QueryParams)
	validateMatchMap(p, field+".withoutHeaders", "header", m.WithoutHeaders)
	for _, f := range []struct {
		key string
		sm  *StringMatch
	}{{"uri", m.URI}, {"method", m.Method}, {"authority", m.Authority}, {"scheme", m.Scheme}} {
		if f.sm != nil {
			validateStringMatch(p, field+"."+f.key, *f.sm)
		}
	}
	if len(m.Name) > MaxHeaderNameLen {
		p.add(field+".name", "at most %d bytes, got %d", MaxHeaderNameLen, len(m.Name))
	}
	if m.Port > 65535 {
		p.add(field+".port", "must be 1..65535, got %d", m.Port)
	}
	if m.IgnoreURICase && (m.URI == nil || m.URI.Exact == "" && m.URI.Prefix == "") {
		p.add(field+".ignoreUriCase", "applies to a uri exact or prefix match (Istio ignores case in no other), and there is none")
	}
	switch {
	case len(m.SourceLabels) > MaxMatchHeaders:
		p.add(field+".sourceLabels", "at most %d labels, got %d", MaxMatchHeaders, len(m.SourceLabels))
	default:
		for _, k := range slices.Sorted(maps.Keys(m.SourceLabels)) {
			f := FieldPath(field+".sourceLabels", k)
			if k == "" || len(k) > MaxHeaderNameLen {
				p.add(f, "label name: want 1 to %d bytes, got %d", MaxHeaderNameLen, len(k))
			}
			if v := m.SourceLabels[k]; len(v) > MaxMatchValueLen {
				p.add(f, "at most %d bytes, got %d", MaxMatchValueLen, len(v))
			}
		}
	}
	if m.SourceNamespace != "" && !IsDNSLabel(m.SourceNamespace) {
		p.add(field+".sourceNamespace", "%q is not a namespace name (a lowercase RFC 1123 label)", cut(m.SourceNamespace))
	}
}

// validateMatchMap checks a mapping of names to StringMatches (headers, queryParams,
// withoutHeaders), what names a header or a query parameter.
func validateMatchMap(p *problems, field, what string, m map[string]StringMatch) {
	if len(m) > MaxMatchHeaders {
		p.add(field, "at most %d %s conditions, got %d", MaxMatchHeaders, what, len(m))
		return
	}
	for _, name := range slices.Sorted(maps.Keys(m)) {
		f := FieldPath(field, name)
		switch {
		case name == "":
			p.add(f, "%s name must not be empty", what)
		case len(name) > MaxHeaderNameLen:
			p.add(f, "%s name: at most %d bytes, got %d", what, MaxHeaderNameLen, len(name))
		case what == "header" && !IsHeaderName(name):
			p.add(f, "%q is not a header name (letters, digits and !#$%%&'*+-.^_`|~, an RFC 9110 token)", cut(name))
		case what != "header" && strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f || strings.ContainsRune("&=#?", r) }):
			p.add(f, "%q is not a %s name (no space, control character, '&', '=', '#' or '?')", cut(name), what)
		}
		validateStringMatch(p, f, m[name])
	}
}

func validateStringMatch(p *problems, f string, sm StringMatch) {
	for _, v := range []struct{ what, value string }{{"exact", sm.Exact}, {"prefix", sm.Prefix}, {"suffix", sm.Suffix}} {
		if len(v.value) > MaxMatchValueLen {
			p.add(f+"."+v.what, "at most %d bytes, got %d", MaxMatchValueLen, len(v.value))
		}
	}
	set := 0
	for _, v := range []string{sm.Exact, sm.Prefix, sm.Suffix, sm.Regex} {
		if v != "" {
			set++
		}
	}
	if set != 1 {
		p.add(f, "must set exactly one of exact, prefix, suffix, regex (got %d)", set)
	}
	if sm.Regex != "" {
		if err := CheckRegex(sm.Regex); err != nil {
			p.add(f+".regex", "%v", err)
		}
	}
}

func cloneMatches(in []Match) []Match {
	if in == nil {
		return nil
	}
	out := make([]Match, len(in))
	for i, m := range in {
		out[i] = m
		out[i].Headers = maps.Clone(m.Headers)
		out[i].QueryParams = maps.Clone(m.QueryParams)
		out[i].WithoutHeaders = maps.Clone(m.WithoutHeaders)
		out[i].SourceLabels = maps.Clone(m.SourceLabels)
		for _, sm := range []**StringMatch{&out[i].URI, &out[i].Method, &out[i].Authority, &out[i].Scheme} {
			if *sm != nil {
				c := **sm
				*sm = &c
			}
		}
	}
	return out
}
