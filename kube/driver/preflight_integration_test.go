package driver

import (
	"fmt"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/go-logr/logr/testr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"
)

// A Canary whose route the API server refuses, spec.service.corsPolicy on the shared bed's
// Gateway API standard-channel HTTPRoute CRD (it has no CORS filter), fails before anything is
// made for its target: no primary, no Services, no route. The error names the field and the
// channel it needs. With the policy left out, the same Canary initializes.
func TestRouteRefusedBeforeTheWorkloadIsTouched(t *testing.T) {
	env := testenv.Shared(t)
	ctx, _, ns := bedNamespace(t, env, testenv.GatewayAPICRDs(t)...)
	createPodinfo(ctx, t, env, ns)
	load := func(service string) *flagger.Canary {
		c, err := flagger.LoadCanary(fmt.Appendf(nil, `apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: %s}
spec:
  provider: gatewayapi:v1
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898, gatewayRefs: [{name: public, namespace: gateways}]%s}
  analysis: {interval: 1s, threshold: 2, stepWeight: 50, maxWeight: 50}
`, ns, service))
		require.NoError(t, err)
		return c
	}
	d, err := New(Options{Config: env.Config(), Identity: "canarykit", Logger: testr.New(t)})
	require.NoError(t, err)
	t.Cleanup(d.Close)
	gw, err := gatewayclient.NewForConfig(env.Config())
	require.NoError(t, err)

	rel, err := d.Release(ctx, load(", corsPolicy: {allowOrigin: [\"https://example.com\"], maxAge: 1h}"), nil)
	require.NoError(t, err)
	_, err = rel.Run(ctx)
	require.Error(t, err)
	assert.True(t, canary.IsPermanent(err), "%v", err)
	assert.Contains(t, err.Error(), "the HTTPRoute CRD refuses the CORS filter (a Canary's spec.service.corsPolicy)")
	assert.Contains(t, err.Error(), "install the experimental channel's HTTPRoute CRD or leave corsPolicy out")
	for _, name := range []string{"podinfo-primary"} {
		_, err := env.Client().AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err), "Deployment %s: %v", name, err)
	}
	for _, name := range []string{"podinfo", "podinfo-primary", "podinfo-canary"} {
		_, err := env.Client().CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err), "Service %s: %v", name, err)
	}
	_, err = gw.GatewayV1().HTTPRoutes(ns).Get(ctx, "podinfo", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "HTTPRoute podinfo: %v", err)

	// the preflight itself writes nothing: the same Canary without the policy initializes
	rel, err = d.Release(ctx, load(""), nil)
	require.NoError(t, err)
	res, err := rel.Run(ctx)
	require.NoError(t, err)
	assert.Equal(t, canary.PhaseInitialized, res.Phase)
	route, err := gw.GatewayV1().HTTPRoutes(ns).Get(ctx, "podinfo", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Len(t, route.Spec.Rules, 1)
}
