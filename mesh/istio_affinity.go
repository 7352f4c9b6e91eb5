package mesh

import (
	"maps"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh/istioapi"
)

// The headers session affinity reads and writes.
const (
	cookieHeader    = "Cookie"
	setCookieHeader = "Set-Cookie"
)

// istioAffinityRoutes is the VirtualService's HTTP routes for a target with session affinity
// (t.Affinity), around the weighted route, as Flagger's Istio router shapes them:
//
//   - with canary weight and the release's cookie: first a route whose requests carry the
//     cookie (the Cookie header matching canary.CookieRegex, within each of the service's
//     match conditions) with all weight on the canary; with a primary cookie, then a route for
//     it with all weight on the primary; last the weighted route, whose canary destination
//     adds the cookie's Set-Cookie to responses (and the primary's the primary cookie's);
//   - at weight 0 with a cookie to expire (canary.Affinity.Expiring): first a route for that
//     cookie with the weighted route's destinations, weights and mirror that adds its expiring
//     Set-Cookie ("Max-Age=-1") to responses, then the weighted route;
//   - otherwise the weighted route alone.
func istioAffinityRoutes(t canary.Target, svc istioapi.Service, w canary.Weights, weighted istioRoute) []istioRoute {
	a := t.Affinity
	dest := func(host string, weight int) istioDestination {
		return istioDestination{Destination: istioHost{Host: host}, Weight: ptrTo(int32(weight))}
	}
	sticky := func(cookie string, dests ...istioDestination) istioRoute {
		r := weighted // a mirrored step mirrors the cookie's requests too
		r.Match = istioapi.MergeMatches([]istioapi.HTTPMatchRequest{{Headers: map[string]istioapi.StringMatch{
			cookieHeader: {Regex: canary.CookieRegex(cookie)}}}}, svc.Match)
		r.Route = dests
		return r
	}
	if w.Canary > 0 && a.Cookie != "" {
		routes := []istioRoute{sticky(a.Cookie, dest(t.PrimaryService(), 0), dest(t.CanaryService(), 100))}
		if a.PrimaryCookieName != "" && a.PrimaryCookie != "" {
			routes = append(routes, sticky(a.PrimaryCookie, dest(t.PrimaryService(), 100), dest(t.CanaryService(), 0)))
			weighted.Route[0].Headers = addResponseHeader(nil, setCookieHeader, a.PrimarySetCookie())
		}
		weighted.Route[1].Headers = addResponseHeader(nil, setCookieHeader, a.CanarySetCookie())
		return append(routes, weighted)
	}
	if old := a.Expiring(); w.Canary == 0 && old != "" {
		r := sticky(old, dest(t.PrimaryService(), w.Primary), dest(t.CanaryService(), w.Canary))
		r.Headers = addResponseHeader(svc.Headers, setCookieHeader, canary.ExpireCookie(old))
		return []istioRoute{r, weighted}
	}
	return []istioRoute{weighted}
}

// addResponseHeader is a copy of h (nil: none) that also adds the response header name: value.
func addResponseHeader(h *istioapi.Headers, name, value string) *istioapi.Headers {
	out := &istioapi.Headers{}
	if h != nil {
		out.Request = h.Request
		if h.Response != nil {
			resp := *h.Response
			out.Response = &resp
		}
	}
	if out.Response == nil {
		out.Response = &istioapi.HeaderOperations{}
	}
	add := maps.Clone(out.Response.Add)
	if add == nil {
		add = map[string]string{}
	}
	add[name] = value
	out.Response.Add = add
	return out
}
