package mesh_test

import (
	"context"
	"testing"
	"time"

	splitclient "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/split/clientset/versioned"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/mesh"
)

// rolloutCase is a release whose route history the API server must show.
type rolloutCase struct {
	name    string
	success canarytest.Signal
	phase   canary.Phase
	weights []int // canary weight of every route version stored, creation included
}

var rolloutCases = []rolloutCase{
	{"Promote", canarytest.Constant(99.9), canary.PhaseSucceeded, []int{0, 10, 20, 30, 40, 50, 0}},
	{"Rollback", canarytest.Sequence(99.9, 99.9, 90), canary.PhaseFailed, []int{0, 10, 20, 30, 0}},
}

// release runs a bootstrap and one release of a new revision with router, the rest of the
// world simulated in virtual time, and returns the route's history as the API server stored it.
func release(t *testing.T, tc rolloutCase, tg canary.Target, router canary.MeshRouter, rec *recorder,
	currentRV func() string) canary.Result {
	env := canarytest.NewEnv(tg)
	env.Metrics.Set("request-success-rate", tc.success)
	cfg := env.Config(canary.Spec{
		Interval: 30 * time.Second, Threshold: 2, MaxWeight: 50, StepWeight: 10,
		Metrics: []canary.Metric{{Name: "request-success-rate", ThresholdRange: canary.AtLeast(99)}},
	})
	cfg.Router = router
	r, err := canary.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err = r.Run(ctx) // bootstrap: route created at 100 % primary
	require.NoError(t, err)
	env.Workload.SetRevision("6.0.1")
	res, err := r.Run(ctx)
	require.NoError(t, err)
	assert.Equal(t, tc.phase, res.Phase)
	assert.Equal(t, tc.weights, rec.upTo(t, currentRV()), "every weight the API server stored, in order")
	assert.Equal(t, tc.weights[1:], res.Weights, "the steps the Rollout took")
	return res
}

// A whole canary.Rollout with the real routers: the route object in the API server goes
// through every weight step of a promotion and of a rollback, as a watch records them.
func TestIntegrationRollout(t *testing.T) {
	t.Run("TrafficSplit", func(t *testing.T) {
		b := newBed(t, splitRBAC...)
		installSplitCRD(t, b, testenv.TrafficSplitCRD()) // as linkerd-smi ships it
		b.served(t, mesh.SplitGroup, testenv.LinkerdSMIVersions...)
		split, err := splitclient.NewForConfig(b.cfg)
		require.NoError(t, err)
		for _, tc := range rolloutCases {
			t.Run(tc.name, func(t *testing.T) {
				disc, err := discovery.NewDiscoveryClientForConfig(b.cfg)
				require.NoError(t, err)
				router, err := mesh.NewTrafficSplit(mesh.TrafficSplitOptions{Client: split, Discovery: disc})
				require.NoError(t, err)
				tg := b.target(t)
				gvr := trafficSplits
				gvr.Version = "v1alpha2"
				rec := b.record(t, gvr, tg, backendWeights)
				release(t, tc, tg, router, rec, b.rv(t, gvr, tg))
			})
		}
	})
	t.Run("HTTPRoute", func(t *testing.T) {
		b := newRouteBed(t)
		for _, tc := range rolloutCases {
			t.Run(tc.name, func(t *testing.T) {
				router := b.router(t, mesh.HTTPRouteOptions{Port: 9898})
				tg := b.target(t)
				rec := b.record(t, httpRoutes, tg, routeWeights)
				release(t, tc, tg, router, rec, b.rv(t, httpRoutes, tg))
			})
		}
	})
}

// rv returns a function reading the route's current resourceVersion.
func (b *bed) rv(t *testing.T, gvr schema.GroupVersionResource, tg canary.Target) func() string {
	return func() string {
		var obj *unstructured.Unstructured
		obj, err := b.dyn.Resource(gvr).Namespace(tg.Namespace).Get(bg(t), tg.ApexService(), metav1.GetOptions{})
		require.NoError(t, err)
		return obj.GetResourceVersion()
	}
}
