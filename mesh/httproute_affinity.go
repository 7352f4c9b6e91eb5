package mesh

import (
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/canarykit/canarykit/canary"
)

// routeAffinityRules is the HTTPRoute's rules for a target with session affinity
// (t.Affinity), around the weighted rule, as Flagger's Gateway API router shapes them:
//
//   - with canary weight and the release's cookie: first a rule for requests whose Cookie
//     header carries the cookie (a RegularExpression header match, canary.CookieRegex) with all
//     weight on the canary; with a primary cookie, then a rule for it with all weight on the
//     primary; last the weighted rule, whose canary backendRef has a ResponseHeaderModifier
//     filter adding the cookie's Set-Cookie (and the primary's the primary cookie's);
//   - at weight 0 with a cookie to expire (canary.Affinity.Expiring): first a rule for that
//     cookie with the weighted rule's backendRefs, weights and filters, plus a
//     ResponseHeaderModifier adding its expiring Set-Cookie ("Max-Age=-1"), then the weighted
//     rule;
//   - otherwise the weighted rule alone.
//
// The cookie rules' matches have the path prefix "/" the API server defaults.
func routeAffinityRules(t canary.Target, w canary.Weights, weighted gwv1.HTTPRouteRule,
	backend func(name string, weight int) gwv1.HTTPBackendRef) []gwv1.HTTPRouteRule {
	a := t.Affinity
	sticky := func(cookie string, backends ...gwv1.HTTPBackendRef) gwv1.HTTPRouteRule {
		r := *weighted.DeepCopy()
		r.Matches = []gwv1.HTTPRouteMatch{{Path: pathPrefix("/"), Headers: []gwv1.HTTPHeaderMatch{{
			Type: ptrTo(gwv1.HeaderMatchRegularExpression), Name: cookieHeader, Value: canary.CookieRegex(cookie)}}}}
		r.BackendRefs = backends
		return r
	}
	if w.Canary > 0 && a.Cookie != "" {
		rules := []gwv1.HTTPRouteRule{sticky(a.Cookie, backend(t.PrimaryService(), 0), backend(t.CanaryService(), 100))}
		if a.PrimaryCookieName != "" && a.PrimaryCookie != "" {
			rules = append(rules, sticky(a.PrimaryCookie, backend(t.PrimaryService(), 100), backend(t.CanaryService(), 0)))
			weighted.BackendRefs[0].Filters = []gwv1.HTTPRouteFilter{setCookieFilter(a.PrimarySetCookie())}
		}
		weighted.BackendRefs[1].Filters = []gwv1.HTTPRouteFilter{setCookieFilter(a.CanarySetCookie())}
		return append(rules, weighted)
	}
	if old := a.Expiring(); w.Canary == 0 && old != "" {
		r := sticky(old, backend(t.PrimaryService(), w.Primary), backend(t.CanaryService(), w.Canary))
		r.Filters = append(r.Filters, setCookieFilter(canary.ExpireCookie(old)))
		return []gwv1.HTTPRouteRule{r, weighted}
	}
	return []gwv1.HTTPRouteRule{weighted}
}

// setCookieFilter is a ResponseHeaderModifier that adds the Set-Cookie header value.
func setCookieFilter(value string) gwv1.HTTPRouteFilter {
	return gwv1.HTTPRouteFilter{Type: gwv1.HTTPRouteFilterResponseHeaderModifier, ResponseHeaderModifier: &gwv1.HTTPHeaderFilter{
		Add: []gwv1.HTTPHeader{{Name: setCookieHeader, Value: value}}}}
}
