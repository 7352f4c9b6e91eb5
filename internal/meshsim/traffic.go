package meshsim

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Key says where requests went: the Service addressed, the route object version that
// decided, the backend Service chosen with its weight, and the Deployment whose pod answered.
type Key struct {
	// Service is the Service the request addressed (the apex, for split traffic).
	Service string
	// Route is the route object version that chose the backend; zero when none applied.
	Route Route
	// Backend is the Service whose pods the request was sent to: the addressed Service itself
	// when no route applied.
	Backend string
	// Weight is Backend's weight in Route and TotalWeight the sum of the weights there (in
	// the route object's units); both 0 when no route applied.
	Weight, TotalWeight float64
	// Deployment is the workload whose pod answered; "" when the proxy answered itself (no
	// route matched, no endpoint).
	Deployment string
}

// Tally counts requests.
type Tally struct {
	// Requests counts every request, Failures those answered with 5xx.
	Requests, Failures uint64
}

func (t Tally) add(o Tally) Tally { return Tally{t.Requests + o.Requests, t.Failures + o.Failures} }

// Traffic is a snapshot of the mesh's request counts. Snapshots are marks: the traffic
// between two of them is later.Since(earlier).
type Traffic struct {
	// At is when the snapshot was taken.
	At time.Time
	// Counts holds the requests per Key since the mesh started.
	Counts map[Key]Tally
	// Routes holds the backends and weights of every route object version that decided a
	// request, as the version lists them (weight 0 included).
	Routes map[Route]map[string]float64
}

// Since returns the requests counted after earlier (a snapshot of the same mesh).
func (t Traffic) Since(earlier Traffic) Traffic {
	out := Traffic{At: t.At, Counts: make(map[Key]Tally, len(t.Counts)), Routes: t.Routes}
	for k, v := range t.Counts {
		e := earlier.Counts[k]
		if d := (Tally{v.Requests - e.Requests, v.Failures - e.Failures}); d.Requests > 0 {
			out.Counts[k] = d
		}
	}
	return out
}

// Total sums the counts of the keys keep accepts (all keys when keep is nil).
func (t Traffic) Total(keep func(Key) bool) Tally {
	var sum Tally
	for k, v := range t.Counts {
		if keep == nil || keep(k) {
			sum = sum.add(v)
		}
	}
	return sum
}

// ByDeployment sums the requests to service per answering Deployment ("" for requests the
// proxy answered itself).
func (t Traffic) ByDeployment(service string) map[string]Tally {
	out := map[string]Tally{}
	for k, v := range t.Counts {
		if k.Service == service {
			out[k.Deployment] = out[k.Deployment].add(v)
		}
	}
	return out
}

// Share is the measured share of one backend under one route version, next to the share its
// weight asks for.
type Share struct {
	Route   Route
	Backend string
	// Want is Weight/TotalWeight; Got is Requests/RouteRequests.
	Want, Got float64
	// Requests went to Backend under Route; RouteRequests were decided by Route in all.
	Requests, RouteRequests uint64
}

// Mix returns, for every route version that decided requests to service, the share of each
// backend it lists (those that got no request included): what its weight asks for and what
// was measured. It answers "does the data plane follow the route object?" per weight step,
// with no timing involved: every request is counted under the generation of the route object
// that routed it. With smooth weighted round-robin, Requests is within one request of
// Want × RouteRequests, once the requests in flight when the snapshot was taken are done.
// Shares are ordered by route (kind, name, generation, rule), then backend.
func (t Traffic) Mix(service string) []Share {
	perRoute := map[Route]uint64{}
	perBackend := map[Route]map[string]uint64{}
	for k, v := range t.Counts {
		if k.Service != service || k.Route.Kind == "" {
			continue
		}
		perRoute[k.Route] += v.Requests
		if perBackend[k.Route] == nil {
			perBackend[k.Route] = map[string]uint64{}
		}
		perBackend[k.Route][k.Backend] += v.Requests
	}
	var out []Share
	for r, n := range perRoute {
		var total float64
		for _, w := range t.Routes[r] {
			total += w
		}
		for backend, w := range t.Routes[r] {
			s := Share{Route: r, Backend: backend, Requests: perBackend[r][backend], RouteRequests: n}
			if total > 0 {
				s.Want = w / total
			}
			s.Got = float64(s.Requests) / float64(n)
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b Share) int {
		return cmp.Or(strings.Compare(a.Route.Kind, b.Route.Kind), strings.Compare(a.Route.Name, b.Route.Name),
			cmp.Compare(a.Route.Generation, b.Route.Generation), cmp.Compare(a.Route.Rule, b.Route.Rule),
			strings.Compare(a.Backend, b.Backend))
	})
	return out
}

// meter counts requests per Key.
type meter struct {
	mu     sync.Mutex
	counts map[Key]*Tally
	routes map[Route]map[string]float64
}

// add counts a request with key answered with status; declared are the backends of the route
// version that decided it.
func (m *meter) add(k Key, status int, declared []backendWeight) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.counts == nil {
		m.counts, m.routes = map[Key]*Tally{}, map[Route]map[string]float64{}
	}
	if _, ok := m.routes[k.Route]; !ok && k.Route.Kind != "" {
		w := map[string]float64{}
		for _, b := range declared {
			w[b.service] += float64(b.milli) / 1000
		}
		m.routes[k.Route] = w
	}
	t := m.counts[k]
	if t == nil {
		t = &Tally{}
		m.counts[k] = t
	}
	t.Requests++
	if status >= 500 {
		t.Failures++
	}
}

func (m *meter) snapshot(now time.Time) Traffic {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := Traffic{At: now, Counts: make(map[Key]Tally, len(m.counts)), Routes: make(map[Route]map[string]float64, len(m.routes))}
	for k, v := range m.counts {
		out.Counts[k] = *v
	}
	for r, w := range m.routes {
		out.Routes[r] = maps.Clone(w)
	}
	return out
}
