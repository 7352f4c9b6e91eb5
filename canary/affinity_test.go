package canary_test

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// affinitySpec is seedSpec (steps of 5 to 50) with session affinity and a primary cookie.
func affinitySpec() canary.Spec {
	s := seedSpec()
	s.StepWeight = 25
	s.SessionAffinity = &canary.SessionAffinity{CookieName: "canary", PrimaryCookieName: "primary", SameSite: "Lax"}
	return s
}

var generated = regexp.MustCompile(`^[A-Z2-7]{26}$`)

// cookieOf checks cookie is "<name>=<26 random base32 characters>" and returns it.
func cookieOf(t *testing.T, name, cookie string) string {
	t.Helper()
	n, v, ok := stringsCut(cookie, "=")
	require.True(t, ok, "cookie %q", cookie)
	require.Equal(t, name, n)
	require.Regexp(t, generated, v)
	return cookie
}

func stringsCut(s, sep string) (string, string, bool) {
	for i := 0; i+len(sep) <= len(s); i++ {
		if s[i:i+len(sep)] == sep {
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}

// The canary cookie is made once per release, with the first weighted step, and saved before
// the route carries it; every weighted step routes with it; the step back to weight 0 (the
// promotion) expires it and the status keeps it as the previous cookie. The next release makes
// a new one, and its routes at weight 0 before its first step still expire the last one.
func TestSessionAffinityCookieLifecycle(t *testing.T) {
	env := healthyEnv()
	r := bootstrapped(t, env, affinitySpec(), "v1")
	require.Nil(t, r.Target().Affinity, "Config.Target stays without affinity")
	res := run(t, r)
	requirePromoted(t, env, res, "v1")

	hist, aff := env.Router.History(env.Target), env.Router.Affinities(env.Target)
	require.Len(t, aff, len(hist))
	assert.Equal(t, []canary.Weights{canary.AllPrimary(), canary.CanaryWeight(25), canary.CanaryWeight(50), canary.AllPrimary()}, hist)
	for _, a := range aff {
		require.NotNil(t, a, "every route write carries the session affinity")
		assert.Equal(t, "canary", a.CookieName)
		assert.Equal(t, 24*time.Hour, a.MaxAge, "the default max age")
		assert.Equal(t, 30*time.Second, a.PrimaryMaxAge, "the primary cookie lives one interval")
	}
	assert.Empty(t, aff[0].Cookie, "no cookie at the bootstrap")
	cookie := cookieOf(t, "canary", aff[1].Cookie)
	primary := cookieOf(t, "primary", aff[1].PrimaryCookie)
	assert.Equal(t, cookie, aff[2].Cookie, "one cookie for the whole release")
	assert.Equal(t, primary, aff[2].PrimaryCookie)
	assert.Equal(t, cookie, aff[3].Expiring(), "the step back to the primary expires the release's cookie")

	// saved before the route carried it
	var firstSaved int = -1
	for i, st := range env.Store.Saved() {
		if st.SessionAffinityCookie != "" {
			firstSaved = i
			break
		}
	}
	require.GreaterOrEqual(t, firstSaved, 0)
	assert.Equal(t, 0, env.Store.Saved()[firstSaved].CanaryWeight, "saved before the first weighted step is routed")

	st := env.Store.Current(env.Target)
	assert.Empty(t, st.SessionAffinityCookie, "no cookie once the canary has no weight")
	assert.Equal(t, cookie, st.PreviousSessionAffinityCookie)
	assert.Equal(t, primary, st.PrimarySessionAffinityCookie)

	// the next release
	env.Workload.SetRevision("v2")
	r2, err := env.New(affinitySpec())
	require.NoError(t, err)
	requirePromoted(t, env, run(t, r2), "v2")
	aff = env.Router.Affinities(env.Target)[len(aff):]
	require.Len(t, aff, 3)
	next := cookieOf(t, "canary", aff[0].Cookie)
	assert.NotEqual(t, cookie, next, "a new cookie per release")
	assert.Equal(t, cookie, aff[0].PreviousCookie)
	st = env.Store.Current(env.Target)
	assert.Equal(t, next, st.PreviousSessionAffinityCookie)
	assert.Equal(t, primary, st.PrimarySessionAffinityCookie, "the primary cookie is kept, as Flagger keeps it")
}

// A rollback expires the release's cookie as a promotion does: no route keeps sending the
// clients that reached the failed canary to it.
func TestSessionAffinityRollbackExpiresTheCookie(t *testing.T) {
	env := healthyEnv()
	r := bootstrapped(t, env, affinitySpec(), "v1")
	env.Metrics.Set("request-success-rate", func(s canarytest.Sample) float64 {
		if s.Weight >= 25 {
			return 50
		}
		return 99.9
	})
	res := run(t, r)
	requireRolledBack(t, env, res, "v0")
	aff := env.Router.Affinities(env.Target)
	last := aff[len(aff)-1]
	cookie := cookieOf(t, "canary", aff[1].Cookie)
	assert.Equal(t, cookie, last.Expiring())
	st := env.Store.Current(env.Target)
	assert.Empty(t, st.SessionAffinityCookie)
	assert.Equal(t, cookie, st.PreviousSessionAffinityCookie)
}

// A release resumed by a new Rollout (a restarted driver) keeps the cookie its status holds:
// clients that got it stay on the canary.
func TestSessionAffinityCookieSurvivesResume(t *testing.T) {
	env := healthyEnv()
	r := bootstrapped(t, env, affinitySpec(), "v1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env.OnCall(func(call string) {
		if call == "Metrics.Query" && env.Store.Current(env.Target).CanaryWeight == 25 {
			cancel() // stop the process in the analysis of weight 25
		}
	})
	_, err := r.Run(ctx)
	require.ErrorIs(t, err, context.Canceled)
	env.OnCall(func(string) {})
	st := env.Store.Current(env.Target)
	require.Equal(t, 25, st.CanaryWeight)
	cookie := cookieOf(t, "canary", st.SessionAffinityCookie)

	r2, err := env.New(affinitySpec())
	require.NoError(t, err)
	requirePromoted(t, env, run(t, r2), "v1")
	for _, a := range env.Router.Affinities(env.Target) {
		if a.Cookie != "" {
			assert.Equal(t, cookie, a.Cookie, "the resumed release routes with the saved cookie")
		}
	}
	assert.Equal(t, cookie, env.Store.Current(env.Target).PreviousSessionAffinityCookie)
}

// A status written by someone else with a cookie that is not one the Rollout makes is not
// passed to the router: the release makes its own.
func TestSessionAffinityForeignCookieIsDropped(t *testing.T) {
	env := healthyEnv()
	r := bootstrapped(t, env, affinitySpec(), "v1")
	st := env.Store.Current(env.Target)
	st.PreviousSessionAffinityCookie = "canary=x; Domain=evil\r\nSet-Cookie: a"
	st.SessionAffinityCookie = "canary=.*"
	_, err := env.Store.Save(context.Background(), env.Target, st)
	require.NoError(t, err)
	requirePromoted(t, env, run(t, r), "v1")
	for _, a := range env.Router.Affinities(env.Target) {
		require.NoError(t, a.Validate())
		assert.NotContains(t, a.PreviousCookie, "evil")
		if a.Cookie != "" {
			cookieOf(t, "canary", a.Cookie)
		}
	}
}

// A router that cannot keep sessions on the canary ends Run with
// ErrSessionAffinityUnsupported.
func TestSessionAffinityUnsupportedRouterEndsRun(t *testing.T) {
	env := healthyEnv()
	env.Router.NoSessionAffinity = true
	r, err := env.New(affinitySpec())
	require.NoError(t, err)
	_, err = r.Run(context.Background())
	require.ErrorIs(t, err, canary.ErrSessionAffinityUnsupported)
}

// Every setting is checked by New, each problem under its manifest path.
func TestSessionAffinityValidation(t *testing.T) {
	for name, tc := range map[string]struct {
		a    canary.SessionAffinity
		path string
	}{
		"no cookie name":      {canary.SessionAffinity{}, "analysis.sessionAffinity.cookieName"},
		"cookie name space":   {canary.SessionAffinity{CookieName: "a b"}, "analysis.sessionAffinity.cookieName"},
		"cookie name ;":       {canary.SessionAffinity{CookieName: "a;b"}, "analysis.sessionAffinity.cookieName"},
		"cookie name =":       {canary.SessionAffinity{CookieName: "a=b"}, "analysis.sessionAffinity.cookieName"},
		"same names":          {canary.SessionAffinity{CookieName: "a", PrimaryCookieName: "a"}, "analysis.sessionAffinity.primaryCookieName"},
		"primary name CR":     {canary.SessionAffinity{CookieName: "a", PrimaryCookieName: "b\r"}, "analysis.sessionAffinity.primaryCookieName"},
		"domain ;":            {canary.SessionAffinity{CookieName: "a", Domain: "x.com; Secure"}, "analysis.sessionAffinity.domain"},
		"domain CRLF":         {canary.SessionAffinity{CookieName: "a", Domain: "x.com\r\nX: y"}, "analysis.sessionAffinity.domain"},
		"path control":        {canary.SessionAffinity{CookieName: "a", Path: "/\x00"}, "analysis.sessionAffinity.path"},
		"path long":           {canary.SessionAffinity{CookieName: "a", Path: "/" + string(make([]byte, 300))}, "analysis.sessionAffinity.path"},
		"sameSite":            {canary.SessionAffinity{CookieName: "a", SameSite: "lax"}, "analysis.sessionAffinity.sameSite"},
		"maxAge negative":     {canary.SessionAffinity{CookieName: "a", MaxAge: -time.Second}, "analysis.sessionAffinity.maxAge"},
		"maxAge not seconds":  {canary.SessionAffinity{CookieName: "a", MaxAge: 1500 * time.Millisecond}, "analysis.sessionAffinity.maxAge"},
		"maxAge beyond 400 d": {canary.SessionAffinity{CookieName: "a", MaxAge: 401 * 24 * time.Hour}, "analysis.sessionAffinity.maxAge"},
	} {
		t.Run(name, func(t *testing.T) {
			s := seedSpec()
			s.SessionAffinity = &tc.a
			_, err := healthyEnv().New(s)
			require.ErrorIs(t, err, canary.ErrInvalidSpec)
			var ve *canary.ValidationError
			require.True(t, errors.As(err, &ve))
			assert.Contains(t, err.Error(), tc.path)
		})
	}
	s := seedSpec()
	s.Iterations, s.StepWeight, s.MaxWeight = 3, 0, 0
	s.Match = []canary.Match{{Headers: map[string]canary.StringMatch{"x": {Exact: "y"}}}}
	s.SessionAffinity = &canary.SessionAffinity{CookieName: "a"}
	_, err := healthyEnv().New(s)
	require.ErrorIs(t, err, canary.ErrInvalidSpec)
	assert.Contains(t, err.Error(), "analysis.sessionAffinity")
}

// The Set-Cookie values and the Cookie header's regular expression, as Flagger writes them.
func TestSessionAffinityHeaders(t *testing.T) {
	a := &canary.Affinity{SessionAffinity: canary.SessionAffinity{CookieName: "c", Domain: "example.com", HTTPOnly: true,
		Partitioned: true, Path: "/app", SameSite: "Strict", Secure: true}, Cookie: "c=ABC", PrimaryCookie: "p.x=DEF", PrimaryMaxAge: 30 * time.Second}
	assert.Equal(t, "c=ABC; Max-Age=86400; Domain=example.com; HttpOnly; Partitioned; Path=/app; SameSite=Strict; Secure", a.CanarySetCookie())
	assert.Equal(t, "p.x=DEF; Max-Age=30; Domain=example.com; HttpOnly; Partitioned; Path=/app; SameSite=Strict; Secure", a.PrimarySetCookie())
	assert.Equal(t, "c=ABC; Max-Age=-1", canary.ExpireCookie("c=ABC"))
	assert.Equal(t, ".*c.*ABC.*", canary.CookieRegex("c=ABC"), "Flagger's shape")
	assert.Equal(t, `.*p\.x.*DEF.*`, canary.CookieRegex("p.x=DEF"), "metacharacters escaped")
}
