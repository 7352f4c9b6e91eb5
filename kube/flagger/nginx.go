package flagger

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/canarykit/canarykit/canary"
)

// ingressVersions are the apiVersions Ingresses were served at before networking.k8s.io/v1:
// Flagger reads an ingressRef by name alone, so a Canary naming one of them (as Flagger's
// NGINX tutorial did before May 2021) gets the same Ingress, as v1.
var ingressVersions = []string{"networking.k8s.io/v1beta1", "extensions/v1beta1"}

// decodeIngressRef reads spec.ingressRef: a networking.k8s.io/v1 Ingress in the Canary's
// namespace, by name; an earlier Ingress apiVersion is read as v1, with a Note.
func decodeIngressRef(d *decoder, ref *object, m *Canary) string {
	switch v := ref.str("apiVersion"); {
	case slices.Contains(ingressVersions, v):
		m.Notes = append(m.Notes, fmt.Sprintf("spec.ingressRef.apiVersion %s is read as networking.k8s.io/v1", shown(v)))
	case v != "" && v != "networking.k8s.io/v1":
		d.fail(ref.at("apiVersion"), "must be networking.k8s.io/v1 (or the earlier %s, read as v1), got %s", strings.Join(ingressVersions, " or "), shown(v))
	}
	if k := ref.str("kind"); k != "" && k != "Ingress" {
		d.fail(ref.at("kind"), "must be Ingress, got %s", shown(k))
	}
	name := ref.name("name", true)
	if len(name) > 253-len("-canary") {
		d.fail(ref.at("name"), "too long: the canary Ingress %s-canary must fit in 253 characters", shown(name))
	}
	ref.done()
	return name
}

// CheckNGINX reports what NGINX ingress routing needs of the Canary and it does not give, as
// loading does for spec.provider nginx: for a Canary the driver routes by NGINX without its
// saying so (the driver's default router), and one built by hand. Errors wrap
// canary.ErrInvalidSpec and name the field.
func (m *Canary) CheckNGINX() error {
	d := &decoder{}
	key := "analysis"
	if m.legacyAnalysis {
		key = "canaryAnalysis"
	}
	checkNGINX(d, key, m)
	return d.err()
}

// checkNGINX reports what NGINX routing needs and cannot do: spec.ingressRef is required, and
// ingress-nginx matches one header (canary-by-header, with an exact value or a pattern) and one
// cookie by name (canary-by-cookie, under the key cookie, lowercase, as Flagger reads it),
// each its own match entry.
func checkNGINX(d *decoder, key string, m *Canary) {
	if m.Target.Ingress == "" {
		d.fail("spec.ingressRef", "required with NGINX routing (provider nginx, or the driver's default router): the Ingress in front of service %s, which canarykit copies to <name>-canary",
			m.Target.ApexService())
	}
	var header, cookie string
	for i, mt := range m.Spec.Match {
		path := fmt.Sprintf("spec.%s.match[%d]", key, i)
		if len(mt.Headers) != 1 {
			d.fail(path+".headers", "provider nginx matches one header or one cookie per match entry, got %d conditions", len(mt.Headers))
			continue
		}
		for _, name := range slices.Sorted(maps.Keys(mt.Headers)) {
			hp, sm := canary.FieldPath(path+".headers", name), mt.Headers[name]
			switch {
			case name != "cookie" && strings.EqualFold(name, "cookie"):
				// Flagger's NGINX router reads a cookie under "cookie" alone; any other
				// spelling is a header condition on the whole Cookie header there
				d.fail(hp, "provider nginx matches a cookie under the key cookie, lowercase, as Flagger reads it: under %s Flagger matches the whole Cookie header (canary-by-header); write cookie", shown(name))
			case name == "cookie":
				switch {
				case sm.Exact == "":
					d.fail(hp, "provider nginx matches a cookie by name: write exact: <cookie name> (requests whose cookie of that name is \"always\" go to the canary)")
				case cookie != "":
					d.fail(hp, "provider nginx matches one cookie; %s is matched already", shown(cookie))
				default:
					cookie = sm.Exact
				}
			case header != "":
				d.fail(hp, "provider nginx matches one header; %s is matched already", shown(header))
			default:
				header = name
			}
		}
	}
}
