package mesh

import (
	specsv1alpha3 "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/specs/v1alpha3"
	specsv1alpha4 "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/specs/v1alpha4"
	splitv1alpha1 "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/split/v1alpha1"
	splitv1alpha2 "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/split/v1alpha2"
	splitv1alpha3 "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/split/v1alpha3"
	splitv1alpha4 "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/split/v1alpha4"
	specsclient "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/specs/clientset/versioned"
	splitclient "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/split/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// split is a TrafficSplit in a version-neutral form; v1alpha1's quantity weights hold every
// version's integers.
type split struct {
	meta     metav1.ObjectMeta
	service  string
	backends []splitBackend
	matches  []corev1.TypedLocalObjectReference // v1alpha3 and later
}

type splitBackend struct {
	service string
	weight  resource.Quantity
}

// splitVersion is one served TrafficSplit version.
type splitVersion struct {
	versionClient[split]
	name string
	// matches tells whether the version routes by HTTPRouteGroup (v1alpha3 and later).
	matches bool
}

// weightValue is a weight as the version's JSON holds it: a quantity string for v1alpha1, an
// integer for the others.
func (v splitVersion) weightValue(percent int) any {
	if v.name == "v1alpha1" {
		q := intWeight(percent)
		return q.String()
	}
	return percent
}

func intWeight(w int) resource.Quantity { return *resource.NewQuantity(int64(w), resource.DecimalSI) }

// intBackend is the shape of a backend in every integer-weighted version (v1alpha2 and later).
type intBackend = struct {
	Service string `json:"service"`
	Weight  int    `json:"weight"`
}

func fromIntBackends[B ~intBackend](in []B) []splitBackend {
	var out []splitBackend
	for _, b := range in {
		ib := intBackend(b)
		out = append(out, splitBackend{service: ib.Service, weight: intWeight(ib.Weight)})
	}
	return out
}

func toIntBackends[B ~intBackend](in []splitBackend) []B {
	var out []B
	for _, b := range in {
		out = append(out, B(intBackend{Service: b.service, Weight: int(b.weight.Value())}))
	}
	return out
}

func splitVersions(cs splitclient.Interface) map[string]splitVersion {
	return map[string]splitVersion{
		"v1alpha1": {name: "v1alpha1", versionClient: typedClient[*splitv1alpha1.TrafficSplit, split]{
			rest: restOf(cs.SplitV1alpha1()), resource: "trafficsplits",
			api: func(ns string) typedAPI[*splitv1alpha1.TrafficSplit] { return cs.SplitV1alpha1().TrafficSplits(ns) },
			to: func(o *splitv1alpha1.TrafficSplit) *split {
				s := &split{meta: o.ObjectMeta, service: o.Spec.Service}
				for _, b := range o.Spec.Backends {
					var q resource.Quantity
					if b.Weight != nil {
						q = *b.Weight
					}
					s.backends = append(s.backends, splitBackend{service: b.Service, weight: q})
				}
				return s
			},
			from: func(s *split) *splitv1alpha1.TrafficSplit {
				o := &splitv1alpha1.TrafficSplit{ObjectMeta: s.meta, Spec: splitv1alpha1.TrafficSplitSpec{Service: s.service}}
				for _, b := range s.backends {
					o.Spec.Backends = append(o.Spec.Backends, splitv1alpha1.TrafficSplitBackend{Service: b.service, Weight: ptrTo(b.weight.DeepCopy())})
				}
				return o
			},
		}},
		"v1alpha2": {name: "v1alpha2", versionClient: typedClient[*splitv1alpha2.TrafficSplit, split]{
			rest: restOf(cs.SplitV1alpha2()), resource: "trafficsplits",
			api: func(ns string) typedAPI[*splitv1alpha2.TrafficSplit] { return cs.SplitV1alpha2().TrafficSplits(ns) },
			to: func(o *splitv1alpha2.TrafficSplit) *split {
				return &split{meta: o.ObjectMeta, service: o.Spec.Service, backends: fromIntBackends(o.Spec.Backends)}
			},
			from: func(s *split) *splitv1alpha2.TrafficSplit {
				return &splitv1alpha2.TrafficSplit{ObjectMeta: s.meta, Spec: splitv1alpha2.TrafficSplitSpec{
					Service: s.service, Backends: toIntBackends[splitv1alpha2.TrafficSplitBackend](s.backends)}}
			},
		}},
		"v1alpha3": {name: "v1alpha3", matches: true, versionClient: typedClient[*splitv1alpha3.TrafficSplit, split]{
			rest: restOf(cs.SplitV1alpha3()), resource: "trafficsplits",
			api: func(ns string) typedAPI[*splitv1alpha3.TrafficSplit] { return cs.SplitV1alpha3().TrafficSplits(ns) },
			to: func(o *splitv1alpha3.TrafficSplit) *split {
				return &split{meta: o.ObjectMeta, service: o.Spec.Service, backends: fromIntBackends(o.Spec.Backends), matches: o.Spec.Matches}
			},
			from: func(s *split) *splitv1alpha3.TrafficSplit {
				return &splitv1alpha3.TrafficSplit{ObjectMeta: s.meta, Spec: splitv1alpha3.TrafficSplitSpec{
					Service: s.service, Backends: toIntBackends[splitv1alpha3.TrafficSplitBackend](s.backends), Matches: s.matches}}
			},
		}},
		"v1alpha4": {name: "v1alpha4", matches: true, versionClient: typedClient[*splitv1alpha4.TrafficSplit, split]{
			rest: restOf(cs.SplitV1alpha4()), resource: "trafficsplits",
			api: func(ns string) typedAPI[*splitv1alpha4.TrafficSplit] { return cs.SplitV1alpha4().TrafficSplits(ns) },
			to: func(o *splitv1alpha4.TrafficSplit) *split {
				return &split{meta: o.ObjectMeta, service: o.Spec.Service, backends: fromIntBackends(o.Spec.Backends), matches: o.Spec.Matches}
			},
			from: func(s *split) *splitv1alpha4.TrafficSplit {
				return &splitv1alpha4.TrafficSplit{ObjectMeta: s.meta, Spec: splitv1alpha4.TrafficSplitSpec{
					Service: s.service, Backends: toIntBackends[splitv1alpha4.TrafficSplitBackend](s.backends), Matches: s.matches}}
			},
		}},
	}
}

// routeGroup is an SMI HTTPRouteGroup (specs.smi-spec.io v1alpha3 and v1alpha4 share the
// shape): named matches whose header values are regular expressions.
type routeGroup struct {
	meta    metav1.ObjectMeta
	matches []groupMatch
}

type groupMatch struct {
	name    string
	headers map[string]string
}

// groupVersions are the HTTPRouteGroup versions a router can use. Their match types differ in
// an unexported header type only, which rules out sharing the conversions.
func groupVersions(cs specsclient.Interface) map[string]versionClient[routeGroup] {
	return map[string]versionClient[routeGroup]{
		"v1alpha3": typedClient[*specsv1alpha3.HTTPRouteGroup, routeGroup]{
			api: func(ns string) typedAPI[*specsv1alpha3.HTTPRouteGroup] { return cs.SpecsV1alpha3().HTTPRouteGroups(ns) },
			to: func(o *specsv1alpha3.HTTPRouteGroup) *routeGroup {
				g := &routeGroup{meta: o.ObjectMeta}
				for _, m := range o.Spec.Matches {
					g.matches = append(g.matches, groupMatch{name: m.Name, headers: m.Headers})
				}
				return g
			},
			from: func(g *routeGroup) *specsv1alpha3.HTTPRouteGroup {
				o := &specsv1alpha3.HTTPRouteGroup{ObjectMeta: g.meta}
				for _, m := range g.matches {
					o.Spec.Matches = append(o.Spec.Matches, specsv1alpha3.HTTPMatch{Name: m.name, Headers: m.headers})
				}
				return o
			},
		},
		"v1alpha4": typedClient[*specsv1alpha4.HTTPRouteGroup, routeGroup]{
			api: func(ns string) typedAPI[*specsv1alpha4.HTTPRouteGroup] { return cs.SpecsV1alpha4().HTTPRouteGroups(ns) },
			to: func(o *specsv1alpha4.HTTPRouteGroup) *routeGroup {
				g := &routeGroup{meta: o.ObjectMeta}
				for _, m := range o.Spec.Matches {
					g.matches = append(g.matches, groupMatch{name: m.Name, headers: m.Headers})
				}
				return g
			},
			from: func(g *routeGroup) *specsv1alpha4.HTTPRouteGroup {
				o := &specsv1alpha4.HTTPRouteGroup{ObjectMeta: g.meta}
				for _, m := range g.matches {
					o.Spec.Matches = append(o.Spec.Matches, specsv1alpha4.HTTPMatch{Name: m.name, Headers: m.headers})
				}
				return o
			},
		},
	}
}
