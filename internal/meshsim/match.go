package meshsim

import (
	"net/http"
	"regexp"
	"strings"
)

// requestMatch is one set of conditions a request must meet, all of them: an SMI
// HTTPRouteGroup match or a Gateway API HTTPRouteMatch.
type requestMatch struct {
	methods []string // any of them; none: any method
	path    pathMatch
	headers []valueMatch
	query   []valueMatch
	invalid bool // a condition could not be compiled: never matches
}

type pathKind int

// Path match kinds in Gateway API precedence order (regular expressions last, as the spec
// leaves them to the implementation).
const (
	pathAny pathKind = iota
	pathExact
	pathPrefix
	pathRegex
)

type pathMatch struct {
	kind  pathKind
	value string
	re    *regexp.Regexp
}

// valueMatch matches a header or query parameter: exactly, or by a regular expression.
type valueMatch struct {
	name      string
	exact     string
	re        *regexp.Regexp
	prefix    string // with hasPrefix: Istio's prefix match
	hasPrefix bool
}

// anchored compiles a regular expression that must match the whole value, as Envoy-based
// meshes and Flagger's generated matches expect ("^(.*?;)?(canary=always)(;.*)?$").
func anchored(expr string) (*regexp.Regexp, error) {
	return regexp.Compile(`^(?:` + expr + `)$`)
}

func (m *requestMatch) matches(r *http.Request) bool {
	if m.invalid {
		return false
	}
	if len(m.methods) > 0 && !anyEqual(m.methods, r.Method) {
		return false
	}
	if !m.path.matches(r.URL.Path) {
		return false
	}
	for _, h := range m.headers {
		if !h.matches(r.Header.Values(h.name)) {
			return false
		}
	}
	if len(m.query) > 0 {
		q := r.URL.Query()
		for _, p := range m.query {
			if !p.matches(q[p.name]) {
				return false
			}
		}
	}
	return true
}

func anyEqual(set []string, v string) bool {
	for _, s := range set {
		if s == "*" || strings.EqualFold(s, v) {
			return true
		}
	}
	return false
}

func (p pathMatch) matches(path string) bool {
	if path == "" {
		path = "/"
	}
	switch p.kind {
	case pathExact:
		return path == p.value
	case pathPrefix:
		// Element-wise, as Gateway API defines it: /foo matches /foo and /foo/bar, not /foobar.
		v := strings.TrimSuffix(p.value, "/")
		return v == "" || path == v || strings.HasPrefix(path, v+"/")
	case pathRegex:
		return p.re.MatchString(path)
	}
	return true
}

// matches reports whether the first of values (a header's or a query parameter's) matches.
func (v valueMatch) matches(values []string) bool {
	if len(values) == 0 {
		return false
	}
	if v.re != nil {
		return v.re.MatchString(values[0])
	}
	if v.hasPrefix {
		return strings.HasPrefix(values[0], v.prefix)
	}
	return values[0] == v.exact
}
