package mesh

import (
	"math/big"
	"testing"

	splitv1alpha1 "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/split/v1alpha1"
	splitv1alpha2 "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/split/v1alpha2"
	specsfake "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/specs/clientset/versioned/fake"
	splitfake "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/split/clientset/versioned/fake"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh/meshtest"
)

var abMatch = []canary.Match{
	{Headers: map[string]canary.StringMatch{"x-canary": {Exact: "in.sider"}, "user-agent": {Prefix: "Mozilla/5.0 (X11"}}},
	{Headers: map[string]canary.StringMatch{"cookie": {Regex: "^(.*?;)?(type=insider)(;.*)?$"}, "x-tier": {Suffix: "+gold"}}},
}

// fakeInspect reads a TrafficSplit's weights through the fake clientset at version v, without
// the router's code.
func fakeInspect(cs *splitfake.Clientset, v string) func(t *testing.T, tg canary.Target) canary.Weights {
	return func(t *testing.T, tg canary.Target) canary.Weights {
		t.Helper()
		byService := map[string]int{}
		ns, name, get := tg.Namespace, tg.ApexService(), metav1.GetOptions{}
		switch v {
		case "v1alpha1":
			ts, err := cs.SplitV1alpha1().TrafficSplits(ns).Get(ctx(t), name, get)
			require.NoError(t, err)
			for _, b := range ts.Spec.Backends {
				byService[b.Service] = int(b.Weight.Value())
			}
		case "v1alpha2":
			ts, err := cs.SplitV1alpha2().TrafficSplits(ns).Get(ctx(t), name, get)
			require.NoError(t, err)
			for _, b := range ts.Spec.Backends {
				byService[b.Service] = b.Weight
			}
		case "v1alpha3":
			ts, err := cs.SplitV1alpha3().TrafficSplits(ns).Get(ctx(t), name, get)
			require.NoError(t, err)
			for _, b := range ts.Spec.Backends {
				byService[b.Service] = b.Weight
			}
		default:
			ts, err := cs.SplitV1alpha4().TrafficSplits(ns).Get(ctx(t), name, get)
			require.NoError(t, err)
			for _, b := range ts.Spec.Backends {
				byService[b.Service] = b.Weight
			}
		}
		require.Len(t, byService, 2)
		return canary.Weights{Primary: byService[tg.PrimaryService()], Canary: byService[tg.CanaryService()]}
	}
}

func TestTrafficSplitConformanceOnFakes(t *testing.T) {
	for _, v := range []string{"v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4"} {
		t.Run(v, func(t *testing.T) {
			cs, specs := splitfake.NewSimpleClientset(), specsfake.NewSimpleClientset()
			h := meshtest.Harness{
				NewRouter: func(t *testing.T) canary.MeshRouter {
					r, err := NewTrafficSplit(TrafficSplitOptions{Client: cs, Specs: specs, Version: v})
					require.NoError(t, err)
					return r
				},
				NewTarget: func(*testing.T) canary.Target { return newTarget() },
				Inspect:   fakeInspect(cs, v),
			}
			if v == "v1alpha3" || v == "v1alpha4" {
				h.Match = abMatch
			}
			meshtest.Run(t, h)
		})
	}
}

func TestChooseSplitVersion(t *testing.T) {
	for _, tc := range []struct {
		served      []string
		write, read string
	}{
		{[]string{"v1alpha1"}, "v1alpha1", "v1alpha1"},
		{[]string{"v1alpha2"}, "v1alpha2", "v1alpha2"},
		{[]string{"v1alpha2", "v1alpha1"}, "v1alpha2", "v1alpha1"}, // linkerd-smi
		{[]string{"v1alpha1", "v1alpha2", "v1alpha3"}, "v1alpha3", "v1alpha3"},
		{[]string{"v1alpha4", "v1alpha3", "v1alpha2", "v1alpha1"}, "v1alpha4", "v1alpha4"},
		{nil, "", ""},
	} {
		w, r := chooseSplitVersion(tc.served)
		assert.Equal(t, tc.write, w, "write version for %v", tc.served)
		assert.Equal(t, tc.read, r, "read version for %v", tc.served)
	}
}

func TestTrafficSplitDiscovery(t *testing.T) {
	linkerdSMI := discoveryServing("split.smi-spec.io/v1alpha2", "split.smi-spec.io/v1alpha1")
	r, err := NewTrafficSplit(TrafficSplitOptions{Client: splitfake.NewSimpleClientset(), Discovery: linkerdSMI})
	require.NoError(t, err)
	for range 3 {
		v, err := r.APIVersion(ctx(t), newTarget())
		require.NoError(t, err)
		assert.Equal(t, "split.smi-spec.io/v1alpha2", v)
	}
	assert.Equal(t, 1, countGroups(linkerdSMI), "discovery runs once per router")

	ab := newTarget()
	ab.Match = abMatch
	err = r.Reconcile(ctx(t), ab)
	requirePermanent(t, err)
	assert.ErrorIs(t, err, canary.ErrMatchUnsupported)
	assert.ErrorContains(t, err, "v1alpha2, v1alpha1")

	none, err := NewTrafficSplit(TrafficSplitOptions{Client: splitfake.NewSimpleClientset(), Discovery: discoveryServing("apps/v1")})
	require.NoError(t, err)
	err = none.Reconcile(ctx(t), newTarget())
	requirePermanent(t, err)
	assert.ErrorIs(t, err, ErrCRDMissing)
	assert.ErrorContains(t, err, "trafficsplits.split.smi-spec.io")
	assert.ErrorContains(t, err, "linkerd-smi")

	noGroups, err := NewTrafficSplit(TrafficSplitOptions{Client: splitfake.NewSimpleClientset(), Specs: specsfake.NewSimpleClientset(),
		Discovery: discoveryServing("split.smi-spec.io/v1alpha4")})
	require.NoError(t, err)
	err = noGroups.Reconcile(ctx(t), ab)
	requirePermanent(t, err)
	assert.ErrorIs(t, err, ErrCRDMissing)
	assert.ErrorContains(t, err, "httproutegroups.specs.smi-spec.io")
}

func TestTrafficSplitPinnedVersionCannotMatch(t *testing.T) {
	for _, v := range []string{"v1alpha1", "v1alpha2"} {
		r, err := NewTrafficSplit(TrafficSplitOptions{Client: splitfake.NewSimpleClientset(), Specs: specsfake.NewSimpleClientset(), Version: v})
		require.NoError(t, err)
		tg := newTarget()
		tg.Match = abMatch
		err = r.Reconcile(ctx(t), tg)
		assert.ErrorIs(t, err, canary.ErrMatchUnsupported, v)
		assert.ErrorContains(t, err, v)
	}
}

func TestTrafficSplitMissingCRD(t *testing.T) {
	cs := splitfake.NewSimpleClientset()
	crdMissingReactor(&cs.Fake, SplitGroup, "trafficsplits")
	r, err := NewTrafficSplit(TrafficSplitOptions{Client: cs, Version: "v1alpha2"})
	require.NoError(t, err)
	for _, call := range []func() error{
		func() error { return r.Reconcile(ctx(t), newTarget()) },
		func() error { return r.SetWeights(ctx(t), newTarget(), canary.CanaryWeight(10)) },
		func() error { _, err := r.Weights(ctx(t), newTarget()); return err },
	} {
		err := call()
		requirePermanent(t, err)
		assert.ErrorIs(t, err, ErrCRDMissing)
		assert.ErrorContains(t, err, "trafficsplits.split.smi-spec.io")
		assert.ErrorContains(t, err, "Linkerd ≥ 2.12")
	}
}

func TestTrafficSplitNotOwned(t *testing.T) {
	tg := newTarget()
	theirs := &splitv1alpha2.TrafficSplit{
		ObjectMeta: metav1.ObjectMeta{Name: tg.ApexService(), Namespace: tg.Namespace,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "flagger.app/v1beta1", Kind: "Canary", Name: "podinfo", UID: "u1", Controller: ptrTo(true)}}},
		Spec: splitv1alpha2.TrafficSplitSpec{Service: tg.ApexService(), Backends: []splitv1alpha2.TrafficSplitBackend{
			{Service: tg.CanaryService(), Weight: 30}, {Service: tg.PrimaryService(), Weight: 70}}},
	}
	cs := splitfake.NewSimpleClientset(theirs)
	r, err := NewTrafficSplit(TrafficSplitOptions{Client: cs, Version: "v1alpha2"})
	require.NoError(t, err)

	err = r.Reconcile(ctx(t), tg)
	requirePermanent(t, err)
	assert.ErrorIs(t, err, ErrNotOwned)
	assert.ErrorContains(t, err, "controller Canary podinfo")
	err = r.SetWeights(ctx(t), tg, canary.CanaryWeight(50))
	requirePermanent(t, err)
	assert.ErrorIs(t, err, ErrNotOwned)

	got, err := cs.SplitV1alpha2().TrafficSplits(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, theirs.Spec, got.Spec, "someone else's TrafficSplit is left alone")
}

func TestTrafficSplitSetWeightsIsOneRequest(t *testing.T) {
	cs := splitfake.NewSimpleClientset()
	r, err := NewTrafficSplit(TrafficSplitOptions{Client: cs, Discovery: discoveryServing("split.smi-spec.io/v1alpha2")})
	require.NoError(t, err)
	tg := newTarget()
	require.NoError(t, r.Reconcile(ctx(t), tg))
	for _, c := range []int{10, 20, 30, 0} {
		n := len(cs.Actions())
		require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(c)))
		assert.Equal(t, []string{"patch"}, verbs(&cs.Fake, n))
	}
	n := len(cs.Actions())
	require.NoError(t, r.Reconcile(ctx(t), tg))
	assert.Equal(t, []string{"get"}, verbs(&cs.Fake, n), "Reconcile of a route in shape only reads it")
}

func TestTrafficSplitErrorsAreClassified(t *testing.T) {
	cs := splitfake.NewSimpleClientset()
	r, err := NewTrafficSplit(TrafficSplitOptions{Client: cs, Version: "v1alpha2"})
	require.NoError(t, err)
	tg := newTarget()
	require.NoError(t, r.Reconcile(ctx(t), tg))
	gr := schema.GroupResource{Group: SplitGroup, Resource: "trafficsplits"}

	failOnce(&cs.Fake, "patch", "trafficsplits", apierrors.NewConflict(gr, tg.ApexService(), nil))
	err = r.SetWeights(ctx(t), tg, canary.CanaryWeight(10))
	require.Error(t, err)
	assert.False(t, isPermanent(err), "a conflict is retried: %v", err)
	failOnce(&cs.Fake, "patch", "trafficsplits", apierrors.NewTimeoutError("slow etcd", 1))
	assert.False(t, isPermanent(r.SetWeights(ctx(t), tg, canary.CanaryWeight(10))), "a timeout is retried")
	failOnce(&cs.Fake, "patch", "trafficsplits", apierrors.NewForbidden(gr, tg.ApexService(), nil))
	requirePermanent(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(10)))
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(10)))
}

func TestTrafficSplitRecreatesDeletedRoute(t *testing.T) {
	cs := splitfake.NewSimpleClientset()
	r, err := NewTrafficSplit(TrafficSplitOptions{Client: cs, Version: "v1alpha2"})
	require.NoError(t, err)
	tg := newTarget()
	require.NoError(t, r.Reconcile(ctx(t), tg))
	require.NoError(t, cs.SplitV1alpha2().TrafficSplits(tg.Namespace).Delete(ctx(t), tg.ApexService(), metav1.DeleteOptions{}))
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.CanaryWeight(40)))
	assert.Equal(t, canary.CanaryWeight(40), fakeInspect(cs, "v1alpha2")(t, tg))
}

func TestTrafficSplitReconcileReshapesKeepingWeights(t *testing.T) {
	tg := newTarget()
	drifted := &splitv1alpha2.TrafficSplit{
		ObjectMeta: metav1.ObjectMeta{Name: tg.ApexService(), Namespace: tg.Namespace, Labels: map[string]string{canary.LabelManagedBy: "canarykit"}},
		Spec: splitv1alpha2.TrafficSplitSpec{Service: "elsewhere", Backends: []splitv1alpha2.TrafficSplitBackend{
			{Service: tg.PrimaryService(), Weight: 70}, {Service: tg.CanaryService(), Weight: 30}, {Service: "stray", Weight: 5}}},
	}
	cs := splitfake.NewSimpleClientset(drifted)
	r, err := NewTrafficSplit(TrafficSplitOptions{Client: cs, Version: "v1alpha2"})
	require.NoError(t, err)
	require.NoError(t, r.Reconcile(ctx(t), tg))
	got, err := cs.SplitV1alpha2().TrafficSplits(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, splitv1alpha2.TrafficSplitSpec{Service: tg.ApexService(), Backends: []splitv1alpha2.TrafficSplitBackend{
		{Service: tg.CanaryService(), Weight: 30}, {Service: tg.PrimaryService(), Weight: 70}}}, got.Spec)
}

// v1alpha1 weights are quantities; whatever a v1alpha1 client stored reads back as percentages.
func TestTrafficSplitQuantityWeights(t *testing.T) {
	for _, tc := range []struct {
		primary, canary string
		want            canary.Weights
		err             bool
	}{
		{"90", "10", canary.CanaryWeight(10), false},
		{"500m", "500m", canary.CanaryWeight(50), false},
		{"3", "1", canary.CanaryWeight(25), false},
		{"1", "0", canary.AllPrimary(), false},
		{"0", "1k", canary.AllCanary(), false},
		{"999m", "1m", canary.AllPrimary(), false},  // 0.1 % rounds to 0
		{"199", "1", canary.AllPrimary(), false},    // 0.5 %: a tie goes to the primary
		{"197", "3", canary.CanaryWeight(1), false}, // 1.5 %: tie
		{"193", "7", canary.CanaryWeight(3), false}, // 3.5 %: tie
		{"0", "0", canary.Weights{}, true},
	} {
		tg := newTarget()
		obj := &splitv1alpha1.TrafficSplit{
			ObjectMeta: metav1.ObjectMeta{Name: tg.ApexService(), Namespace: tg.Namespace, Labels: map[string]string{canary.LabelManagedBy: "canarykit"}},
			Spec: splitv1alpha1.TrafficSplitSpec{Service: tg.ApexService(), Backends: []splitv1alpha1.TrafficSplitBackend{
				{Service: tg.CanaryService(), Weight: ptrTo(resource.MustParse(tc.canary))},
				{Service: tg.PrimaryService(), Weight: ptrTo(resource.MustParse(tc.primary))}}},
		}
		cs := splitfake.NewSimpleClientset(obj)
		r, err := NewTrafficSplit(TrafficSplitOptions{Client: cs, Version: "v1alpha1"})
		require.NoError(t, err)
		require.NoError(t, r.Reconcile(ctx(t), tg), "Reconcile adopts the route")
		got, err := r.Weights(ctx(t), tg)
		if tc.err {
			assert.Error(t, err, "%s/%s", tc.primary, tc.canary)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "primary %s, canary %s", tc.primary, tc.canary)
		stored, err := cs.SplitV1alpha1().TrafficSplits(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, obj.Spec, stored.Spec, "Reconcile keeps an existing route's weights")
	}
}

func TestPercentages(t *testing.T) {
	for _, tc := range []struct {
		p, c int64
		want int
	}{{100, 0, 0}, {0, 100, 100}, {50, 50, 50}, {2, 1, 33}, {1, 2, 67}, {1, 1, 50}, {199, 1, 0}, {197, 3, 1}, {193, 7, 3}, {194, 6, 3}, {291, 9, 3}, {1, 199, 99}, {7, 0, 0}} {
		w, err := percentages(big.NewInt(tc.p), big.NewInt(tc.c))
		require.NoError(t, err)
		assert.Equal(t, canary.CanaryWeight(tc.want), w, "%d:%d", tc.p, tc.c)
	}
	_, err := percentages(big.NewInt(-1), big.NewInt(101))
	assert.Error(t, err)
}

func TestTrafficSplitMatchShapesRouteGroup(t *testing.T) {
	cs, specs := splitfake.NewSimpleClientset(), specsfake.NewSimpleClientset()
	r, err := NewTrafficSplit(TrafficSplitOptions{Client: cs, Specs: specs,
		Discovery: discoveryServing("split.smi-spec.io/v1alpha4", "split.smi-spec.io/v1alpha3", "specs.smi-spec.io/v1alpha4")})
	require.NoError(t, err)
	tg := newTarget()
	tg.Match = abMatch
	require.NoError(t, r.Reconcile(ctx(t), tg))

	g, err := specs.SpecsV1alpha4().HTTPRouteGroups(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	require.Len(t, g.Spec.Matches, 2)
	assert.Equal(t, "canary-match-0", g.Spec.Matches[0].Name)
	assert.Equal(t, map[string]string{"x-canary": `^in\.sider$`, "user-agent": `^Mozilla/5\.0 \(X11.*`}, map[string]string(g.Spec.Matches[0].Headers))
	assert.Equal(t, map[string]string{"cookie": "^(.*?;)?(type=insider)(;.*)?$", "x-tier": `.*\+gold$`}, map[string]string(g.Spec.Matches[1].Headers))
	assert.Equal(t, "canarykit", g.Labels[canary.LabelManagedBy])

	ts, err := cs.SplitV1alpha4().TrafficSplits(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	require.Len(t, ts.Spec.Matches, 1)
	assert.Equal(t, "HTTPRouteGroup", ts.Spec.Matches[0].Kind)
	assert.Equal(t, tg.ApexService(), ts.Spec.Matches[0].Name)
	assert.Equal(t, SpecsGroup, *ts.Spec.Matches[0].APIGroup)

	// changed conditions update the group; dropping them drops the TrafficSplit's matches
	tg.Match = abMatch[:1]
	require.NoError(t, r.Reconcile(ctx(t), tg))
	g, err = specs.SpecsV1alpha4().HTTPRouteGroups(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Len(t, g.Spec.Matches, 1)
	tg.Match = nil
	require.NoError(t, r.Reconcile(ctx(t), tg))
	ts, err = cs.SplitV1alpha4().TrafficSplits(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Empty(t, ts.Spec.Matches)
	_, err = specs.SpecsV1alpha4().HTTPRouteGroups(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the router's HTTPRouteGroup goes with the matches: %v", err)

	// someone else's HTTPRouteGroup of that name is never deleted
	tg.Match = abMatch
	require.NoError(t, r.Reconcile(ctx(t), tg))
	g, err = specs.SpecsV1alpha4().HTTPRouteGroups(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	g.Labels[canary.LabelManagedBy] = "someone-else"
	_, err = specs.SpecsV1alpha4().HTTPRouteGroups(tg.Namespace).Update(ctx(t), g, metav1.UpdateOptions{})
	require.NoError(t, err)
	tg.Match = nil
	require.NoError(t, r.Reconcile(ctx(t), tg))
	_, err = specs.SpecsV1alpha4().HTTPRouteGroups(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
	assert.NoError(t, err, "left alone")
}

func TestTrafficSplitOwnerReference(t *testing.T) {
	tg := newTarget()
	kube := kubefake.NewSimpleClientset(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: tg.Name, Namespace: tg.Namespace, UID: "d-uid"}})
	cs := splitfake.NewSimpleClientset()
	r, err := NewTrafficSplit(TrafficSplitOptions{Client: cs, Version: "v1alpha2", Owner: DeploymentOwner(kube.AppsV1()), ManagedBy: "team-a"})
	require.NoError(t, err)
	require.NoError(t, r.Reconcile(ctx(t), tg))
	ts, err := cs.SplitV1alpha2().TrafficSplits(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: tg.Name, UID: "d-uid", Controller: ptrTo(true)}},
		ts.OwnerReferences)
	assert.Equal(t, "team-a", ts.Labels[canary.LabelManagedBy])

	missing := newTarget()
	err = r.Reconcile(ctx(t), missing)
	assert.ErrorContains(t, err, "owner of "+missing.String())
}

func TestNewTrafficSplitReportsEveryProblem(t *testing.T) {
	_, err := NewTrafficSplit(TrafficSplitOptions{})
	assert.ErrorContains(t, err, "Client is required")
	assert.ErrorContains(t, err, "Discovery is required")
	_, err = NewTrafficSplit(TrafficSplitOptions{Client: splitfake.NewSimpleClientset(), Version: "v1beta1"})
	assert.ErrorContains(t, err, `Version "v1beta1"`)
}
