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
	spec    func(*canary.Spec)
}

var rolloutCases = []rolloutCase{
	{name: "Promote", success: canarytest.Constant(99.9), phase: canary.PhaseSucceeded, weights: []int{0, 10, 20, 30, 40, 50, 0}},
	{name: "Rollback", success: canarytest.Sequence(99.9, 99.9, 90), phase: canary.PhaseFailed, weights: []int{0, 10, 20, 30, 0}},
}

// abTesting sends matching requests to the canary for 3 iterations, then promotes.
var abTesting = rolloutCase{name: "ABTesting", success: canarytest.Constant(99.9), phase: canary.PhaseSucceeded,
	weights: []int{0, 100, 0}, spec: func(s *canary.Spec) { s.Iterations, s.Match = 3, abMatch }}

// blueGreen switches all traffic to the canary after 3 iterations, then promotes.
var blueGreen = rolloutCase{name: "BlueGreen", success: canarytest.Constant(99.9), phase: canary.PhaseSucceeded,
	weights: []int{0, 100, 0}, spec: func(s *canary.Spec) { s.Iterations = 3 }}

// release runs a bootstrap and one release of a new revision with router, the rest of the
// world simulated in virtual time, and returns the route's history as the API server stored it.
//
// The router's requests during the release are counted too: reads only when the Run starts
// (wantReads: one, ReconcileWeights, as a resumed Run does; Reconcile and Weights read twice)
// and one request per weight step.
func release(t *testing.T, b *bed, tc rolloutCase, tg canary.Target, router canary.MeshRouter, rec *recorder,
	currentRV func() string, resource string, wantReads int) canary.Result {
	env := canarytest.NewEnv(tg)
	env.Metrics.Set("request-success-rate", tc.success)
	spec := canary.Spec{
		Interval: 30 * time.Second, Threshold: 2, MaxWeight: 50, StepWeight: 10,
		Metrics: []canary.Metric{{Name: "request-success-rate", ThresholdRange: canary.AtLeast(99)}},
	}
	if tc.spec != nil {
		spec.MaxWeight, spec.StepWeight = 0, 0
		tc.spec(&spec)
	}
	cfg := env.Config(spec)
	cfg.Router = router
	r, err := canary.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err = r.Run(ctx) // bootstrap: route created at 100 % primary
	require.NoError(t, err)
	env.Workload.SetRevision("6.0.1")
	var res canary.Result
	counts := b.audit(t, func() {
		res, err = r.Run(ctx)
		require.NoError(t, err)
	})
	want := testenv.AuditCounts{{User: b.user, Verb: "get", Resource: resource}: wantReads}
	want[testenv.AuditKey{User: b.user, Verb: "patch", Resource: resource}] = len(res.Weights)
	assert.Equal(t, want, counts, "the router's requests during the release")
	t.Logf("release %v: %d requests by the router", res.Weights, counts.Total())
	assert.Equal(t, tc.phase, res.Phase)
	assert.Equal(t, tc.weights, rec.upTo(t, currentRV()), "every weight the API server stored, in order")
	require.NotEmpty(t, res.Weights)
	assert.Equal(t, tc.weights[len(tc.weights)-len(res.Weights):], res.Weights, "the release's steps end the route's history")
	return res
}

// A whole canary.Rollout with the real routers: the route object in the API server goes
// through every weight step of a promotion and of a rollback, as a watch records them.
func TestIntegrationRollout(t *testing.T) {
	t.Run("TrafficSplit", func(t *testing.T) {
		b := newBed(t, splitRBAC...)
		installSplitCRD(t, b, testenv.TrafficSplitCRD()) // as linkerd-smi ships it
		b.served(t, mesh.SplitGroup, testenv.LinkerdSMIVersions()...)
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
				release(t, b, tc, tg, router, rec, b.rv(t, gvr, tg), "trafficsplits", 1)
			})
		}
		t.Run("ABTestingUnsupported", func(t *testing.T) {
			disc, err := discovery.NewDiscoveryClientForConfig(b.cfg)
			require.NoError(t, err)
			router, err := mesh.NewTrafficSplit(mesh.TrafficSplitOptions{Client: split, Discovery: disc})
			require.NoError(t, err)
			env := canarytest.NewEnv(b.target(t))
			cfg := env.Config(canary.Spec{Interval: 30 * time.Second, Iterations: 3, Match: abMatch})
			cfg.Router = router
			r, err := canary.New(cfg)
			require.NoError(t, err)
			_, err = r.Run(bg(t))
			assert.ErrorIs(t, err, canary.ErrMatchUnsupported, "linkerd-smi's versions cannot match: the Rollout stops")
		})
	})
	t.Run("HTTPRoute", func(t *testing.T) {
		b := newRouteBed(t)
		for _, tc := range append(rolloutCases, abTesting) {
			t.Run(tc.name, func(t *testing.T) {
				router := b.router(t, mesh.HTTPRouteOptions{Port: 9898})
				tg := b.target(t)
				rec := b.record(t, httpRoutes, tg, routeWeights)
				release(t, b.bed, tc, tg, router, rec, b.rv(t, httpRoutes, tg), "httproutes", 1)
			})
		}
	})
}

// A blue/green release without a mesh: the apex Service's selector switches to the canary and
// back, as a watch on the Service records.
func TestIntegrationRolloutKubernetes(t *testing.T) {
	b := newBed(t, kubernetesRBAC...)
	kube, err := newKube(b.cfg)
	require.NoError(t, err)
	router, err := mesh.NewKubernetes(mesh.KubernetesOptions{Client: kube.CoreV1()})
	require.NoError(t, err)
	tg := b.target(t)
	services := schema.GroupVersionResource{Version: "v1", Resource: "services"}
	rec := b.record(t, services, tg, func(obj *unstructured.Unstructured, tg canary.Target) (canary.Weights, error) {
		app, _, _ := unstructured.NestedString(obj.Object, "spec", "selector", "app")
		if app == tg.Name+"-primary" {
			return canary.AllPrimary(), nil
		}
		return canary.AllCanary(), nil
	})
	// adopted (pointed at the primary), switched to the canary, back to the promoted primary
	release(t, b, blueGreen, tg, router, rec, b.rv(t, services, tg), "services", 4)
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
