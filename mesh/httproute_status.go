package mesh

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/canarykit/canarykit/canary"
)

// What the HTTPRoute router reads of a route's status: whether a controller accepted it for
// one of the router's parents.

// routeRejected returns a permanent error wrapping ErrRouteRejected when a controller reports,
// for the route's current generation and one of the router's parents (the apex Service by
// default), that it does not accept the route or cannot resolve its backends: the weights
// would not be applied, and an analysis of traffic that never shifts means nothing. A route
// without status (no controller has looked at it yet, or none writes status) passes.
func routeRejected(route *gwv1.HTTPRoute, t canary.Target, parents []gwv1.ParentReference) error {
	for _, p := range route.Status.Parents {
		if !ourParent(p.ParentRef, t, parents) {
			continue
		}
		for _, c := range p.Conditions {
			if c.Status != metav1.ConditionFalse || c.ObservedGeneration != route.Generation ||
				(c.Type != string(gwv1.RouteConditionAccepted) && c.Type != string(gwv1.RouteConditionResolvedRefs)) {
				continue
			}
			return canary.Permanent(fmt.Errorf("%w: HTTPRoute %s/%s: %s reports %s=False for parent %s %s (%s: %s)",
				ErrRouteRejected, route.Namespace, route.Name, p.ControllerName, c.Type, kindOf(p.ParentRef), p.ParentRef.Name, c.Reason, c.Message))
		}
	}
	return nil
}

// ourParent reports whether a route status' parent is one of the router's parents (the apex
// Service when it has none).
func ourParent(ref gwv1.ParentReference, t canary.Target, parents []gwv1.ParentReference) bool {
	if len(parents) == 0 {
		return string(ref.Name) == t.ApexService() && kindOf(ref) == "Service"
	}
	for _, p := range parents {
		if p.Name == ref.Name && kindOf(p) == kindOf(ref) &&
			ptrValue(p.Namespace, gwv1.Namespace(t.Namespace)) == ptrValue(ref.Namespace, gwv1.Namespace(t.Namespace)) {
			return true
		}
	}
	return false
}

// kindOf is a parent's kind, Gateway when unset (Gateway API's default).
func kindOf(ref gwv1.ParentReference) gwv1.Kind { return ptrValue(ref.Kind, "Gateway") }

func ptrValue[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}
