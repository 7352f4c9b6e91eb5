package canary

import (
	"context"
	"crypto/rand"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// SessionAffinity keeps a client that reached the canary on the canary for the rest of the
// release (Flagger's analysis.sessionAffinity): while the canary has weight, its responses on
// the weighted route set a cookie, and requests that carry it go to the canary whatever the
// weights. With PrimaryCookieName, the primary's responses set a cookie of their own, valid
// for one Interval, that keeps those clients on the primary. When the release ends (weight 0:
// promotion, rollback, restart) the cookie is expired: requests that carry it go to the
// primary, whose answer deletes it. The router must support it (ErrSessionAffinityUnsupported
// otherwise).
type SessionAffinity struct {
	// CookieName is the canary cookie's name, an RFC 6265 token. Required.
	CookieName string
	// PrimaryCookieName is the primary cookie's name, an RFC 6265 token other than
	// CookieName; empty: the primary sets no cookie.
	PrimaryCookieName string
	// MaxAge is how long the canary cookie lives, in whole seconds. Default 24h (Flagger's
	// 86400 seconds).
	MaxAge time.Duration
	// Domain, Path, SameSite (Strict, Lax or None), HTTPOnly, Partitioned and Secure are the
	// Set-Cookie attributes of both cookies; empty or false: not set.
	Domain      string
	Path        string
	SameSite    string
	HTTPOnly    bool
	Partitioned bool
	Secure      bool
}

// DefaultCookieMaxAge is the canary cookie's lifetime when SessionAffinity.MaxAge is 0.
const DefaultCookieMaxAge = 24 * time.Hour

// Bounds on a session affinity's settings.
const (
	maxCookieName   = 128
	maxCookieAttr   = 256
	maxCookieMaxAge = 400 * 24 * time.Hour // browsers cap Max-Age at 400 days
)

// cookieValueLen is the length of a generated cookie value (crypto/rand.Text: 26 base32
// characters, 130 bits).
const cookieValueLen = 26

// Affinity is the session affinity a router writes for a target (Target.Affinity): the spec's
// settings and the release's cookies, as "<name>=<value>". The Rollout fills it before every
// call of a MeshRouter; routers never make cookies up.
type Affinity struct {
	SessionAffinity
	// PrimaryMaxAge is the primary cookie's lifetime: the analysis interval, as in Flagger.
	PrimaryMaxAge time.Duration
	// Cookie is the release's canary cookie while the canary has weight; empty otherwise.
	Cookie string
	// PrimaryCookie is the primary cookie (with PrimaryCookieName); empty before the first
	// weighted step.
	PrimaryCookie string
	// PreviousCookie is the canary cookie of the last release that ended, which a route at
	// weight 0 expires; empty when there is none.
	PreviousCookie string
}

// Expiring is the cookie a route at weight 0 expires: Cookie if set (the release is ending
// and its status not saved yet), else PreviousCookie.
func (a *Affinity) Expiring() string {
	if a.Cookie != "" {
		return a.Cookie
	}
	return a.PreviousCookie
}

// SetCookie is the value of the Set-Cookie header that gives a client cookie ("<name>=<value>")
// for maxAge, with the attributes, as Flagger's BuildCookie writes it:
// "<cookie>; Max-Age=<seconds>[; Domain=..][; HttpOnly][; Partitioned][; Path=..][; SameSite=..][; Secure]".
func (a *Affinity) SetCookie(cookie string, maxAge time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s; Max-Age=%d", cookie, int64(maxAge/time.Second))
	if a.Domain != "" {
		b.WriteString("; Domain=" + a.Domain)
	}
	if a.HTTPOnly {
		b.WriteString("; HttpOnly")
	}
	if a.Partitioned {
		b.WriteString("; Partitioned")
	}
	if a.Path != "" {
		b.WriteString("; Path=" + a.Path)
	}
	if a.SameSite != "" {
		b.WriteString("; SameSite=" + a.SameSite)
	}
	if a.Secure {
		b.WriteString("; Secure")
	}
	return b.String()
}

// CanarySetCookie is the Set-Cookie value of the canary's responses on the weighted route.
func (a *Affinity) CanarySetCookie() string { return a.SetCookie(a.Cookie, a.cookieMaxAge()) }

// PrimarySetCookie is the Set-Cookie value of the primary's responses on the weighted route.
func (a *Affinity) PrimarySetCookie() string { return a.SetCookie(a.PrimaryCookie, a.PrimaryMaxAge) }

// ExpireCookie is the Set-Cookie value that deletes cookie: "<cookie>; Max-Age=-1", as
// Flagger writes it.
func ExpireCookie(cookie string) string { return cookie + "; Max-Age=-1" }

func (a *Affinity) cookieMaxAge() time.Duration {
	if a.MaxAge == 0 {
		return DefaultCookieMaxAge
	}
	return a.MaxAge
}

// CookieRegex is the regular expression of a Cookie header that carries cookie
// ("<name>=<value>"), in Flagger's shape ".*<name>.*<value>.*", its name and value escaped
// (regexp.QuoteMeta): a header holding it matches whether the data plane matches the whole
// value (Envoy) or searches it.
func CookieRegex(cookie string) string {
	name, value, _ := strings.Cut(cookie, "=")
	return ".*" + regexp.QuoteMeta(name) + ".*" + regexp.QuoteMeta(value) + ".*"
}

// ValidCookie reports whether cookie is "<token>=<value>" as the Rollout makes them: a
// cookie name (an RFC 6265 token of at most 128 bytes) and a value of letters and digits.
// Routers check cookies with it before writing them.
func ValidCookie(cookie string) error {
	name, value, ok := strings.Cut(cookie, "=")
	if !ok || cookieTokenProblem(name) != "" || value == "" || len(value) > 64 {
		return fmt.Errorf("%w: session affinity cookie %.80q is not <name>=<value>", ErrInvalidSpec, cookie)
	}
	for _, c := range value {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return fmt.Errorf("%w: session affinity cookie %.80q has a value that is not letters and digits", ErrInvalidSpec, cookie)
		}
	}
	return nil
}

// Validate checks a's settings and cookies before a router writes them: a canary cookie
// named CookieName, a primary one named PrimaryCookieName, a previous one of any name (the
// spec's may have changed since).
func (a *Affinity) Validate() error {
	check := func(what, cookie, name string) error {
		if cookie == "" {
			return nil
		}
		if err := ValidCookie(cookie); err != nil {
			return err
		}
		if n, _, _ := strings.Cut(cookie, "="); n != name {
			return fmt.Errorf("%w: %s session affinity cookie %.80q is not named %q", ErrInvalidSpec, what, cookie, name)
		}
		return nil
	}
	var p problems
	a.SessionAffinity.validate(&p, "sessionAffinity.")
	if a.PrimaryMaxAge < 0 || a.PrimaryMaxAge > maxCookieMaxAge {
		p.add("affinity.primaryMaxAge", "must be 0..%d seconds, got %s", int64(maxCookieMaxAge/time.Second), a.PrimaryMaxAge)
	}
	if len(p) > 0 {
		return p.err()
	}
	if err := check("canary", a.Cookie, a.CookieName); err != nil {
		return err
	}
	if err := ValidCookie(a.PreviousCookie); a.PreviousCookie != "" && err != nil {
		return err
	}
	if a.PrimaryCookieName == "" {
		return nil
	}
	return check("primary", a.PrimaryCookie, a.PrimaryCookieName)
}

// cookieTokenProblem says why s is not an RFC 6265 cookie name (an RFC 7230 token), or "".
func cookieTokenProblem(s string) string {
	if s == "" {
		return "is empty"
	}
	if len(s) > maxCookieName {
		return fmt.Sprintf("is longer than %d bytes", maxCookieName)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return fmt.Sprintf("has %q, which a cookie name (an RFC 6265 token) cannot hold", string(rune(c)))
	}
	return ""
}

// cookieAttrProblem says why s cannot be a Set-Cookie attribute value (Domain, Path), or "".
func cookieAttrProblem(s string) string {
	if len(s) > maxCookieAttr {
		return fmt.Sprintf("is longer than %d bytes", maxCookieAttr)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || c >= 0x80 || c == ';' || c == ',' || c == ' ' || c == '"' || c == '\\' {
			return fmt.Sprintf("has %q, which a Set-Cookie attribute cannot hold", string(rune(c)))
		}
	}
	return ""
}

// validate checks s, reporting problems under prefix (e.g. "analysis.sessionAffinity.").
func (s SessionAffinity) validate(p *problems, prefix string) {
	if why := cookieTokenProblem(s.CookieName); why != "" {
		p.add(prefix+"cookieName", "%.80q %s", s.CookieName, why)
	}
	if s.PrimaryCookieName != "" {
		if why := cookieTokenProblem(s.PrimaryCookieName); why != "" {
			p.add(prefix+"primaryCookieName", "%.80q %s", s.PrimaryCookieName, why)
		} else if s.PrimaryCookieName == s.CookieName {
			p.add(prefix+"primaryCookieName", "must differ from cookieName %q", s.CookieName)
		}
	}
	switch {
	case s.MaxAge < 0:
		p.add(prefix+"maxAge", "must not be negative, got %s", s.MaxAge)
	case s.MaxAge%time.Second != 0:
		p.add(prefix+"maxAge", "must be whole seconds, got %s", s.MaxAge)
	case s.MaxAge > maxCookieMaxAge:
		p.add(prefix+"maxAge", "must be at most %d seconds (400 days), got %d", int64(maxCookieMaxAge/time.Second), int64(s.MaxAge/time.Second))
	}
	if why := cookieAttrProblem(s.Domain); why != "" {
		p.add(prefix+"domain", "%.80q %s", s.Domain, why)
	}
	if why := cookieAttrProblem(s.Path); why != "" {
		p.add(prefix+"path", "%.80q %s", s.Path, why)
	}
	switch s.SameSite {
	case "", "Strict", "Lax", "None":
	default:
		p.add(prefix+"sameSite", "must be Strict, Lax or None, got %.80q", s.SameSite)
	}
}

// cookieOK reports whether c is a valid cookie named name ("": any name).
func cookieOK(c, name string) bool {
	if ValidCookie(c) != nil {
		return false
	}
	n, _, _ := strings.Cut(c, "=")
	return name == "" || n == name
}

// newCookie makes a cookie "<name>=<random>" from crypto/rand.
func newCookie(name string) string { return name + "=" + rand.Text() }

// routeTarget is the target as routers get it: with the session affinity's cookies from the
// status.
func (u *run) routeTarget() Target {
	t := u.r.target
	if a := u.r.spec.SessionAffinity; a != nil {
		ok := func(c, name string) string {
			if cookieOK(c, name) {
				return c
			}
			return ""
		}
		t.Affinity = &Affinity{SessionAffinity: *a, PrimaryMaxAge: u.r.spec.Interval.Truncate(time.Second),
			Cookie: ok(u.st.SessionAffinityCookie, a.CookieName), PrimaryCookie: ok(u.st.PrimarySessionAffinityCookie, a.PrimaryCookieName),
			PreviousCookie: ok(u.st.PreviousSessionAffinityCookie, "")}
		if t.Affinity.PrimaryMaxAge < time.Second {
			t.Affinity.PrimaryMaxAge = time.Second
		}
	}
	return t
}

// affinityFor brings the status' cookies in line with a route at w, as Flagger does when it
// routes: with canary weight, the release's cookie (and the primary's) is made once; at
// weight 0 the release's cookie becomes the previous one, which the route expires. It reports
// whether a cookie was made (the status must be saved before the route carries it).
func (u *run) affinityFor(w Weights) (made bool) {
	a := u.r.spec.SessionAffinity
	if a == nil {
		return false
	}
	st := &u.st
	// the status may have been written by anyone: a cookie that is not one the Rollout makes,
	// or named otherwise than the spec now says, is dropped (and made again if needed)
	for _, c := range []struct {
		v    *string
		name string
	}{{&st.SessionAffinityCookie, a.CookieName}, {&st.PrimarySessionAffinityCookie, a.PrimaryCookieName}, {&st.PreviousSessionAffinityCookie, ""}} {
		if *c.v != "" && !cookieOK(*c.v, c.name) {
			*c.v = ""
			u.dirty = true
		}
	}
	if w.Canary == 0 {
		if st.SessionAffinityCookie != "" {
			st.PreviousSessionAffinityCookie, st.SessionAffinityCookie = st.SessionAffinityCookie, ""
			u.dirty = true
		}
		return false
	}
	if st.SessionAffinityCookie == "" {
		st.SessionAffinityCookie = newCookie(a.CookieName)
		made = true
	}
	if a.PrimaryCookieName != "" && st.PrimarySessionAffinityCookie == "" {
		st.PrimarySessionAffinityCookie = newCookie(a.PrimaryCookieName)
		made = true
	}
	if made {
		u.dirty = true
	}
	return made
}

// cookieState is the status' cookies, to tell whether a route must be written again.
type cookieState struct{ cookie, primary, previous string }

func (u *run) cookies() cookieState {
	return cookieState{u.st.SessionAffinityCookie, u.st.PrimarySessionAffinityCookie, u.st.PreviousSessionAffinityCookie}
}

// affinityOfRoute brings the status' cookies in line with the weights read from the route
// when a Run adopts it: a route at weight 0 expires the release's cookie (the last process
// stopped before saving that), and a route with canary weight but no cookie in the status (a
// status written without one) gets one, saved, then written on the route.
func (u *run) affinityOfRoute(ctx context.Context, w Weights) error {
	if u.r.spec.SessionAffinity == nil || !u.affinityFor(w) {
		return nil
	}
	if err := u.flush(ctx); err != nil {
		return err
	}
	return wrapOp("set weights", u.r.router.SetWeights(ctx, u.routeTarget(), w))
}
