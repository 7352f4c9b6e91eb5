package meshsim

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// Route kinds, the values of Route.Kind.
const (
	KindTrafficSplit = "TrafficSplit"
	KindHTTPRoute    = "HTTPRoute"
)

// Route identifies the route object, at one generation, that decided where a request went.
// The zero Route means no route object applied: the request went to the pods the addressed
// Service selects.
type Route struct {
	// Kind is KindTrafficSplit, KindHTTPRoute, KindVirtualService or KindIngress.
	Kind string
	// Name is the route object's name.
	Name string
	// Generation is the object's metadata.generation when it decided: every change of its
	// spec (a weight step) is a new generation.
	Generation int64
	// Rule is the index of the HTTPRoute rule or VirtualService HTTP route whose match won (0
	// for a TrafficSplit or an Ingress). For an Ingress, Generation is its resourceVersion: the
	// annotations that carry its weight do not change its generation.
	Rule int
}

// String renders the route as "HTTPRoute/podinfo@3#1", or "service" for the zero Route.
func (r Route) String() string {
	if r.Kind == "" {
		return "service"
	}
	s := fmt.Sprintf("%s/%s@%d", r.Kind, r.Name, r.Generation)
	if r.Kind == KindHTTPRoute || r.Kind == KindVirtualService {
		s += fmt.Sprintf("#%d", r.Rule)
	}
	return s
}

// pickerKey identifies the weighted-choice state of one rule of one route object version; a
// rebuilt table keeps the state of the versions that did not change.
type pickerKey struct {
	uid types.UID
	Route
}

// routeTable is the routing configuration compiled from the route objects of a namespace.
// It is immutable once built, except for the pickers' state.
type routeTable struct {
	splits  map[string][]*compiledSplit // by apex service, in order of precedence
	http    map[string][]*httpEntry     // by parent service, in order of precedence
	vs      map[string][]*vsEntry       // by host service: VirtualServices' HTTP routes, in order
	pickers map[pickerKey]*picker
}

// compiledSplit is one TrafficSplit.
type compiledSplit struct {
	route   Route
	created time.Time
	// matches, when not nil, restrict the split to requests that meet any of them
	// (v1alpha3+ HTTPRouteGroup references); a split whose references resolve to no match
	// applies to no request.
	matches []*requestMatch
	picker  *picker
}

// httpEntry is one match of one rule of an HTTPRoute attached to a Service.
type httpEntry struct {
	route   Route
	port    int64 // parentRef port; 0: every port
	match   requestMatch
	picker  *picker
	parent  bool // the rule has no backendRefs: requests go to the parent Service
	created time.Time
	name    string
	index   int // of the match within its rule
}

// decision is where the data plane sends a request.
type decision struct {
	route   Route
	backend string // the Service whose pods answer
	weight  float64
	total   float64
	// declared are the backends and weights of route, as it lists them.
	declared []backendWeight
	// status, when not 0, is the answer of the proxy itself: no route or no backend.
	status int
	reason string
}

// routing is the route a request follows, before a backend is chosen.
type routing struct {
	route Route
	// picker chooses the backend; nil sends the request to the addressed Service's own pods.
	picker *picker
	// noBackend is the status when the picker has no backend with weight.
	noBackend int
	// status, when not 0, is the answer of the proxy itself: no route matched.
	status int
	reason string
}

// lookup finds the route of a request to service:port (port 0: any). Like Linkerd, where linkerd-smi turns
// a TrafficSplit into a ServiceProfile and a ServiceProfile takes precedence over HTTPRoutes
// attached to the same Service: TrafficSplits first (those whose matches the request meets,
// then those without matches; with TrafficSplits present but none applying, the Service's own
// pods), then HTTPRoutes attached to the Service (and to the request's port, when the
// parentRef names one): the first entry in Gateway API precedence order whose match the
// request meets, 404 when none does; else the Service's own pods.
func (t *routeTable) lookup(service string, port int64, r *http.Request) routing {
	if splits := t.splits[service]; len(splits) > 0 {
		for _, s := range splits {
			if s.applies(r) {
				return routing{route: s.route, picker: s.picker, noBackend: http.StatusServiceUnavailable}
			}
		}
		return routing{}
	}
	if entries := t.vs[service]; len(entries) > 0 {
		return lookupVS(entries, r)
	}
	attached := false
	for _, e := range t.http[service] {
		if e.port != 0 && port != 0 && e.port != port {
			continue // attached to another port of the Service
		}
		attached = true
		if !e.match.matches(r) {
			continue
		}
		if e.parent {
			return routing{route: e.route}
		}
		// Gateway API: 500 when a rule has no backend with weight.
		return routing{route: e.route, picker: e.picker, noBackend: http.StatusInternalServerError}
	}
	if !attached {
		return routing{}
	}
	return routing{status: http.StatusNotFound, reason: "no HTTPRoute rule matches the request"}
}

// decide chooses the backend of a request to service that follows rt.
func (rt routing) decide(service string) decision {
	switch {
	case rt.status != 0:
		return decision{status: rt.status, reason: rt.reason}
	case rt.picker == nil && rt.route.Kind == "":
		return decision{backend: service}
	case rt.picker == nil:
		return decision{route: rt.route, backend: service, weight: 1, total: 1, declared: []backendWeight{{service, 1000}}}
	}
	b, ok := rt.picker.pick()
	if !ok {
		return decision{route: rt.route, status: rt.noBackend, reason: "no backend with weight in " + rt.route.String(),
			declared: rt.picker.declared}
	}
	d := decision{route: rt.route, backend: b.service, weight: float64(b.milli) / 1000, total: float64(rt.picker.total) / 1000,
		declared: rt.picker.declared}
	if b.service == "" {
		// A backendRef this data plane cannot reach (another kind or namespace): Gateway API's 500.
		d.status, d.reason = http.StatusInternalServerError, "invalid backendRef in "+rt.route.String()
	}
	return d
}

func (s *compiledSplit) applies(r *http.Request) bool {
	if s.matches == nil {
		return true
	}
	for _, m := range s.matches {
		if m.matches(r) {
			return true
		}
	}
	return false
}

// compileTable builds the table from the namespace's route objects, keeping prev's picker
// state for route versions that did not change. Objects that cannot be understood are
// skipped, with the reason passed to warn.
func compileTable(namespace string, splits, groups, routes, vss []*unstructured.Unstructured, prev *routeTable,
	warn func(obj *unstructured.Unstructured, err error)) *routeTable {
	t := &routeTable{splits: map[string][]*compiledSplit{}, http: map[string][]*httpEntry{}, vs: map[string][]*vsEntry{},
		pickers: map[pickerKey]*picker{}}
	reuse := func(obj *unstructured.Unstructured, r Route, backends []backendWeight) *picker {
		k := pickerKey{uid: obj.GetUID(), Route: r}
		p := prev.pickerFor(k)
		if p == nil {
			p = newPicker(backends)
		}
		t.pickers[k] = p
		return p
	}
	matchGroups := map[string][]*requestMatch{}
	for _, g := range groups {
		ms, err := routeGroupMatches(g)
		if err != nil {
			warn(g, err)
		}
		matchGroups[g.GetName()] = ms
	}
	for _, obj := range splits {
		s, apex, err := compileSplit(obj, matchGroups, reuse)
		if err != nil {
			warn(obj, err)
			continue
		}
		t.splits[apex] = append(t.splits[apex], s)
	}
	for _, obj := range routes {
		if err := compileHTTPRoute(t, namespace, obj, reuse); err != nil {
			warn(obj, err)
		}
	}
	slices.SortFunc(vss, func(a, b *unstructured.Unstructured) int {
		return compareAge(a.GetCreationTimestamp().Time, b.GetCreationTimestamp().Time, a.GetName(), b.GetName())
	})
	for _, obj := range vss {
		if err := compileVirtualService(t, namespace, obj, reuse); err != nil {
			warn(obj, err)
		}
	}
	for _, ss := range t.splits {
		slices.SortStableFunc(ss, func(a, b *compiledSplit) int {
			if c := compareBool(a.matches != nil, b.matches != nil); c != 0 {
				return c
			}
			return compareAge(a.created, b.created, a.route.Name, b.route.Name)
		})
	}
	for _, es := range t.http {
		slices.SortStableFunc(es, compareHTTPEntries)
	}
	return t
}

func (t *routeTable) pickerFor(k pickerKey) *picker {
	if t == nil {
		return nil
	}
	return t.pickers[k]
}

// compareBool orders true before false.
func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return -1
	}
	return 1
}

// compareAge orders the older object first, then by name: Gateway API's tie-breakers.
func compareAge(a, b time.Time, aName, bName string) int {
	if c := a.Compare(b); c != 0 {
		return c
	}
	return strings.Compare(aName, bName)
}

// compareHTTPEntries orders matches by Gateway API precedence: exact path, then the longest
// path prefix (regular expressions after prefixes), then a method match, then the most header
// matches, then the most query parameter matches; ties go to the oldest route, then the first
// by name, then the first rule and match in the route.
func compareHTTPEntries(a, b *httpEntry) int {
	if c := int(a.match.path.kind) - int(b.match.path.kind); c != 0 {
		return c
	}
	if c := len(b.match.path.value) - len(a.match.path.value); c != 0 {
		return c
	}
	if c := compareBool(len(a.match.methods) > 0, len(b.match.methods) > 0); c != 0 {
		return c
	}
	if c := len(b.match.headers) - len(a.match.headers); c != 0 {
		return c
	}
	if c := len(b.match.query) - len(a.match.query); c != 0 {
		return c
	}
	if c := compareAge(a.created, b.created, a.name, b.name); c != 0 {
		return c
	}
	if c := a.route.Rule - b.route.Rule; c != 0 {
		return c
	}
	return a.index - b.index
}
