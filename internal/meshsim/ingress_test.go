package meshsim

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func ingressTo(name, host, path, service string, annotations map[string]string) *networkingv1.Ingress {
	prefix := networkingv1.PathTypePrefix
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: "u-" + "name", ResourceVersion: "7", Annotations: annotations},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{
			HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: path, PathType: &prefix,
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: service,
					Port: networkingv1.ServiceBackendPort{Number: 9898}}}}}}}}}},
	}
}

// decideIngress routes n requests made by req between main and canary.
func decideIngress(t *testing.T, main, canary *networkingv1.Ingress, n int, req func() *http.Request) map[string]int {
	t.Helper()
	in := &Ingress{m: &Mesh{}}
	out := map[string]int{}
	for range n {
		r := req()
		m, mb, path, ok := matchIngresses([]*networkingv1.Ingress{main}, r.Host, r.URL.Path)
		require.True(t, ok)
		rt := ingressRoute{main: m, primary: mb}
		if _, cb, cp, ok := matchIngresses([]*networkingv1.Ingress{canary}, r.Host, r.URL.Path); ok && cp == path {
			rt.canary, rt.alt = canary, cb
		}
		b := rt.primary
		if rt.canary != nil {
			if takes, _, _ := in.canaryTakes(rt, Route{Kind: KindIngress, Name: canary.Name, Generation: 7}, r); takes {
				b = rt.alt
			}
		}
		out[b.service]++
	}
	return out
}

func browser(headers ...string) func() *http.Request {
	return func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, "http://app.example.com/", nil)
		for i := 0; i+1 < len(headers); i += 2 {
			r.Header.Add(headers[i], headers[i+1])
		}
		return r
	}
}

func TestNGINXCanaryIngressAnnotations(t *testing.T) {
	main := ingressTo("podinfo", "app.example.com", "/", "podinfo", nil)
	a := func(kv ...string) map[string]string {
		m := map[string]string{annotationPrefix + "canary": "true"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[annotationPrefix+kv[i]] = kv[i+1]
		}
		return m
	}
	weighted := ingressTo("podinfo-canary", "app.example.com", "/", "podinfo-canary", a("canary-weight", "20"))
	assert.Equal(t, map[string]int{"podinfo": 80, "podinfo-canary": 20}, decideIngress(t, main, weighted, 100, browser()))

	// header > cookie > weight
	ab := ingressTo("podinfo-canary", "app.example.com", "/", "podinfo-canary",
		a("canary-weight", "0", "canary-by-header", "X-Canary", "canary-by-header-value", "insider", "canary-by-cookie", "canary"))
	assert.Equal(t, map[string]int{"podinfo-canary": 5}, decideIngress(t, main, ab, 5, browser("X-Canary", "insider")))
	assert.Equal(t, map[string]int{"podinfo": 5}, decideIngress(t, main, ab, 5, browser("X-Canary", "outsider")))
	assert.Equal(t, map[string]int{"podinfo-canary": 5}, decideIngress(t, main, ab, 5, browser("Cookie", "canary=always")))
	assert.Equal(t, map[string]int{"podinfo": 5}, decideIngress(t, main, ab, 5, browser("Cookie", "canary=never")))
	assert.Equal(t, map[string]int{"podinfo": 5}, decideIngress(t, main, ab, 5, browser()))

	pattern := ingressTo("podinfo-canary", "app.example.com", "/", "podinfo-canary",
		a("canary-by-header", "User-Agent", "canary-by-header-pattern", ".*Firefox.*"))
	assert.Equal(t, map[string]int{"podinfo-canary": 3}, decideIngress(t, main, pattern, 3, browser("User-Agent", "Mozilla/5.0 Firefox/121.0")))
	assert.Equal(t, map[string]int{"podinfo": 3}, decideIngress(t, main, pattern, 3, browser("User-Agent", "curl/8")))

	always := ingressTo("podinfo-canary", "app.example.com", "/", "podinfo-canary", a("canary-by-header", "X-Canary", "canary-weight", "100"))
	assert.Equal(t, map[string]int{"podinfo-canary": 3}, decideIngress(t, main, always, 3, browser("X-Canary", "always")))
	assert.Equal(t, map[string]int{"podinfo": 3}, decideIngress(t, main, always, 3, browser("X-Canary", "never")), "never beats the weight")

	// a canary Ingress for another path does not take the request
	other := ingressTo("podinfo-canary", "app.example.com", "/api", "podinfo-canary", a("canary-weight", "100"))
	assert.Equal(t, map[string]int{"podinfo": 3}, decideIngress(t, main, other, 3, browser()))
}
