package flagger_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/flagger"
)

// Flagger's session affinity (Istio's and Gateway API's docs) is read field for field for the
// providers whose route can match a cookie and set one, and for a Canary without provider (the
// driver's router decides).
func TestLoadSessionAffinity(t *testing.T) {
	const full = `stepWeight: 10, sessionAffinity: {cookieName: flagger-cookie, primaryCookieName: primary-cookie, maxAge: 21600,
    domain: example.com, httpOnly: true, partitioned: true, path: /app, sameSite: Strict, secure: true}`
	for _, provider := range []string{"istio", "gatewayapi:v1", "gatewayapi:v1beta1", ""} {
		t.Run("provider "+provider, func(t *testing.T) {
			m, err := flagger.LoadCanary(mirrorCanary(provider, full))
			require.NoError(t, err)
			assert.Equal(t, &canary.SessionAffinity{CookieName: "flagger-cookie", PrimaryCookieName: "primary-cookie", MaxAge: 6 * time.Hour,
				Domain: "example.com", HTTPOnly: true, Partitioned: true, Path: "/app", SameSite: "Strict", Secure: true}, m.Spec.SessionAffinity)
			assert.Empty(t, m.Notes)
		})
	}
	m, err := flagger.LoadCanary(mirrorCanary("istio", "stepWeight: 10, sessionAffinity: {cookieName: flagger-cookie}"))
	require.NoError(t, err)
	assert.Equal(t, &canary.SessionAffinity{CookieName: "flagger-cookie"}, m.Spec.SessionAffinity, "maxAge 0: the engine's default, a day")
	m, err = flagger.LoadCanary(mirrorCanary("istio", "stepWeight: 10, sessionAffinity: null"))
	require.NoError(t, err)
	assert.Nil(t, m.Spec.SessionAffinity)
	// blue/green keeps it: the canary gets all traffic at the switch
	m, err = flagger.LoadCanary(mirrorCanary("gatewayapi:v1", "iterations: 10, sessionAffinity: {cookieName: c}"))
	require.NoError(t, err)
	assert.NotNil(t, m.Spec.SessionAffinity)
}

// With A/B testing Flagger's routes replace the cookie routes: ignored, with a note.
func TestLoadSessionAffinityIgnoredWithABTesting(t *testing.T) {
	m, err := flagger.LoadCanary(mirrorCanary("istio", "iterations: 10, sessionAffinity: {cookieName: c}, match: [{headers: {x-canary: {exact: insider}}}]"))
	require.NoError(t, err)
	assert.Nil(t, m.Spec.SessionAffinity)
	assert.Equal(t, []string{"spec.analysis.sessionAffinity is ignored with A/B testing (spec.analysis.match): matching requests go to the canary already, and Flagger's A/B routes replace the cookie routes"}, m.Notes)
}

// A provider whose route cannot match or set a cookie is refused at the field's path, as is
// every value a cookie or a Set-Cookie header cannot carry.
func TestLoadSessionAffinityRefused(t *testing.T) {
	const need = "; session affinity needs provider istio or gatewayapi:<version>"
	for provider, why := range map[string]string{
		"linkerd":      "an SMI TrafficSplit only splits",
		"smi:v1alpha4": "an SMI TrafficSplit only splits",
		"kubernetes":   "the Kubernetes router only switches Services",
	} {
		_, err := flagger.LoadCanary(mirrorCanary(provider, "iterations: 10, sessionAffinity: {cookieName: c}"))
		assert.Equal(t, []string{fmt.Sprintf("spec.analysis.sessionAffinity: provider %q cannot route by cookie nor set one (%s)%s", provider, why, need)},
			problems(t, err), provider)
	}
	_, err := flagger.LoadCanary(append(mirrorCanary("nginx", "stepWeight: 10, sessionAffinity: {cookieName: c}"), "  ingressRef: {apiVersion: networking.k8s.io/v1, kind: Ingress, name: podinfo}\n"...))
	assert.Equal(t, []string{`spec.analysis.sessionAffinity: provider "nginx" cannot route by cookie nor set one (an ingress-nginx canary Ingress only splits)` + need},
		problems(t, err))
	_, err = flagger.LoadCanary([]byte(`apiVersion: flagger.app/v1alpha3
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  provider: linkerd
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898}
  canaryAnalysis: {interval: 1m, stepWeight: 10, sessionAffinity: {cookieName: c}}
`))
	assert.Equal(t, []string{`spec.canaryAnalysis.sessionAffinity: provider "linkerd" cannot route by cookie nor set one (an SMI TrafficSplit only splits)` + need},
		problems(t, err))

	for value, want := range map[string]string{
		`{}`:                                    `spec.analysis.sessionAffinity.cookieName: "" is empty`,
		`{cookieName: "a b"}`:                   `spec.analysis.sessionAffinity.cookieName: "a b" has " ", which a cookie name (an RFC 6265 token) cannot hold`,
		`{cookieName: "a;b"}`:                   `spec.analysis.sessionAffinity.cookieName: "a;b" has ";", which a cookie name (an RFC 6265 token) cannot hold`,
		`{cookieName: c, primaryCookieName: c}`: `spec.analysis.sessionAffinity.primaryCookieName: must differ from cookieName "c"`,
		`{cookieName: c, domain: "x.com; Secure"}`:       `spec.analysis.sessionAffinity.domain: "x.com; Secure" has ";", which a Set-Cookie attribute cannot hold`,
		`{cookieName: c, path: "/a\r\nSet-Cookie: x=y"}`: `spec.analysis.sessionAffinity.path: "/a\r\nSet-Cookie: x=y" has "\r", which a Set-Cookie attribute cannot hold`,
		`{cookieName: c, sameSite: lax}`:                 `spec.analysis.sessionAffinity.sameSite: must be Strict, Lax or None, got "lax"`,
		`{cookieName: c, maxAge: -1}`:                    `spec.analysis.sessionAffinity.maxAge: must not be negative, got -1s`,
		`{cookieName: c, maxAge: 34560001}`:              `spec.analysis.sessionAffinity.maxAge: must be at most 34560000 seconds (400 days), got 34560001`,
		`{cookieName: c, maxAge: 1.5}`:                   `spec.analysis.sessionAffinity.maxAge: must be a whole number, got 1.5`,
		`{cookieName: c, httpOnly: "yes"}`:               `spec.analysis.sessionAffinity.httpOnly: must be true or false`,
		`{cookieName: c, cookiename: d}`:                 `spec.analysis.sessionAffinity.cookiename: unknown field (not a Flagger Canary field canarykit knows)`,
		`"flagger-cookie"`:                               `spec.analysis.sessionAffinity: must be a mapping`,
	} {
		_, err := flagger.LoadCanary(mirrorCanary("istio", "stepWeight: 10, sessionAffinity: "+value))
		assert.Equal(t, []string{want}, problems(t, err), value)
	}
}
