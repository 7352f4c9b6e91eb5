package mesh

import (
	"fmt"
	"math/big"
	"slices"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh/istioapi"
)

// The HTTPRoute's spec as the router writes it (routeSpec) and reads it back (routeWeights).

// routeSpec is t's HTTPRoute spec routing w, with every field the API server would default set
// explicitly, so a stored route compares equal to it.
func routeSpec(t canary.Target, parents []gwv1.ParentReference, hosts []gwv1.Hostname, port int32, w canary.Weights) gwv1.HTTPRouteSpec {
	backend := func(name string, weight int) gwv1.HTTPBackendRef {
		return gwv1.HTTPBackendRef{BackendRef: gwv1.BackendRef{
			BackendObjectReference: gwv1.BackendObjectReference{
				Group: ptrTo(gwv1.Group("")), Kind: ptrTo(gwv1.Kind("Service")),
				Name: gwv1.ObjectName(name), Port: ptrTo(gwv1.PortNumber(port)),
			},
			Weight: ptrTo(int32(weight)),
		}}
	}
	if len(parents) == 0 {
		parents = []gwv1.ParentReference{apexParent(t, port)}
	}
	all := []gwv1.HTTPRouteMatch{{Path: pathPrefix("/")}}
	weighted := gwv1.HTTPRouteRule{
		Matches:     all,
		BackendRefs: []gwv1.HTTPBackendRef{backend(t.PrimaryService(), w.Primary), backend(t.CanaryService(), w.Canary)},
	}
	if w.Mirrored && len(t.Match) == 0 {
		weighted.Filters = mirrorFilters(t, port)
	}
	spec := gwv1.HTTPRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: parents},
		Hostnames:       slices.Clone(hosts),
		Rules:           []gwv1.HTTPRouteRule{weighted},
	}
	if len(t.Match) == 0 {
		if t.Affinity != nil {
			spec.Rules = routeAffinityRules(t, w, weighted, backend)
		}
		return spec
	}
	spec.Rules[0].Matches = routeMatches(t.Match)
	spec.Rules = append(spec.Rules, gwv1.HTTPRouteRule{
		Matches:     all,
		BackendRefs: []gwv1.HTTPBackendRef{backend(t.PrimaryService(), 100)},
	})
	return spec
}

// mirrorFilters are the weighted rule's filters during a mirrored step, as Flagger writes them:
// a RequestMirror to the canary Service, with the share of requests (percent, in the
// standard channel's CRDs of the Gateway API release tested, v1.4) unless it is all of them.
func mirrorFilters(t canary.Target, port int32) []gwv1.HTTPRouteFilter {
	m := &gwv1.HTTPRequestMirrorFilter{BackendRef: gwv1.BackendObjectReference{
		Group: ptrTo(gwv1.Group("")), Kind: ptrTo(gwv1.Kind("Service")),
		Name: gwv1.ObjectName(t.CanaryService()), Port: ptrTo(gwv1.PortNumber(port)),
	}}
	if t.Mirror < 100 {
		m.Percent = ptrTo(int32(t.Mirror))
	}
	return []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestMirror, RequestMirror: m}}
}

// routeMirrored reports whether a rule copies requests to the canary: a RequestMirror filter
// to the canary Service, in the route's namespace, that mirrors more than none of them (a
// Canary's spec.service.mirror entries, which WithService writes too, mirror elsewhere).
func routeMirrored(rule gwv1.HTTPRouteRule, t canary.Target) bool {
	for _, f := range rule.Filters {
		m := f.RequestMirror
		if f.Type != gwv1.HTTPRouteFilterRequestMirror || m == nil || string(m.BackendRef.Name) != t.CanaryService() ||
			ptrValue(m.BackendRef.Kind, "Service") != "Service" || ptrValue(m.BackendRef.Group, "") != "" ||
			string(ptrValue(m.BackendRef.Namespace, gwv1.Namespace(t.Namespace))) != t.Namespace {
			continue
		}
		switch {
		case m.Percent != nil:
			return *m.Percent > 0
		case m.Fraction != nil:
			return m.Fraction.Numerator > 0
		}
		return true
	}
	return false
}

// apexParent is the default parent: the apex Service (GAMMA).
func apexParent(t canary.Target, port int32) gwv1.ParentReference {
	return gwv1.ParentReference{Group: ptrTo(gwv1.Group("core")), Kind: ptrTo(gwv1.Kind("Service")),
		Name: gwv1.ObjectName(t.ApexService()), Port: ptrTo(gwv1.PortNumber(port))}
}

// routeMatches translates A/B match conditions as the service's (serviceMatch), from Istio's
// terms (istioapi.FromMatches): uri → the path (exact, prefix; suffix and regex as a
// RegularExpression), method → the method, headers and query parameters exact → Exact and
// prefix, suffix and regex → a RegularExpression (prefix and suffix, which Gateway API lacks,
// as anchored regular expressions of the escaped literal: canary.StringMatch.AsRegex). What an
// HTTPRouteMatch lacks was refused before (abProblems).
func routeMatches(ms []canary.Match) []gwv1.HTTPRouteMatch {
	var out []gwv1.HTTPRouteMatch
	for _, m := range istioapi.FromMatches(ms) {
		out = append(out, serviceMatch(m))
	}
	return out
}

func pathPrefix(p string) *gwv1.HTTPPathMatch {
	return &gwv1.HTTPPathMatch{Type: ptrTo(gwv1.PathMatchPathPrefix), Value: ptrTo(p)}
}

// sameShape reports whether cur equals want apart from backend weights.
func sameShape(cur, want gwv1.HTTPRouteSpec) bool {
	strip := func(s gwv1.HTTPRouteSpec) gwv1.HTTPRouteSpec {
		s = *s.DeepCopy()
		for i := range s.Rules {
			for j := range s.Rules[i].BackendRefs {
				s.Rules[i].BackendRefs[j].Weight = nil
			}
		}
		return s
	}
	return apiequality.Semantic.DeepEqual(strip(cur), strip(want))
}

// routeWeights finds the last rule with backendRefs to both primary and canary and returns
// their shares in percent: the weighted rule, which session affinity's rules precede (with A/B
// match conditions the rule after it sends to the primary alone).
func routeWeights(route *gwv1.HTTPRoute, t canary.Target) (canary.Weights, error) {
	for i := len(route.Spec.Rules) - 1; i >= 0; i-- {
		rule := route.Spec.Rules[i]
		var primary, canaryW *big.Int
		for _, b := range rule.BackendRefs {
			weight := int64(1)
			if b.Weight != nil {
				weight = int64(*b.Weight)
			}
			switch string(b.Name) {
			case t.PrimaryService():
				primary = big.NewInt(weight)
			case t.CanaryService():
				canaryW = big.NewInt(weight)
			}
		}
		if primary != nil && canaryW != nil {
			w, err := percentages(primary, canaryW)
			// only a step with all traffic on the primary mirrors: any other mirror is drift
			w.Mirrored = err == nil && w.Primary == 100 && routeMirrored(rule, t)
			return w, err
		}
	}
	return canary.Weights{}, fmt.Errorf("no rule with backendRefs %s and %s", t.PrimaryService(), t.CanaryService())
}
