package istioapi

import (
	"fmt"
	"maps"

	"github.com/canarykit/canarykit/canary"
)

// FromMatch is an A/B match condition (canary.Match) as an Istio HTTPMatchRequest, field for
// field: exact, prefix and regex as they are, and suffix, which Istio's StringMatch lacks, as
// the regular expression canary.StringMatch.AsRegex makes of it (Istio matches a regex against
// the whole value, which its anchors make explicit).
func FromMatch(m canary.Match) HTTPMatchRequest {
	return HTTPMatchRequest{
		Name: m.Name, URI: fromStringMatch(m.URI), Scheme: fromStringMatch(m.Scheme), Method: fromStringMatch(m.Method),
		Authority: fromStringMatch(m.Authority), Headers: fromMatchMap(m.Headers), Port: m.Port,
		QueryParams: fromMatchMap(m.QueryParams), IgnoreURICase: m.IgnoreURICase, WithoutHeaders: fromMatchMap(m.WithoutHeaders),
		SourceLabels: maps.Clone(m.SourceLabels), SourceNamespace: m.SourceNamespace,
	}
}

// FromMatches is FromMatch of each condition.
func FromMatches(ms []canary.Match) []HTTPMatchRequest {
	out := make([]HTTPMatchRequest, 0, len(ms))
	for _, m := range ms {
		out = append(out, FromMatch(m))
	}
	return out
}

func fromStringMatch(sm *canary.StringMatch) *StringMatch {
	if sm == nil {
		return nil
	}
	out := fromValue(*sm)
	return &out
}

func fromValue(sm canary.StringMatch) StringMatch {
	switch {
	case sm.Exact != "":
		return StringMatch{Exact: sm.Exact}
	case sm.Prefix != "":
		return StringMatch{Prefix: sm.Prefix}
	}
	return StringMatch{Regex: sm.AsRegex()}
}

func fromMatchMap(m map[string]canary.StringMatch) map[string]StringMatch {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]StringMatch, len(m))
	for k, v := range m {
		out[k] = fromValue(v)
	}
	return out
}

// MergeMatches is the A/B route's match conditions: with no service conditions the A/B ones;
// otherwise, for each A/B condition and each service condition, the service condition with
// the A/B condition's in it, so that a request must be one the service routes and one the A/B
// test selects. A mapping the A/B condition sets (headers, queryParams, withoutHeaders,
// sourceLabels) replaces the service condition's, as Flagger's routers replace headers and
// source labels (and Gateway API's query parameters); a single-valued field it sets (name,
// uri with ignoreUriCase, scheme, method, authority, port, sourceNamespace) is added to it,
// which MergeProblems refuses where the service condition sets it too. Flagger keeps the
// service condition's single-valued fields and drops the A/B condition's.
func MergeMatches(ab, service []HTTPMatchRequest) []HTTPMatchRequest {
	if len(service) == 0 {
		return ab
	}
	out := make([]HTTPMatchRequest, 0, len(ab)*len(service))
	for _, a := range ab {
		for _, s := range service { // s is a copy; its maps are only read
			for _, f := range []struct {
				from    map[string]StringMatch
				replace *map[string]StringMatch
			}{{a.Headers, &s.Headers}, {a.QueryParams, &s.QueryParams}, {a.WithoutHeaders, &s.WithoutHeaders}} {
				if len(f.from) > 0 {
					*f.replace = f.from
				}
			}
			if len(a.SourceLabels) > 0 {
				s.SourceLabels = a.SourceLabels
			}
			if a.URI != nil {
				s.URI, s.IgnoreURICase = a.URI, a.IgnoreURICase
			}
			for _, f := range []struct{ from, to **StringMatch }{{&a.Scheme, &s.Scheme}, {&a.Method, &s.Method}, {&a.Authority, &s.Authority}} {
				if *f.from != nil {
					*f.to = *f.from
				}
			}
			if a.Name != "" {
				s.Name = a.Name
			}
			if a.Port != 0 {
				s.Port = a.Port
			}
			if a.SourceNamespace != "" {
				s.SourceNamespace = a.SourceNamespace
			}
			out = append(out, s)
		}
	}
	return out
}

// MergeProblems is what MergeMatches cannot merge, at paths relative to the A/B conditions
// ("match[0].uri", for a Flagger Canary's spec.analysis.match): a single-valued field that an
// A/B condition and a service condition both set, which one Istio match (or Gateway API
// HTTPRouteMatch) holds once.
func MergeProblems(ab, service []HTTPMatchRequest) []canary.FieldError {
	var out []canary.FieldError
	for i, a := range ab {
		for _, f := range []struct {
			key string
			set func(HTTPMatchRequest) bool
		}{
			{"name", func(m HTTPMatchRequest) bool { return m.Name != "" }},
			{"uri", func(m HTTPMatchRequest) bool { return m.URI != nil }},
			{"scheme", func(m HTTPMatchRequest) bool { return m.Scheme != nil }},
			{"method", func(m HTTPMatchRequest) bool { return m.Method != nil }},
			{"authority", func(m HTTPMatchRequest) bool { return m.Authority != nil }},
			{"port", func(m HTTPMatchRequest) bool { return m.Port != 0 }},
			{"sourceNamespace", func(m HTTPMatchRequest) bool { return m.SourceNamespace != "" }},
		} {
			if !f.set(a) {
				continue
			}
			for j, s := range service {
				if f.set(s) {
					out = append(out, canary.FieldError{Field: fmt.Sprintf("match[%d].%s", i, f.key),
						Message: fmt.Sprintf("spec.service.match[%d] sets %s too, and the merged match holds one (Flagger would keep the service's and drop this one): set it in one of them", j, f.key)})
					break
				}
			}
		}
	}
	return out
}
