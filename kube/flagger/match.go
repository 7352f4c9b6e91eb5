package flagger

import (
	"fmt"
	"slices"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh/gatewayapi"
	"github.com/canarykit/canarykit/mesh/istioapi"
)

// decodeMatch reads one analysis.match entry (an Istio HTTPMatchRequest in Flagger's schema)
// into a canary.Match, every field Flagger's has but gateways (which canarykit's Istio router
// does not write per match: refused, as in spec.service.match). The engine checks the values
// (canary.Spec.Validate) and checkMatch what the provider's route can hold.
func decodeMatch(mo *object) canary.Match {
	m := canary.Match{
		Headers: matchesByName(mo, "headers", abStringMatch), URI: optMatch(mo, "uri", abStringMatch), Method: optMatch(mo, "method", abStringMatch),
		QueryParams: matchesByName(mo, "queryParams", abStringMatch), Name: mo.str("name"), Authority: optMatch(mo, "authority", abStringMatch),
		Scheme: optMatch(mo, "scheme", abStringMatch), Port: uint32Field(mo, "port"), IgnoreURICase: mo.bool("ignoreUriCase"),
		WithoutHeaders: matchesByName(mo, "withoutHeaders", abStringMatch), SourceLabels: boundedStrMap(mo, "sourceLabels"),
		SourceNamespace: mo.str("sourceNamespace"),
	}
	mo.unsupported("gateways")
	mo.done()
	return m
}

// abStringMatch reads a StringMatch of an analysis match: exact, prefix, suffix or regex (a
// suffix is written as a regular expression where the route lacks it).
func abStringMatch(o *object) canary.StringMatch {
	m := canary.StringMatch{Exact: o.str("exact"), Prefix: o.str("prefix"), Suffix: o.str("suffix"), Regex: o.str("regex")}
	o.done()
	return m
}

// checkMatch refuses, at spec.<analysis>.match[i].<field>, what of the analysis' match
// conditions the provider's route cannot hold, once the engine found them valid: Istio holds
// every field; a Gateway API HTTPRoute headers, uri (its path, as the HTTPRoute CRD takes a
// path), method (one exact method) and queryParams (gatewayapi.Service.Problems); both merge
// them into spec.service.match, a field both set refused (istioapi.MergeProblems); NGINX and
// an SMI TrafficSplit match headers only. With no spec.provider the driver's default router
// decides (it refuses what it cannot match by), with a Note.
func checkMatch(d *decoder, key string, m *Canary) {
	ms := m.Spec.Match
	if len(ms) == 0 {
		return
	}
	path := "spec." + key + "."
	ab := istioapi.FromMatches(ms)
	var probs []canary.FieldError
	switch m.Router.Kind {
	case RouterIstio:
		probs = istioapi.MergeProblems(ab, m.Service.Match)
	case RouterHTTPRoute:
		if probs = (gatewayapi.Service{Match: ab}).Problems(); len(probs) == 0 {
			probs = istioapi.MergeProblems(ab, m.Service.Match)
		}
	case RouterNGINX, RouterSMI:
		for i, mt := range ms {
			for _, f := range mt.Fields() {
				if f != "headers" {
					d.fail(fmt.Sprintf("%smatch[%d].%s", path, i, f), "provider %s matches headers only (%s); %s needs provider istio%s",
						shown(m.Router.Provider), headersOnlyRoute(m.Router.Kind), f, gatewayToo(f))
				}
			}
		}
	case RouterDefault:
		for i, mt := range ms {
			if fs := mt.Fields(); !slices.Equal(fs, []string{"headers"}) {
				m.Notes = append(m.Notes, fmt.Sprintf("spec.provider is not set: %smatch[%d] matches by %v, which the driver's default router must route by (istio matches by every field, a Gateway API HTTPRoute by headers, uri, method and queryParams)", path, i, fs))
				break
			}
		}
	}
	for _, p := range probs {
		d.fail(path+p.Field, "%s", p.Message)
	}
}

// headersOnlyRoute names the route of a router kind that matches headers only.
func headersOnlyRoute(k RouterKind) string {
	if k == RouterNGINX {
		return "ingress-nginx's canary-by-header and canary-by-cookie"
	}
	return "an SMI HTTPRouteGroup as canarykit writes it"
}

// gatewayToo names Gateway API as the other provider for the fields an HTTPRoute matches by.
func gatewayToo(field string) string {
	if slices.Contains([]string{"uri", "method", "queryParams"}, field) {
		return " or gatewayapi:<version>"
	}
	return ""
}
