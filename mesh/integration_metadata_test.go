package mesh_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh"
)

// A Canary's spec.service.timeout, backendTimeout and apex metadata on an HTTPRoute, on a real
// API server with Gateway API's standard CRDs (their schema and CEL rules): the route is
// accepted with timeouts.request and backendRequest on both rules of an A/B route and the
// labels and annotations, reads back as written (a second Reconcile only reads it) and keeps
// them through weight patches; a backend timeout longer than the request timeout, which
// WithTimeouts refuses, is refused by the CRD's own rule too.
func TestIntegrationHTTPRouteBackendTimeoutAndMetadata(t *testing.T) {
	b := newRouteBed(t)
	md := canary.Metadata{Labels: map[string]string{"team": "a"},
		Annotations: map[string]string{"external-dns.alpha.kubernetes.io/hostname": "podinfo.example.com"}}
	r, err := b.router(t, mesh.HTTPRouteOptions{Port: 9898}).WithMetadata(md)
	require.NoError(t, err)
	r, err = r.WithTimeouts("2m", "1m30s")
	require.NoError(t, err)
	tg := b.target(t)
	tg.Match = abMatch
	require.NoError(t, r.Reconcile(bg(t), tg))
	require.NoError(t, r.SetWeights(bg(t), tg, canary.CanaryWeight(20)))

	hr, err := b.gw.GatewayV1().HTTPRoutes(b.ns).Get(bg(t), tg.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	require.Len(t, hr.Spec.Rules, 2)
	for i, rule := range hr.Spec.Rules {
		require.NotNil(t, rule.Timeouts, "rule %d", i)
		require.NotNil(t, rule.Timeouts.BackendRequest, "rule %d", i)
		assert.Equal(t, gwv1.Duration("1m30s"), *rule.Timeouts.BackendRequest, "rule %d", i)
		require.NotNil(t, rule.Timeouts.Request, "rule %d", i)
		assert.Equal(t, gwv1.Duration("2m"), *rule.Timeouts.Request, "rule %d", i)
	}
	assert.Equal(t, "a", hr.Labels["team"])
	assert.Equal(t, "podinfo.example.com", hr.Annotations["external-dns.alpha.kubernetes.io/hostname"])
	assert.Equal(t, canary.CanaryWeight(20), b.inspect(t, tg))

	counts := b.audit(t, func() { require.NoError(t, r.Reconcile(bg(t), tg)) })
	for k, n := range counts {
		assert.Equal(t, "get", k.Verb, "a stored route equals the router's, timeouts and metadata included: Reconcile only reads it (%v: %d)", k, n)
	}

	// the CRD's rule, which the router's timeouts never break: a backend timeout longer than
	// the request timeout is refused by the API server
	_, err = r.WithTimeouts("10s", "1m30s")
	require.Error(t, err)
	hr.Spec.Rules[0].Timeouts.Request = ptr.To(gwv1.Duration("10s"))
	_, err = b.gw.GatewayV1().HTTPRoutes(b.ns).Update(bg(t), hr, metav1.UpdateOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "backendRequest timeout cannot be longer than request timeout")
}
