package meshsim

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The route objects' API groups and resources.
const (
	splitGroup     = "split.smi-spec.io"
	specsGroup     = "specs.smi-spec.io"
	gatewayGroup   = "gateway.networking.k8s.io"
	trafficSplits  = "trafficsplits"
	routeGroups    = "httproutegroups"
	httpRoutes     = "httproutes"
	routeGroupKind = "HTTPRouteGroup"
)

type reuseFunc func(obj *unstructured.Unstructured, r Route, backends []backendWeight) *picker

// compileSplit reads a TrafficSplit of any SMI version: spec.service, spec.backends[] with
// integer weights (v1alpha2+) or quantities ("50", "500m": v1alpha1), and spec.matches[]
// referring to HTTPRouteGroups (v1alpha3+). linkerd-smi serves v1alpha1 and v1alpha2 without
// conversion, so either version may hold either weight form: both are accepted everywhere.
func compileSplit(obj *unstructured.Unstructured, groups map[string][]*requestMatch, reuse reuseFunc) (*compiledSplit, string, error) {
	spec, _, _ := unstructured.NestedMap(obj.Object, "spec")
	apex, _ := spec["service"].(string)
	if apex == "" {
		return nil, "", errors.New("spec.service is empty")
	}
	items, _ := spec["backends"].([]any)
	backends := make([]backendWeight, 0, len(items))
	for i, it := range items {
		b, _ := it.(map[string]any)
		svc, _ := b["service"].(string)
		w, err := parseWeight(b["weight"])
		if svc == "" || err != nil {
			return nil, "", fmt.Errorf("spec.backends[%d]: service %q, weight: %v", i, svc, err)
		}
		backends = append(backends, backendWeight{service: svc, milli: w})
	}
	r := Route{Kind: KindTrafficSplit, Name: obj.GetName(), Generation: obj.GetGeneration()}
	s := &compiledSplit{route: r, created: obj.GetCreationTimestamp().Time, picker: reuse(obj, r, backends)}
	if refs, ok := spec["matches"].([]any); ok && len(refs) > 0 {
		s.matches = []*requestMatch{}
		for _, ref := range refs {
			m, _ := ref.(map[string]any)
			if kind, _ := m["kind"].(string); kind != routeGroupKind {
				continue
			}
			name, _ := m["name"].(string)
			s.matches = append(s.matches, groups[name]...)
		}
	}
	return s, apex, nil
}

// parseWeight reads a weight, an integer or a quantity, in thousandths.
func parseWeight(v any) (int64, error) {
	switch w := v.(type) {
	case int64:
		if w < 0 || w > math.MaxInt64/1000 {
			return 0, fmt.Errorf("weight %d out of range", w)
		}
		return w * 1000, nil
	case float64:
		if w < 0 || w > math.MaxInt64/1000 || math.IsNaN(w) {
			return 0, fmt.Errorf("weight %v out of range", w)
		}
		return int64(math.Round(w * 1000)), nil
	case string:
		q, err := resource.ParseQuantity(w)
		if err != nil {
			return 0, fmt.Errorf("weight %q: %w", w, err)
		}
		if q.Sign() < 0 {
			return 0, fmt.Errorf("weight %q is negative", w)
		}
		return q.MilliValue(), nil
	case nil:
		return 0, errors.New("weight missing")
	}
	return 0, fmt.Errorf("weight %v: not a number or quantity", v)
}

// routeGroupMatches reads an HTTPRouteGroup's spec.matches[]: methods, pathRegex and headers
// (a map of header name to regular expression, or a list of such maps), all to be met.
func routeGroupMatches(obj *unstructured.Unstructured) ([]*requestMatch, error) {
	items, _, _ := unstructured.NestedSlice(obj.Object, "spec", "matches")
	out := make([]*requestMatch, 0, len(items))
	var errs []error
	for i, it := range items {
		m, _ := it.(map[string]any)
		rm := &requestMatch{}
		if methods, ok := m["methods"].([]any); ok {
			for _, v := range methods {
				if s, _ := v.(string); s != "" {
					rm.methods = append(rm.methods, s)
				}
			}
		}
		if re, _ := m["pathRegex"].(string); re != "" {
			c, err := anchored(re)
			if err != nil {
				errs = append(errs, fmt.Errorf("spec.matches[%d].pathRegex: %w", i, err))
				rm.invalid = true
			}
			rm.path = pathMatch{kind: pathRegex, value: re, re: c}
		}
		for name, expr := range headerMaps(m["headers"]) {
			c, err := anchored(expr)
			if err != nil {
				errs = append(errs, fmt.Errorf("spec.matches[%d].headers[%s]: %w", i, name, err))
				rm.invalid = true
			}
			rm.headers = append(rm.headers, valueMatch{name: name, re: c})
		}
		out = append(out, rm)
	}
	return out, errors.Join(errs...)
}

// headerMaps flattens SMI's header conditions: {name: regex} or [{name: regex}, ...].
func headerMaps(v any) map[string]string {
	out := map[string]string{}
	add := func(m map[string]any) {
		for k, v := range m {
			if s, ok := v.(string); ok {
				out[k] = s
			}
		}
	}
	switch h := v.(type) {
	case map[string]any:
		add(h)
	case []any:
		for _, it := range h {
			if m, ok := it.(map[string]any); ok {
				add(m)
			}
		}
	}
	return out
}

// compileHTTPRoute adds the entries of a Gateway API HTTPRoute to t, under every Service of
// namespace it names as a parent (GAMMA: parentRefs with group "" or "core" and kind Service).
// A rule without matches matches every request (path prefix "/"); a rule without backendRefs
// sends requests to the parent Service, as Linkerd does; backendRefs of another kind or
// namespace are invalid (Gateway API's 500 when chosen).
func compileHTTPRoute(t *routeTable, namespace string, obj *unstructured.Unstructured, reuse reuseFunc) error {
	spec, _, _ := unstructured.NestedMap(obj.Object, "spec")
	parents := map[string][]int64{}
	refs, _ := spec["parentRefs"].([]any)
	for _, it := range refs {
		ref, _ := it.(map[string]any)
		group, _ := ref["group"].(string)
		kind, _ := ref["kind"].(string)
		ns, _ := ref["namespace"].(string)
		name, _ := ref["name"].(string)
		port, _ := ref["port"].(int64)
		if (group == "" || group == "core") && kind == "Service" && (ns == "" || ns == namespace) && name != "" {
			parents[name] = append(parents[name], port)
		}
	}
	if len(parents) == 0 {
		return nil // attached to Gateways or to nothing this mesh routes
	}
	rules, _ := spec["rules"].([]any)
	var errs []error
	for ri, it := range rules {
		rule, _ := it.(map[string]any)
		r := Route{Kind: KindHTTPRoute, Name: obj.GetName(), Generation: obj.GetGeneration(), Rule: ri}
		refs, _ := rule["backendRefs"].([]any)
		backends := make([]backendWeight, 0, len(refs))
		for _, it := range refs {
			backends = append(backends, backendRef(it, namespace))
		}
		p := reuse(obj, r, backends)
		matches, _ := rule["matches"].([]any)
		if len(matches) == 0 {
			matches = []any{map[string]any{}}
		}
		for mi, it := range matches {
			m, err := httpRouteMatch(it)
			if err != nil {
				errs = append(errs, fmt.Errorf("spec.rules[%d].matches[%d]: %w", ri, mi, err))
			}
			for parent, ports := range parents {
				for _, port := range ports {
					t.http[parent] = append(t.http[parent], &httpEntry{route: r, port: port, match: m, picker: p,
						parent: len(refs) == 0, created: obj.GetCreationTimestamp().Time, name: obj.GetName(), index: mi})
				}
			}
		}
	}
	return errors.Join(errs...)
}

// backendRef reads one weighted backendRef (weight defaults to 1).
func backendRef(v any, namespace string) backendWeight {
	ref, _ := v.(map[string]any)
	group, _ := ref["group"].(string)
	kind, _ := ref["kind"].(string)
	ns, _ := ref["namespace"].(string)
	name, _ := ref["name"].(string)
	w := int64(1)
	if v, ok := ref["weight"].(int64); ok {
		w = v
	}
	b := backendWeight{milli: max(0, w) * 1000}
	if (group == "" || group == "core") && (kind == "" || kind == "Service") && (ns == "" || ns == namespace) {
		b.service = name
	}
	return b
}

// httpRouteMatch reads an HTTPRouteMatch: path (Exact, PathPrefix, RegularExpression; default
// PathPrefix "/"), headers and queryParams (Exact or RegularExpression), method.
func httpRouteMatch(v any) (requestMatch, error) {
	m, _ := v.(map[string]any)
	rm := requestMatch{path: pathMatch{kind: pathPrefix, value: "/"}}
	var errs []error
	if p, ok := m["path"].(map[string]any); ok {
		typ, _ := p["type"].(string)
		val, _ := p["value"].(string)
		if val == "" {
			val = "/"
		}
		switch typ {
		case "Exact":
			rm.path = pathMatch{kind: pathExact, value: val}
		case "RegularExpression":
			re, err := anchored(val)
			errs = append(errs, err)
			rm.path = pathMatch{kind: pathRegex, value: val, re: re}
		case "", "PathPrefix":
			rm.path = pathMatch{kind: pathPrefix, value: val}
		default:
			errs = append(errs, fmt.Errorf("path type %q is not supported", typ))
		}
	}
	if method, _ := m["method"].(string); method != "" {
		rm.methods = []string{method}
	}
	for _, f := range []struct {
		key string
		dst *[]valueMatch
	}{{"headers", &rm.headers}, {"queryParams", &rm.query}} {
		items, _ := m[f.key].([]any)
		for _, it := range items {
			vm, err := valueMatchOf(it)
			errs = append(errs, err)
			*f.dst = append(*f.dst, vm)
		}
	}
	err := errors.Join(errs...)
	rm.invalid = err != nil
	return rm, err
}

func valueMatchOf(v any) (valueMatch, error) {
	m, _ := v.(map[string]any)
	typ, _ := m["type"].(string)
	name, _ := m["name"].(string)
	val, _ := m["value"].(string)
	switch typ {
	case "", "Exact":
		return valueMatch{name: name, exact: val}, nil
	case "RegularExpression":
		re, err := anchored(val)
		return valueMatch{name: name, re: re}, err
	}
	return valueMatch{name: name}, fmt.Errorf("%s match type %q is not supported", strings.ToLower(name), typ)
}
