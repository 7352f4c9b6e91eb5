package mesh

import (
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh/istioapi"
)

// The parts of networking.istio.io's VirtualService and DestinationRule the Istio router
// writes and reads: v1 and v1beta1 share them field for field. The fields a target's service
// configures are istioapi's types; fields the router does not write are not declared, and a
// stored object that has some is reshaped (see sameIstioSpec).

// virtualServiceSpec is a VirtualService's spec as the router writes it.
type virtualServiceSpec struct {
	Hosts    []string        `json:"hosts,omitempty"`
	Gateways []string        `json:"gateways,omitempty"`
	HTTP     []istioRoute    `json:"http,omitempty"`
	TCP      []istioTCPRoute `json:"tcp,omitempty"`
}

// istioTCPRoute is a VirtualService's TCP route, for a TCP service (istioapi.Service.TCP): the
// weighted destinations, and the ports of the service's match conditions.
type istioTCPRoute struct {
	Match []istioL4Match     `json:"match,omitempty"`
	Route []istioDestination `json:"route,omitempty"`
}

// istioL4Match is the part of Istio's L4MatchAttributes the router writes: the port.
type istioL4Match struct {
	Port uint32 `json:"port,omitempty"`
}

// istioRoute is one of a VirtualService's HTTP routes.
type istioRoute struct {
	Match      []istioapi.HTTPMatchRequest `json:"match,omitempty"`
	Route      []istioDestination          `json:"route,omitempty"`
	Rewrite    *istioapi.HTTPRewrite       `json:"rewrite,omitempty"`
	Timeout    istioapi.Duration           `json:"timeout,omitempty"`
	Retries    *istioapi.HTTPRetry         `json:"retries,omitempty"`
	CorsPolicy *istioapi.CorsPolicy        `json:"corsPolicy,omitempty"`
	Headers    *istioapi.Headers           `json:"headers,omitempty"`
	// Mirror and MirrorPercentage copy requests to the canary during a mirrored step
	// (canary.Weights.Mirrored), as Flagger writes them on the weighted route.
	Mirror           *istioHost    `json:"mirror,omitempty"`
	MirrorPercentage *istioPercent `json:"mirrorPercentage,omitempty"`
}

// istioPercent is Istio's Percent: a share of requests, 0..100.
type istioPercent struct {
	Value float64 `json:"value"`
}

// storedRoutes is what the router reads of a stored VirtualService: its HTTP and TCP routes'
// destinations (the weights). Other fields, whatever their shape, are left to sameIstioSpec.
type storedRoutes struct {
	HTTP []storedRoute `json:"http,omitempty"`
	TCP  []storedRoute `json:"tcp,omitempty"`
}

// weighted is the list of routes that holds svc's weighted route: the TCP routes of a TCP
// service, the HTTP routes otherwise.
func (s storedRoutes) weighted(svc istioapi.Service) []storedRoute {
	if svc.TCP {
		return s.TCP
	}
	return s.HTTP
}

type storedRoute struct {
	Route            []istioDestination `json:"route,omitempty"`
	Mirror           *istioHost         `json:"mirror,omitempty"`
	MirrorPercentage *struct {
		Value *float64 `json:"value,omitempty"`
	} `json:"mirrorPercentage,omitempty"`
}

// mirrored reports whether the route copies requests to the canary: it mirrors to the canary
// Service, and not 0 % of the requests.
func (r storedRoute) mirrored(t canary.Target) bool {
	if r.Mirror == nil || r.Mirror.Host != t.CanaryService() {
		return false
	}
	p := r.MirrorPercentage
	return p == nil || p.Value == nil || *p.Value > 0
}

// istioDestination is an HTTPRouteDestination. A nil Weight is an absent field: Istio sends
// all traffic to a route's only destination, and none to an unweighted one among several (the
// router reads weights from routes with both the primary and the canary).
type istioDestination struct {
	Destination istioHost `json:"destination"`
	Weight      *int32    `json:"weight,omitempty"`
	// Headers are the destination's header operations: the Set-Cookie of session affinity.
	Headers *istioapi.Headers `json:"headers,omitempty"`
}

type istioHost struct {
	Host string     `json:"host"`
	Port *istioPort `json:"port,omitempty"`
}

// istioPort is a Destination's PortSelector: the port of the host's Service to send to.
type istioPort struct {
	Number uint32 `json:"number"`
}

// destinationRuleSpec is the DestinationRule spec Flagger creates for each of the primary and
// canary Services: the host, and the Canary's traffic policy if any.
type destinationRuleSpec struct {
	Host          string                  `json:"host"`
	TrafficPolicy *istioapi.TrafficPolicy `json:"trafficPolicy,omitempty"`
}

// istioObject is a VirtualService or DestinationRule to create.
type istioObject struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   any    `json:"metadata"`
	Spec       any    `json:"spec"`
}

// toUnstructured turns an object made of plain values into the dynamic client's form.
func toUnstructured(obj any) (*unstructured.Unstructured, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(b); err != nil {
		return nil, err
	}
	return u, nil
}

// specMap is a spec as the unstructured map the dynamic client sends (integers as int64).
func specMap(spec any) (map[string]any, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	err = utiljson.Unmarshal(b, &m)
	return m, err
}

// decodeSpec reads the spec of a stored object into out; fields out does not declare are
// ignored, a field of the wrong type is an error.
func decodeSpec(u *unstructured.Unstructured, out any) error {
	spec, _, err := unstructured.NestedMap(u.Object, "spec")
	if err != nil {
		return fmt.Errorf("spec: %w", err)
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return fmt.Errorf("spec: %w", err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("spec: %w", err)
	}
	return nil
}

// canonical is v as encoding/json decodes it into an any (numbers as float64), so that a spec
// read from the server and one built by the router compare with reflect.DeepEqual.
func canonical(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(b, &out)
	return out, err
}

// sameIstioSpec reports whether the stored object's spec is want in every field, the HTTP
// route destinations' weights aside: want holds the fields the target's service configures
// (retries, a timeout, a traffic policy, ...); any other field (a mirror, a fault someone
// added) or another value is drift the router removes, as it would any other change of its
// route.
func sameIstioSpec(cur *unstructured.Unstructured, want any) bool {
	got, _, err := unstructured.NestedFieldNoCopy(cur.Object, "spec")
	if err != nil {
		return false
	}
	a, aerr := canonical(got)
	b, berr := canonical(want)
	if aerr != nil || berr != nil {
		return false
	}
	stripWeights(a)
	stripWeights(b)
	return reflect.DeepEqual(a, b)
}

// stripWeights deletes spec.http[*].route[*].weight and spec.tcp[*].route[*].weight from a
// canonical spec.
func stripWeights(spec any) {
	m, _ := spec.(map[string]any)
	for _, kind := range []string{"http", "tcp"} {
		routes, _ := m[kind].([]any)
		for _, r := range routes {
			rm, _ := r.(map[string]any)
			dests, _ := rm["route"].([]any)
			for _, d := range dests {
				if dm, ok := d.(map[string]any); ok {
					delete(dm, "weight")
				}
			}
		}
	}
}

// virtualService is t's VirtualService spec routing w, as Flagger shapes it: the hosts (the
// apex service added unless listed or "*"), the gateways ("mesh" when none is given), none
// of either for a delegate (svc.Delegation), one
// route with svc's match conditions and the weighted destinations; with A/B match conditions
// the canary's route matches each of them merged with each of svc's (istioapi.MergeMatches), and a
// second route sends what svc matches to the primary. Every route carries svc's rewrite,
// timeout, retries, CORS policy and header operations. A TCP service (svc.TCP) has one TCP
// route instead, matching the ports of svc's match conditions, with the weighted
// destinations.
func virtualService(t canary.Target, svc istioapi.Service, w canary.Weights) virtualServiceSpec {
	hosts := slices.Clone(svc.Hosts)
	if !slices.Contains(hosts, t.ApexService()) && !slices.Contains(hosts, "*") {
		hosts = append(hosts, t.ApexService())
	}
	gateways := slices.Clone(svc.Gateways)
	if len(gateways) == 0 {
		gateways = []string{"mesh"}
	}
	if svc.Delegation { // a delegate: its root VirtualService has the hosts and gateways
		hosts, gateways = nil, nil
	}
	route := func(match []istioapi.HTTPMatchRequest, dests ...istioDestination) istioRoute {
		return istioRoute{Match: match, Route: dests, Rewrite: svc.Rewrite, Timeout: svc.Timeout, Retries: svc.Retries,
			CorsPolicy: svc.CorsPolicy, Headers: svc.Headers}
	}
	primary := istioDestination{Destination: istioHost{Host: t.PrimaryService()}, Weight: ptrTo(int32(w.Primary))}
	canaryDest := istioDestination{Destination: istioHost{Host: t.CanaryService()}, Weight: ptrTo(int32(w.Canary))}
	spec := virtualServiceSpec{Hosts: hosts, Gateways: gateways}
	if svc.TCP {
		tcp := istioTCPRoute{Route: []istioDestination{primary, canaryDest}}
		for _, m := range svc.Match {
			tcp.Match = append(tcp.Match, istioL4Match{Port: m.Port})
		}
		spec.TCP = []istioTCPRoute{tcp}
		return spec
	}
	if len(t.Match) == 0 {
		spec.HTTP = []istioRoute{route(svc.Match, primary, canaryDest)}
		if w.Mirrored {
			spec.HTTP[0].Mirror, spec.HTTP[0].MirrorPercentage = istioMirror(t)
		}
		if t.Affinity != nil {
			spec.HTTP = istioAffinityRoutes(t, svc, w, spec.HTTP[0])
		}
		return spec
	}
	spec.HTTP = []istioRoute{
		route(istioapi.MergeMatches(istioapi.FromMatches(t.Match), svc.Match), primary, canaryDest),
		route(svc.Match, istioDestination{Destination: istioHost{Host: t.PrimaryService()}, Weight: ptrTo(int32(100))}),
	}
	return spec
}

// istioMirror is the weighted route's mirror during a mirrored step: the canary Service, and
// the share of requests copied unless it is all of them (Istio's default), as Flagger writes
// them.
func istioMirror(t canary.Target) (*istioHost, *istioPercent) {
	host := &istioHost{Host: t.CanaryService()}
	if t.Mirror >= 100 {
		return host, nil
	}
	return host, &istioPercent{Value: float64(t.Mirror)}
}

// maxMatchBytes bounds the encoded match conditions of a VirtualService. With A/B match
// conditions the canary's route holds each of them within each of the service's (their
// product), which conditions within their own bounds would make hundreds of megabytes; the
// API server stores no object over 1.5 MiB (etcd's default request size) anyway.
const maxMatchBytes = 1 << 20

// validABMatches refuses t's match conditions with svc's when they cannot merge
// (istioapi.MergeProblems, a permanent *canary.ValidationError about "match") or the
// VirtualService would hold more than maxMatchBytes of them, reckoned without building them.
func validABMatches(t canary.Target, svc istioapi.Service) error {
	ab := istioapi.FromMatches(t.Match)
	if p := istioapi.MergeProblems(ab, svc.Match); len(p) > 0 {
		return canary.Permanent(fmt.Errorf("mesh: %w", &canary.ValidationError{Subject: "match", Problems: p}))
	}
	size := func(ms []istioapi.HTTPMatchRequest) int {
		n := 0
		for _, m := range ms {
			b, _ := json.Marshal(m)
			n += len(b)
		}
		return n
	}
	abSize, service := size(ab), size(svc.Match)
	total := abSize + service // the canary's route and the primary's
	if len(t.Match) > 0 && len(svc.Match) > 0 {
		total = len(t.Match)*service + len(svc.Match)*abSize + service
	}
	if total > maxMatchBytes {
		return canary.Permanent(fmt.Errorf("mesh: the VirtualService's match conditions (each of the %d A/B matches within each of the %d service matches) would take %d bytes, more than %d",
			len(t.Match), len(svc.Match), total, maxMatchBytes))
	}
	return nil
}

// virtualServiceWeights finds the last of routes (a VirtualService's HTTP or TCP routes) with
// destinations to both the primary and the canary and returns their shares in percent: the
// weighted route, which session affinity's routes precede (with A/B match conditions the
// route after it sends to the primary alone). An unweighted destination weighs 0, as Istio
// reads it in a route of several.
func virtualServiceWeights(routes []storedRoute, t canary.Target) (canary.Weights, error) {
	for i := len(routes) - 1; i >= 0; i-- {
		r := routes[i]
		var primary, canaryW *big.Int
		for _, d := range r.Route {
			weight := int64(0) // Istio's own clients leave a zero weight out
			if d.Weight != nil {
				weight = int64(*d.Weight)
			}
			switch d.Destination.Host {
			case t.PrimaryService():
				primary = big.NewInt(weight)
			case t.CanaryService():
				canaryW = big.NewInt(weight)
			}
		}
		if primary != nil && canaryW != nil {
			w, err := percentages(primary, canaryW)
			// only a step with all traffic on the primary mirrors: any other mirror is drift
			w.Mirrored = err == nil && w.Primary == 100 && r.mirrored(t)
			return w, err
		}
	}
	return canary.Weights{}, fmt.Errorf("no route with destinations %s and %s", t.PrimaryService(), t.CanaryService())
}
