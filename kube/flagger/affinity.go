package flagger

import (
	"fmt"
	"time"

	"github.com/canarykit/canarykit/canary"
)

// decodeSessionAffinity reads analysis.sessionAffinity (Flagger's SessionAffinity) into the
// spec: cookieName, primaryCookieName, maxAge (seconds; 0: Flagger's default, a day), domain,
// httpOnly, partitioned, path, sameSite and secure. The engine's checks (canary.Spec.Validate)
// then hold every value to what a cookie and a Set-Cookie header can carry, by path.
func decodeSessionAffinity(a *object, s *canary.Spec) {
	if !a.has("sessionAffinity") {
		a.ignore("sessionAffinity") // null: none
		return
	}
	o := a.obj("sessionAffinity")
	s.SessionAffinity = &canary.SessionAffinity{
		CookieName:        o.str("cookieName"),
		PrimaryCookieName: o.str("primaryCookieName"),
		MaxAge:            time.Duration(o.int("maxAge")) * time.Second,
		Domain:            o.str("domain"),
		Path:              o.str("path"),
		SameSite:          o.str("sameSite"),
		HTTPOnly:          o.bool("httpOnly"),
		Partitioned:       o.bool("partitioned"),
		Secure:            o.bool("secure"),
	}
	o.done()
}

// checkSessionAffinity does with a Canary's session affinity what Flagger does, or refuses it
// by path where canarykit cannot: with A/B testing it is ignored with a note (Flagger's A/B
// routes replace the cookie routes); a provider whose route cannot match a cookie or set one
// (an SMI TrafficSplit, ingress-nginx, the Kubernetes Services) is refused. With no
// spec.provider the driver's default router decides (the driver refuses one that cannot).
func checkSessionAffinity(d *decoder, key string, m *Canary) {
	s, path := &m.Spec, "spec."+key+".sessionAffinity"
	if s.SessionAffinity == nil {
		return
	}
	if len(s.Match) > 0 && s.Iterations > 0 {
		m.Notes = append(m.Notes, fmt.Sprintf("%s is ignored with A/B testing (spec.%s.match): matching requests go to the canary already, and Flagger's A/B routes replace the cookie routes", path, key))
		s.SessionAffinity = nil
		return
	}
	switch m.Router.Kind {
	case RouterIstio, RouterHTTPRoute, RouterDefault:
		return
	}
	d.fail(path, "provider %s cannot route by cookie nor set one (%s); session affinity needs provider istio or gatewayapi:<version>",
		shown(m.Router.Provider), mirrorlessRoute(m.Router.Kind))
}
