package gatewayapi

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh/istioapi"
)

// Bounds of Gateway API v1.4's HTTPRoute CRD on a rule's filters.
const (
	// MaxFilters is the most filters one rule holds.
	MaxFilters = 16
	// MaxMirrors is the most RequestMirror filters a Canary's spec.service.mirror gives a
	// rule: MaxFilters less the others a rule may carry (the service's two header modifiers,
	// its URL rewrite and CORS filter, a mirrored step's mirror). The CRD does not limit the
	// RequestMirror filters of a rule otherwise.
	MaxMirrors = MaxFilters - 5
	// MaxCORSItems is the most origins, headers or exposed headers a CORS filter lists.
	MaxCORSItems = 64
	// MaxOriginLen bounds a CORS origin.
	MaxOriginLen = 253
)

// Mirror is one of a Canary's spec.service.mirror entries: the backendRef of a RequestMirror
// filter, a Kubernetes Service (Group "" and Kind "Service" or "", Gateway API's defaults),
// in the route's namespace unless Namespace names another, at Port. Every request the rule
// routes is copied to it; its responses are dropped.
type Mirror struct {
	Group, Kind, Namespace, Name string
	Port                         int32
}

// mirrors checks s.Mirror: a core Service (other kinds are implementation-specific in Gateway
// API, and canarykit knows Services only), a Service name and a namespace as Kubernetes
// writes them, a port, each backend once, and no more than MaxMirrors.
func (c *checker) mirrors(ms []Mirror) {
	if len(ms) > MaxMirrors {
		c.add("mirror", "at most %d for an HTTPRoute rule (it holds %d filters, the service's own and a mirrored step's included), got %d", MaxMirrors, MaxFilters, len(ms))
		return
	}
	for i, m := range ms {
		at := fmt.Sprintf("mirror[%d].backendRef", i)
		if m.Group != "" {
			c.add(at+".group", "canarykit mirrors to a Kubernetes Service (group \"\", the core group), got %s", quote(m.Group))
		}
		if m.Kind != "" && m.Kind != "Service" {
			c.add(at+".kind", "canarykit mirrors to a Kubernetes Service (kind Service), got %s", quote(m.Kind))
		}
		if !canary.IsDNSLabel(m.Name) || m.Name[0] < 'a' {
			c.add(at+".name", "%s is not a Service name (a lowercase RFC 1035 label: letters, digits and '-', starting with a letter)", quote(m.Name))
		}
		if m.Namespace != "" && !canary.IsDNSLabel(m.Namespace) {
			c.add(at+".namespace", "%s is not a namespace name (a lowercase RFC 1123 label)", quote(m.Namespace))
		}
		if m.Port < 1 || m.Port > 65535 {
			c.add(at+".port", "a Service backend needs its port, 1..65535, got %d", m.Port)
		}
		if slices.ContainsFunc(ms[:i], func(o Mirror) bool { return o.Namespace == m.Namespace && o.Name == m.Name && o.Port == m.Port }) {
			c.add(at, "%s port %d is listed twice (each entry copies every request once more)", quote(m.Name), m.Port)
		}
	}
}

// MirrorConflicts is what of s.Mirror names one of services (the target's apex, primary and
// canary Services) in namespace (the route's), at paths relative to the service: a mirror
// to the apex Service, the route's own parent, would route its copies back through the
// route; one to the primary would send it every request twice; one to the canary would copy
// every request to it whatever the step's weights, and read back as a mirrored step.
func (s Service) MirrorConflicts(namespace string, services ...string) []canary.FieldError {
	c := &checker{}
	for i, m := range s.Mirror {
		if (m.Namespace == "" || m.Namespace == namespace) && slices.Contains(services, m.Name) {
			c.add(fmt.Sprintf("mirror[%d].backendRef.name", i), "%s is one of the Services the canary routes between (%s): a mirror there would skew or loop its traffic (spec.analysis.mirror copies requests to the canary during a mirrored step)",
				quote(m.Name), strings.Join(services, ", "))
		}
	}
	return c.problems
}

// corsOrigin is Gateway API's CORSOrigin: "*", or scheme://host with an optional port,
// where host may hold "*" wildcards.
var corsOrigin = regexp.MustCompile(`^(?:\*|[a-zA-Z][a-zA-Z0-9+\-.]+://[^:/?#]+(?::[0-9]{1,5})?)$`)

// cors checks an Istio CORS policy as Gateway API's CORS filter takes it (see CORSOrigins):
// origins as Gateway API writes them, "*" alone, each origin, method and header once, a
// max age of at most math.MaxInt32 seconds. Istio's checks (istioapi) cover methods, header
// names and whole seconds.
func (c *checker) cors(p *istioapi.CorsPolicy) {
	if p == nil {
		return
	}
	const field = "corsPolicy"
	for i, o := range p.AllowOrigins {
		if o.Exact == "" {
			c.add(fmt.Sprintf("%s.allowOrigins[%d]", field, i), "Gateway API's CORS filter takes origins (scheme://host[:port], '*' wildcards in the host), not a prefix or regular expression: use exact, or allowOrigin")
		}
	}
	origins, at := CORSOrigins(p)
	if len(origins) > MaxCORSItems {
		c.add(field, "a Gateway API CORS filter lists at most %d origins, allowOrigin and allowOrigins together give %d", MaxCORSItems, len(origins))
		return
	}
	for i, o := range origins {
		switch {
		case o == "": // Istio's check
		case len(o) > MaxOriginLen:
			c.add(at[i], "at most %d bytes, got %d", MaxOriginLen, len(o))
		case !corsOrigin.MatchString(o):
			c.add(at[i], "%s is not an origin as Gateway API's CORS filter takes it: scheme://host[:port] (e.g. https://example.com, https://*.example.com), or '*'", quote(o))
		case o == "*" && len(origins) > 1:
			c.add(at[i], "'*' allows every origin: list it alone")
		case slices.Contains(origins[:i], o):
			c.add(at[i], "%s is listed twice", quote(o))
		}
	}
	once := func(key string, vs []string) {
		for i, v := range vs {
			if slices.ContainsFunc(vs[:i], func(o string) bool { return strings.EqualFold(o, v) }) {
				c.add(fmt.Sprintf("%s.%s[%d]", field, key, i), "%s is listed twice", quote(v))
			}
		}
	}
	once("allowMethods", p.AllowMethods)
	once("allowHeaders", p.AllowHeaders)
	once("exposeHeaders", p.ExposeHeaders)
	if time.Duration(p.MaxAge) > time.Duration(math.MaxInt32)*time.Second {
		c.add(field+".maxAge", "at most %d seconds in a Gateway API CORS filter, got %s", math.MaxInt32, time.Duration(p.MaxAge))
	}
}

// CORSOrigins are the origins a Gateway API CORS filter allows for an Istio CORS policy:
// allowOrigin's (Flagger maps those), then allowOrigins' exact ones (which Flagger leaves
// out, with an error in its log), with each one's path in the policy.
func CORSOrigins(p *istioapi.CorsPolicy) (origins, paths []string) {
	for i, o := range p.AllowOrigin {
		origins, paths = append(origins, o), append(paths, fmt.Sprintf("corsPolicy.allowOrigin[%d]", i))
	}
	for i, o := range p.AllowOrigins {
		if o.Exact != "" {
			origins, paths = append(origins, o.Exact), append(paths, fmt.Sprintf("corsPolicy.allowOrigins[%d].exact", i))
		}
	}
	return origins, paths
}
