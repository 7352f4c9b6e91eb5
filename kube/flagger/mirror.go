package flagger

import (
	"fmt"

	"github.com/canarykit/canarykit/canary"
)

// decodeMirror reads analysis.mirror and analysis.mirrorWeight (Flagger's traffic mirroring)
// into the spec. mirrorWeight is a percentage, 0..100 (0: every request), whatever else is
// set.
func decodeMirror(a *object, s *canary.Spec) {
	s.Mirror = a.bool("mirror")
	s.MirrorWeight = int(a.intIn("mirrorWeight", 0, 100))
}

// checkMirror does with a Canary's mirroring what Flagger does, or refuses it by path where
// canarykit cannot: mirrorWeight without mirror, and mirror with A/B testing (Flagger's
// runAB never mirrors), are ignored with a note; a provider whose route cannot copy requests
// (an SMI TrafficSplit, ingress-nginx, the Kubernetes Services) is refused, since the
// mirrored step would analyse a canary no request reaches. With no spec.provider the
// driver's default router decides (the driver refuses one that cannot mirror).
func checkMirror(d *decoder, key string, m *Canary) {
	s, path := &m.Spec, "spec."+key+"."
	if !s.Mirror {
		if s.MirrorWeight != 0 {
			m.Notes = append(m.Notes, fmt.Sprintf("%smirrorWeight %d is ignored without %smirror: true, as in Flagger", path, s.MirrorWeight, path))
			s.MirrorWeight = 0
		}
		return
	}
	if len(s.Match) > 0 && s.Iterations > 0 {
		m.Notes = append(m.Notes, fmt.Sprintf("%smirror is ignored with A/B testing (%smatch): matching requests go to the canary itself, and Flagger mirrors none", path, path))
		s.Mirror, s.MirrorWeight = false, 0
		return
	}
	switch m.Router.Kind {
	case RouterIstio, RouterHTTPRoute, RouterDefault:
		return
	}
	d.fail(path+"mirror", "provider %s cannot copy requests to the canary (%s); traffic mirroring needs provider istio or gatewayapi:<version>",
		shown(m.Router.Provider), mirrorlessRoute(m.Router.Kind))
}

// mirrorlessRoute names the route of a router kind that cannot mirror.
func mirrorlessRoute(k RouterKind) string {
	switch k {
	case RouterSMI:
		return "an SMI TrafficSplit only splits"
	case RouterNGINX:
		return "an ingress-nginx canary Ingress only splits"
	case RouterKubernetes:
		return "the Kubernetes router only switches Services"
	}
	return "its route only splits"
}
