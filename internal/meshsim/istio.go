package meshsim

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Istio's route objects.
const (
	istioGroup      = "networking.istio.io"
	virtualServices = "virtualservices"
	// KindVirtualService is the Route.Kind of requests an Istio VirtualService decided.
	KindVirtualService = "VirtualService"
)

// vsEntry is one HTTP route of a VirtualService bound to a Service.
type vsEntry struct {
	route Route
	// matches: any of them (none: every request)
	matches []*requestMatch
	picker  *picker
}

// compileVirtualService adds a VirtualService's HTTP routes to t, under every Service of
// namespace its hosts name ("podinfo", "podinfo.<ns>", "podinfo.<ns>.svc[.cluster.local]"),
// when it applies to the sidecars (no gateways, or "mesh" among them). Each http[] entry is a
// rule: its match[] conditions (any of them; headers and uri with exact, prefix or regex, the
// regex matching the whole value; method) and its weighted route[].destination.host Services
// (a lone destination without weight takes everything).
func compileVirtualService(t *routeTable, namespace string, obj *unstructured.Unstructured, reuse reuseFunc) error {
	spec, _, _ := unstructured.NestedMap(obj.Object, "spec")
	if gws, ok := spec["gateways"].([]any); ok && len(gws) > 0 {
		mesh := false
		for _, g := range gws {
			mesh = mesh || g == "mesh"
		}
		if !mesh {
			return nil // bound to Gateways only: the sidecars ignore it
		}
	}
	var services []string
	hosts, _ := spec["hosts"].([]any)
	for _, h := range hosts {
		s, _ := h.(string)
		if svc := serviceOfHost(s, namespace); svc != "" {
			services = append(services, svc)
		}
	}
	if len(services) == 0 {
		return nil
	}
	routes, _ := spec["http"].([]any)
	var errs []error
	var entries []*vsEntry
	for ri, it := range routes {
		hr, _ := it.(map[string]any)
		r := Route{Kind: KindVirtualService, Name: obj.GetName(), Generation: obj.GetGeneration(), Rule: ri}
		dests, _ := hr["route"].([]any)
		backends := make([]backendWeight, 0, len(dests))
		for di, d := range dests {
			dm, _ := d.(map[string]any)
			host, _, _ := unstructured.NestedString(dm, "destination", "host")
			w, hasWeight := dm["weight"].(int64)
			if !hasWeight && len(dests) == 1 {
				w = 100
			}
			svc := serviceOfHost(host, namespace)
			if svc == "" {
				errs = append(errs, fmt.Errorf("spec.http[%d].route[%d].destination.host %q is not a Service of the namespace", ri, di, host))
			}
			backends = append(backends, backendWeight{service: svc, milli: max(0, w) * 1000})
		}
		e := &vsEntry{route: r, picker: reuse(obj, r, backends)}
		ms, _ := hr["match"].([]any)
		for mi, m := range ms {
			rm, err := istioMatch(m)
			if err != nil {
				errs = append(errs, fmt.Errorf("spec.http[%d].match[%d]: %w", ri, mi, err))
			}
			e.matches = append(e.matches, rm)
		}
		entries = append(entries, e)
	}
	for _, svc := range services {
		t.vs[svc] = append(t.vs[svc], entries...)
	}
	return errors.Join(errs...)
}

// serviceOfHost returns the Service a host names in namespace, or "".
func serviceOfHost(host, namespace string) string {
	labels := strings.Split(strings.TrimSuffix(strings.ToLower(host), "."), ".")
	switch {
	case len(labels) == 1:
		return labels[0]
	case labels[1] != namespace:
		return ""
	}
	switch strings.Join(labels[2:], ".") {
	case "", "svc", "svc.cluster.local":
		return labels[0]
	}
	return ""
}

// istioMatch reads an HTTPMatchRequest: headers and uri as StringMatch (exact, prefix,
// regex), method (exact).
func istioMatch(v any) (*requestMatch, error) {
	m, _ := v.(map[string]any)
	rm := &requestMatch{path: pathMatch{kind: pathAny}}
	var errs []error
	if u, ok := m["uri"].(map[string]any); ok {
		vm, err := istioString("uri", u)
		errs = append(errs, err)
		re := vm.re
		switch {
		case vm.hasPrefix:
			re = regexp.MustCompile("^" + regexp.QuoteMeta(vm.prefix))
		case re == nil:
			re = regexp.MustCompile("^" + regexp.QuoteMeta(vm.exact) + "$")
		}
		rm.path = pathMatch{kind: pathRegex, re: re}
	}
	if meth, ok := m["method"].(map[string]any); ok {
		if s, _ := meth["exact"].(string); s != "" {
			rm.methods = []string{s}
		}
	}
	if hs, ok := m["headers"].(map[string]any); ok {
		for name, c := range hs {
			cm, _ := c.(map[string]any)
			vm, err := istioString(name, cm)
			errs = append(errs, err)
			rm.headers = append(rm.headers, vm)
		}
	}
	err := errors.Join(errs...)
	rm.invalid = err != nil
	return rm, err
}

// istioString reads one StringMatch as a valueMatch.
func istioString(name string, m map[string]any) (valueMatch, error) {
	vm := valueMatch{name: name}
	switch {
	case m["exact"] != nil:
		vm.exact, _ = m["exact"].(string)
	case m["prefix"] != nil:
		vm.prefix, _ = m["prefix"].(string)
		vm.hasPrefix = true
	case m["regex"] != nil:
		s, _ := m["regex"].(string)
		re, err := anchored(s)
		if err != nil {
			return vm, fmt.Errorf("%s regex: %w", name, err)
		}
		vm.re = re
	default:
		return vm, fmt.Errorf("%s: no exact, prefix or regex", name)
	}
	return vm, nil
}

// lookupVS finds the HTTP route of a VirtualService bound to service that a request meets:
// the first whose match it meets (a route without match meets all); 404 when none does.
func lookupVS(entries []*vsEntry, r *http.Request) routing {
	for _, e := range entries {
		if len(e.matches) == 0 {
			return routing{route: e.route, picker: e.picker, noBackend: http.StatusServiceUnavailable}
		}
		for _, m := range e.matches {
			if m.matches(r) {
				return routing{route: e.route, picker: e.picker, noBackend: http.StatusServiceUnavailable}
			}
		}
	}
	return routing{status: http.StatusNotFound, reason: "no VirtualService route matches the request"}
}
