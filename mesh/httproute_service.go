package mesh

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh/gatewayapi"
	"github.com/canarykit/canarykit/mesh/istioapi"
)

// routeService is what WithService gives the router's rules: the service's matches and the
// filters every rule carries.
type routeService struct {
	given   gatewayapi.Service // as WithService was given it
	matches []gwv1.HTTPRouteMatch
	filters []gwv1.HTTPRouteFilter
}

// Service returns what the router's rules carry of a Canary's spec.service (WithService).
func (r *HTTPRoute) Service() gatewayapi.Service { return r.svc.given }

// WithService returns a copy of r whose route rules carry s, as Flagger's Gateway API router
// writes a Canary's spec.service match, headers, rewrite, mirror and corsPolicy: every rule
// matches s.Match (with A/B testing, each analysis match is merged into each of them: the
// service's match with the analysis' headers in place of its own, as Flagger and the Istio
// router merge them), and carries a RequestHeaderModifier, a ResponseHeaderModifier, a
// URLRewrite filter, a RequestMirror filter per s.Mirror entry and a CORS filter, in that
// order, before the mirror of a mirrored step (a rule's own header modifier, session
// affinity's expiring Set-Cookie, is merged into the service's: see withFilters). What Gateway
// API cannot express is refused (gatewayapi.Service.Problems, istioapi's checks first), at
// paths relative to spec.service; a mirror to a target's own Services
// (gatewayapi.Service.MirrorConflicts) is refused when the route is written, as a permanent
// error. A zero s writes none of them. The CORS filter needs Gateway API's experimental
// channel: the standard channel's CRD refuses the route (see the package documentation).
func (r *HTTPRoute) WithService(s gatewayapi.Service) (*HTTPRoute, error) {
	probs := istioapi.Service{Match: s.Match, Headers: s.Headers, Rewrite: s.Rewrite, CorsPolicy: s.CORS}.Problems()
	if len(probs) == 0 {
		probs = s.Problems()
	}
	if len(probs) > 0 {
		return nil, fmt.Errorf("mesh: %w", &canary.ValidationError{Subject: "HTTPRoute service", Problems: probs})
	}
	c := *r
	c.svc = routeService{given: s}
	for _, m := range s.Match {
		c.svc.matches = append(c.svc.matches, serviceMatch(m))
	}
	if h := s.Headers; h != nil {
		if h.Request != nil {
			c.svc.filters = append(c.svc.filters, gwv1.HTTPRouteFilter{Type: gwv1.HTTPRouteFilterRequestHeaderModifier, RequestHeaderModifier: headerFilter(h.Request)})
		}
		if h.Response != nil {
			c.svc.filters = append(c.svc.filters, gwv1.HTTPRouteFilter{Type: gwv1.HTTPRouteFilterResponseHeaderModifier, ResponseHeaderModifier: headerFilter(h.Response)})
		}
	}
	if rw := s.Rewrite; rw != nil {
		f := &gwv1.HTTPURLRewriteFilter{}
		if rw.Authority != "" {
			f.Hostname = ptrTo(gwv1.PreciseHostname(rw.Authority))
		}
		if rw.URI != "" {
			f.Path = &gwv1.HTTPPathModifier{Type: gwv1.FullPathHTTPPathModifier, ReplaceFullPath: ptrTo(rw.URI)}
			if s.RewriteType == gatewayapi.ReplacePrefixMatch {
				f.Path = &gwv1.HTTPPathModifier{Type: gwv1.PrefixMatchHTTPPathModifier, ReplacePrefixMatch: ptrTo(rw.URI)}
			}
		}
		c.svc.filters = append(c.svc.filters, gwv1.HTTPRouteFilter{Type: gwv1.HTTPRouteFilterURLRewrite, URLRewrite: f})
	}
	for _, m := range s.Mirror {
		c.svc.filters = append(c.svc.filters, gwv1.HTTPRouteFilter{Type: gwv1.HTTPRouteFilterRequestMirror, RequestMirror: serviceMirror(m)})
	}
	if s.CORS != nil {
		c.svc.filters = append(c.svc.filters, gwv1.HTTPRouteFilter{Type: gwv1.HTTPRouteFilterCORS, CORS: corsFilter(s.CORS)})
	}
	c.svc.given.Mirror = slices.Clone(s.Mirror)
	return &c, nil
}

// serviceMirror is a RequestMirror filter's configuration for a spec.service.mirror entry,
// with the group and kind the API server would default set, every request copied (Flagger's
// Canary has no share for these mirrors).
func serviceMirror(m gatewayapi.Mirror) *gwv1.HTTPRequestMirrorFilter {
	ref := gwv1.BackendObjectReference{Group: ptrTo(gwv1.Group("")), Kind: ptrTo(gwv1.Kind("Service")),
		Name: gwv1.ObjectName(m.Name), Port: ptrTo(gwv1.PortNumber(m.Port))}
	if m.Namespace != "" {
		ref.Namespace = ptrTo(gwv1.Namespace(m.Namespace))
	}
	return &gwv1.HTTPRequestMirrorFilter{BackendRef: ref}
}

// corsMaxAge is the CORS filter's maxAge when the policy has none: the API server's default
// (Gateway API's, 5 seconds), written so the stored route compares equal.
const corsMaxAge = 5

// corsFilter is Gateway API's CORS filter for an Istio CORS policy, as Flagger maps it: the
// origins (gatewayapi.CORSOrigins: allowOrigin's, then allowOrigins' exact ones), methods,
// allowed and exposed headers as listed, maxAge in whole seconds, allowCredentials when true.
func corsFilter(p *istioapi.CorsPolicy) *gwv1.HTTPCORSFilter {
	f := &gwv1.HTTPCORSFilter{MaxAge: corsMaxAge}
	origins, _ := gatewayapi.CORSOrigins(p)
	for _, o := range origins {
		f.AllowOrigins = append(f.AllowOrigins, gwv1.CORSOrigin(o))
	}
	for _, m := range p.AllowMethods {
		f.AllowMethods = append(f.AllowMethods, gwv1.HTTPMethodWithWildcard(m))
	}
	for _, h := range p.AllowHeaders {
		f.AllowHeaders = append(f.AllowHeaders, gwv1.HTTPHeaderName(h))
	}
	for _, h := range p.ExposeHeaders {
		f.ExposeHeaders = append(f.ExposeHeaders, gwv1.HTTPHeaderName(h))
	}
	if s := time.Duration(p.MaxAge) / time.Second; s > 0 {
		f.MaxAge = int32(s) // at most math.MaxInt32 (gatewayapi.Service.Problems)
	}
	if p.AllowCredentials {
		f.AllowCredentials = ptrTo(true)
	}
	return f
}

// serviceMatch is an Istio match request as an HTTPRouteMatch, every field the API server
// would default set (the path defaults to the prefix "/"); headers and query parameters are
// sorted by name, so the route compares equal from one call to the next. A prefix match on a
// header or query parameter, which Gateway API lacks, is an anchored regular expression of
// the escaped literal, as for A/B match conditions.
func serviceMatch(m istioapi.HTTPMatchRequest) gwv1.HTTPRouteMatch {
	out := gwv1.HTTPRouteMatch{Path: pathPrefix("/")}
	if u := m.URI; u != nil {
		switch {
		case u.Exact != "":
			out.Path = &gwv1.HTTPPathMatch{Type: ptrTo(gwv1.PathMatchExact), Value: ptrTo(u.Exact)}
		case u.Prefix != "":
			out.Path = pathPrefix(u.Prefix)
		case u.Regex != "":
			out.Path = &gwv1.HTTPPathMatch{Type: ptrTo(gwv1.PathMatchRegularExpression), Value: ptrTo(u.Regex)}
		}
	}
	if m.Method != nil {
		out.Method = ptrTo(gwv1.HTTPMethod(m.Method.Exact))
	}
	for _, name := range slices.Sorted(maps.Keys(m.Headers)) {
		typ, v := valueMatch(m.Headers[name])
		out.Headers = append(out.Headers, gwv1.HTTPHeaderMatch{Name: gwv1.HTTPHeaderName(name), Type: ptrTo(gwv1.HeaderMatchType(typ)), Value: v})
	}
	for _, name := range slices.Sorted(maps.Keys(m.QueryParams)) {
		typ, v := valueMatch(m.QueryParams[name])
		out.QueryParams = append(out.QueryParams, gwv1.HTTPQueryParamMatch{Name: gwv1.HTTPHeaderName(name), Type: ptrTo(gwv1.QueryParamMatchType(typ)), Value: v})
	}
	return out
}

// valueMatch is a header or query parameter match's type ("Exact" or "RegularExpression",
// the same words for both) and value.
func valueMatch(sm istioapi.StringMatch) (string, string) {
	if sm.Exact != "" {
		return string(gwv1.HeaderMatchExact), sm.Exact
	}
	return string(gwv1.HeaderMatchRegularExpression), canary.StringMatch{Prefix: sm.Prefix, Regex: sm.Regex}.AsRegex()
}

// headerFilter is a header modifier for Istio's header operations, names sorted (Flagger
// sorts them too) so the route compares equal from one call to the next.
func headerFilter(ops *istioapi.HeaderOperations) *gwv1.HTTPHeaderFilter {
	f := &gwv1.HTTPHeaderFilter{}
	for _, n := range slices.Sorted(maps.Keys(ops.Set)) {
		f.Set = append(f.Set, gwv1.HTTPHeader{Name: gwv1.HTTPHeaderName(n), Value: ops.Set[n]})
	}
	for _, n := range slices.Sorted(maps.Keys(ops.Add)) {
		f.Add = append(f.Add, gwv1.HTTPHeader{Name: gwv1.HTTPHeaderName(n), Value: ops.Add[n]})
	}
	f.Remove = slices.Clone(ops.Remove)
	return f
}

// validABMatches refuses t's A/B match conditions where an HTTPRouteMatch cannot hold them
// (gatewayapi.Service.Problems of them in Istio's terms: an Istio-only field, a path Gateway
// API refuses, a method that is not one exact method, more headers or query parameters than a
// match holds), wrapping canary.ErrMatchUnsupported, or where they cannot merge into the
// service's matches (istioapi.MergeProblems); each problem at its path from "match". The
// error is permanent.
func (r *HTTPRoute) validABMatches(t canary.Target) error {
	if len(t.Match) == 0 {
		return nil
	}
	ab := istioapi.FromMatches(t.Match)
	if p := (gatewayapi.Service{Match: ab}).Problems(); len(p) > 0 {
		return canary.Permanent(fmt.Errorf("mesh: %w: %w", canary.ErrMatchUnsupported, &canary.ValidationError{Subject: "HTTPRoute match", Problems: p}))
	}
	if p := istioapi.MergeProblems(ab, r.svc.given.Match); len(p) > 0 {
		return canary.Permanent(fmt.Errorf("mesh: %w", &canary.ValidationError{Subject: "match", Problems: p}))
	}
	return nil
}

// withService gives spec's rules, t's, the router's service matches and filters: each rule's
// matches merged into the service's, and the service's filters before the rule's own. A
// rule would hold more matches than Gateway API allows when the A/B match conditions times
// the service's exceed gatewayapi.MaxMatches, and a service mirror may name one of t's
// Services (mirrorConflicts): permanent errors.
func (r *HTTPRoute) withService(t canary.Target, spec gwv1.HTTPRouteSpec) (gwv1.HTTPRouteSpec, error) {
	if len(r.svc.matches) == 0 && len(r.svc.filters) == 0 {
		return spec, nil
	}
	if err := r.mirrorConflicts(t); err != nil {
		return spec, err
	}
	for i := range spec.Rules {
		rule := &spec.Rules[i]
		if len(r.svc.matches) > 0 {
			if n := len(rule.Matches) * len(r.svc.matches); n > gatewayapi.MaxMatches {
				return spec, canary.Permanent(fmt.Errorf("mesh: an HTTPRoute rule may hold %d matches, and %d A/B match conditions times the service's %d make %d",
					gatewayapi.MaxMatches, len(rule.Matches), len(r.svc.matches), n))
			}
			rule.Matches = mergeRouteMatches(rule.Matches, r.svc.matches)
		}
		rule.Filters = withFilters(r.svc.filters, rule.Filters)
	}
	return spec, nil
}

// mirrorConflicts refuses, as a permanent error, a service mirror to t's apex, primary or
// canary Service (gatewayapi.Service.MirrorConflicts).
func (r *HTTPRoute) mirrorConflicts(t canary.Target) error {
	probs := r.svc.given.MirrorConflicts(t.Namespace, t.ApexService(), t.PrimaryService(), t.CanaryService())
	if len(probs) == 0 {
		return nil
	}
	return canary.Permanent(fmt.Errorf("mesh: %w", &canary.ValidationError{Subject: "HTTPRoute service of " + t.String(), Problems: probs}))
}

// withFilters is the service's filters followed by a rule's own, where a header modifier of
// the rule's (session affinity's Set-Cookie on its expiry rule) is merged into the service's
// of the same type: Gateway API allows one of each type in a rule. The rule's headers win
// where both name one.
func withFilters(svc, own []gwv1.HTTPRouteFilter) []gwv1.HTTPRouteFilter {
	own = slices.Clone(own)
	out := make([]gwv1.HTTPRouteFilter, 0, len(svc)+len(own))
	for _, f := range svc {
		f = *f.DeepCopy()
		i := slices.IndexFunc(own, func(o gwv1.HTTPRouteFilter) bool { return o.Type == f.Type })
		switch {
		case i < 0:
		case f.Type == gwv1.HTTPRouteFilterRequestHeaderModifier:
			f.RequestHeaderModifier = mergeHeaderFilter(f.RequestHeaderModifier, own[i].RequestHeaderModifier)
			own = slices.Delete(own, i, i+1)
		case f.Type == gwv1.HTTPRouteFilterResponseHeaderModifier:
			f.ResponseHeaderModifier = mergeHeaderFilter(f.ResponseHeaderModifier, own[i].ResponseHeaderModifier)
			own = slices.Delete(own, i, i+1)
		}
		out = append(out, f)
	}
	return append(out, own...)
}

// mergeHeaderFilter is svc's header operations with rule's: set and add hold svc's headers
// rule's lacks (names compared case-insensitively, as HTTP's are), then rule's; remove holds
// both's names once.
func mergeHeaderFilter(svc, rule *gwv1.HTTPHeaderFilter) *gwv1.HTTPHeaderFilter {
	if rule == nil {
		return svc
	}
	merge := func(a, b []gwv1.HTTPHeader) []gwv1.HTTPHeader {
		out := slices.DeleteFunc(slices.Clone(a), func(h gwv1.HTTPHeader) bool {
			return slices.ContainsFunc(b, func(o gwv1.HTTPHeader) bool { return strings.EqualFold(string(o.Name), string(h.Name)) })
		})
		return append(out, b...)
	}
	out := &gwv1.HTTPHeaderFilter{Set: merge(svc.Set, rule.Set), Add: merge(svc.Add, rule.Add), Remove: slices.Clone(svc.Remove)}
	for _, n := range rule.Remove {
		if !slices.ContainsFunc(out.Remove, func(o string) bool { return strings.EqualFold(o, n) }) {
			out.Remove = append(out.Remove, n)
		}
	}
	return out
}

// mergeRouteMatches merges each of a rule's matches into each of the service's (the rule's
// outer), as istioapi.MergeMatches merges the Istio router's: the service's match with the
// rule's in it (an A/B condition: a request must be one the service routes and one the A/B
// test selects). The rule's headers and query parameters, if it has any, replace the
// service's, as Flagger merges them; its path (other than the prefix "/", every path) and
// method are added (the router refuses beforehand an A/B condition that sets one the service's
// sets too: istioapi.MergeProblems). A rule's match of every request (the path prefix "/" and
// nothing else) leaves the service's as they are.
func mergeRouteMatches(rule, svc []gwv1.HTTPRouteMatch) []gwv1.HTTPRouteMatch {
	out := make([]gwv1.HTTPRouteMatch, 0, len(rule)*len(svc))
	all := pathPrefix("/")
	for _, a := range rule {
		for _, s := range svc {
			m := *s.DeepCopy()
			if len(a.Headers) > 0 {
				m.Headers = slices.Clone(a.Headers)
			}
			if len(a.QueryParams) > 0 {
				m.QueryParams = slices.Clone(a.QueryParams)
			}
			if a.Path != nil && !apiequality.Semantic.DeepEqual(a.Path, all) {
				m.Path = a.Path.DeepCopy()
			}
			if a.Method != nil {
				m.Method = ptrTo(*a.Method)
			}
			out = append(out, m)
		}
	}
	return out
}
