package mesh_test

import (
	"slices"
	"testing"
	"time"

	specsclient "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/specs/clientset/versioned"
	splitclient "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/split/clientset/versioned"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/mesh"
	"github.com/canarykit/canarykit/mesh/meshtest"
)

// splitRBAC is what package doc says the TrafficSplit router needs, with DeploymentOwner.
var splitRBAC = []rbacv1.PolicyRule{
	{APIGroups: []string{"split.smi-spec.io"}, Resources: []string{"trafficsplits"}, Verbs: []string{"get", "create", "update", "patch"}},
	{APIGroups: []string{"specs.smi-spec.io"}, Resources: []string{"httproutegroups"}, Verbs: []string{"get", "create", "update", "delete"}},
	{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get"}},
}

var abMatch = []canary.Match{
	{Headers: map[string]canary.StringMatch{"x-canary": {Exact: "insider"}, "user-agent": {Prefix: "Mozilla/5.0 (X11"}}},
	{Headers: map[string]canary.StringMatch{"cookie": {Regex: "^(.*?;)?(type=insider)(;.*)?$"}}},
}

// splitCRD is the TrafficSplit CRD with all four versions, the first of served stored, and
// only served served (the others stay listed: the server keeps versions objects were stored
// in).
func splitCRD(served ...string) *apiextensionsv1.CustomResourceDefinition {
	order := slices.Clone(served)
	for _, v := range []string{"v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4"} {
		if !slices.Contains(order, v) {
			order = append(order, v)
		}
	}
	crd := testenv.TrafficSplitCRD(order...)
	for i := range crd.Spec.Versions {
		crd.Spec.Versions[i].Served = slices.Contains(served, crd.Spec.Versions[i].Name)
	}
	return crd
}

// installSplitCRD installs crd, keeping listed (not served) the versions the existing CRD has
// stored objects in, which the API server requires of an update.
func installSplitCRD(t *testing.T, b *bed, crd *apiextensionsv1.CustomResourceDefinition) {
	t.Helper()
	client, err := apiextensionsclient.NewForConfig(b.admin)
	require.NoError(t, err)
	cur, err := client.ApiextensionsV1().CustomResourceDefinitions().Get(bg(t), crd.Name, metav1.GetOptions{})
	if err == nil {
		for _, v := range splitCRD().Spec.Versions {
			listed := slices.ContainsFunc(crd.Spec.Versions, func(l apiextensionsv1.CustomResourceDefinitionVersion) bool { return l.Name == v.Name })
			if !listed && slices.Contains(cur.Status.StoredVersions, v.Name) {
				v.Served, v.Storage = false, false
				crd.Spec.Versions = append(crd.Spec.Versions, v)
			}
		}
	}
	testenv.InstallCRDs(t, b.admin, crd)
}

type splitBed struct {
	*bed
	split splitclient.Interface
	specs specsclient.Interface
}

func (b *splitBed) router(t *testing.T, version string, opts ...func(*mesh.TrafficSplitOptions)) *mesh.TrafficSplit {
	o := mesh.TrafficSplitOptions{Client: b.split, Specs: b.specs, Version: version}
	if version == "" {
		d, err := discovery.NewDiscoveryClientForConfig(b.cfg)
		require.NoError(t, err)
		o.Discovery = d
	}
	for _, f := range opts {
		f(&o)
	}
	r, err := mesh.NewTrafficSplit(o)
	require.NoError(t, err)
	return r
}

// Under linkerd-smi: one request per SetWeights, one GET per Reconcile of a route in shape,
// discovery once; quantity weights stored through v1alpha1 read back as percentages;
// someone else's TrafficSplit is left alone; the owner Deployment's deletion collects the
// route.
func TestIntegrationTrafficSplitLinkerdSMI(t *testing.T) {
	b := &splitBed{bed: newBed(t, splitRBAC...)}
	var err error
	b.split, err = splitclient.NewForConfig(b.cfg)
	require.NoError(t, err)
	installSplitCRD(t, b.bed, testenv.TrafficSplitCRD())
	b.served(t, mesh.SplitGroup, testenv.LinkerdSMIVersions()...)

	t.Run("RequestsPerCall", func(t *testing.T) {
		tg := b.target(t)
		var r *mesh.TrafficSplit
		counts := b.audit(t, func() {
			r = b.router(t, "")
			require.NoError(t, r.Reconcile(bg(t), tg))
		})
		t.Logf("first Reconcile (discovery, get, create):\n%s", counts)
		assert.Equal(t, 1, counts[testenv.AuditKey{User: b.user, Verb: "create", Resource: "trafficsplits"}])
		assert.Equal(t, 1, counts[testenv.AuditKey{User: b.user, Verb: "get", Resource: "trafficsplits"}])
		assert.Equal(t, 4, counts.Total(), "discovery (/api, /apis), get, create")
		for _, w := range []int{10, 20, 30, 40, 50} {
			counts = b.audit(t, func() { require.NoError(t, r.SetWeights(bg(t), tg, canary.CanaryWeight(w))) })
			assert.Equal(t, testenv.AuditCounts{{User: b.user, Verb: "patch", Resource: "trafficsplits"}: 1}, counts,
				"SetWeights(%d) costs one request", w)
		}
		counts = b.audit(t, func() {
			require.NoError(t, r.Reconcile(bg(t), tg))
			got, err := r.Weights(bg(t), tg)
			require.NoError(t, err)
			assert.Equal(t, canary.CanaryWeight(50), got)
		})
		assert.Equal(t, testenv.AuditCounts{{User: b.user, Verb: "get", Resource: "trafficsplits"}: 2}, counts,
			"Reconcile in shape and Weights: one GET each, no more discovery")
	})

	t.Run("QuantityWeights", func(t *testing.T) {
		tg := b.target(t)
		ts := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "split.smi-spec.io/v1alpha1", "kind": "TrafficSplit",
			"metadata": map[string]any{"name": tg.ApexService(), "labels": map[string]any{canary.LabelManagedBy: canary.ManagedBy}},
			"spec": map[string]any{"service": tg.ApexService(), "backends": []any{
				map[string]any{"service": tg.CanaryService(), "weight": "1500m"},
				map[string]any{"service": tg.PrimaryService(), "weight": "500m"},
			}},
		}}
		gvr := trafficSplits
		gvr.Version = "v1alpha1"
		_, err := b.dyn.Resource(gvr).Namespace(b.ns).Create(bg(t), ts, metav1.CreateOptions{})
		require.NoError(t, err)
		r := b.router(t, "")
		require.NoError(t, r.Reconcile(bg(t), tg))
		w, err := r.Weights(bg(t), tg)
		require.NoError(t, err)
		assert.Equal(t, canary.CanaryWeight(75), w, "1.5 : 0.5 is 75 % canary")
		require.NoError(t, r.SetWeights(bg(t), tg, canary.CanaryWeight(30)))
		v2, err := b.split.SplitV1alpha2().TrafficSplits(b.ns).Get(bg(t), tg.ApexService(), metav1.GetOptions{})
		require.NoError(t, err, "after SetWeights, v1alpha2 clients (Linkerd's) decode the route")
		assert.Equal(t, 30, v2.Spec.Backends[0].Weight)
	})

	t.Run("NotOwned", func(t *testing.T) {
		tg := b.target(t)
		theirs := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "split.smi-spec.io/v1alpha2", "kind": "TrafficSplit",
			"metadata": map[string]any{"name": tg.ApexService(), "labels": map[string]any{canary.LabelManagedBy: "flagger"}},
			"spec": map[string]any{"service": tg.ApexService(), "backends": []any{
				map[string]any{"service": tg.CanaryService(), "weight": int64(20)},
				map[string]any{"service": tg.PrimaryService(), "weight": int64(80)},
			}},
		}}
		gvr := trafficSplits
		gvr.Version = "v1alpha2"
		_, err := b.dyn.Resource(gvr).Namespace(b.ns).Create(bg(t), theirs, metav1.CreateOptions{})
		require.NoError(t, err)
		r := b.router(t, "")
		err = r.Reconcile(bg(t), tg)
		assert.ErrorIs(t, err, mesh.ErrNotOwned)
		assert.ErrorContains(t, err, canary.LabelManagedBy+"=flagger")
		err = r.SetWeights(bg(t), tg, canary.CanaryWeight(50))
		assert.ErrorIs(t, err, mesh.ErrNotOwned, "the guarded patch is refused by the server")
		assert.Equal(t, canary.CanaryWeight(20), b.splitWeights(t, "v1alpha2", tg), "left alone")
	})

	t.Run("OwnerDeploymentCollectsRoute", func(t *testing.T) {
		tg := b.target(t)
		labels := map[string]string{"app": tg.Name}
		d, err := b.kube.AppsV1().Deployments(b.ns).Create(bg(t), &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: tg.Name},
			Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Replicas: new(int32),
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "podinfo"}}}}},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		kube, err := newKube(b.cfg)
		require.NoError(t, err)
		r := b.router(t, "", func(o *mesh.TrafficSplitOptions) { o.Owner = mesh.DeploymentOwner(kube.AppsV1()) })
		require.NoError(t, r.Reconcile(bg(t), tg))
		ts, err := b.split.SplitV1alpha2().TrafficSplits(b.ns).Get(bg(t), tg.ApexService(), metav1.GetOptions{})
		require.NoError(t, err)
		require.Len(t, ts.OwnerReferences, 1)
		assert.Equal(t, d.UID, ts.OwnerReferences[0].UID)

		require.NoError(t, b.kube.AppsV1().Deployments(b.ns).Delete(bg(t), tg.Name, metav1.DeleteOptions{}))
		require.Eventually(t, func() bool {
			_, err := b.split.SplitV1alpha2().TrafficSplits(b.ns).Get(bg(t), tg.ApexService(), metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		}, time.Minute, 100*time.Millisecond, "the garbage collector deletes the route with its Deployment")
	})
}

// The TrafficSplit router on a real API server, with the CRD serving each set of versions in
// turn: discovery picks the documented version, and the conformance suite passes for the
// detected version and for every served version pinned.
func TestIntegrationTrafficSplit(t *testing.T) {
	b := &splitBed{bed: newBed(t, splitRBAC...)}
	var err error
	b.split, err = splitclient.NewForConfig(b.cfg)
	require.NoError(t, err)
	b.specs, err = specsclient.NewForConfig(b.cfg)
	require.NoError(t, err)

	for _, tc := range []struct {
		name   string
		crd    *apiextensionsv1.CustomResourceDefinition
		served []string
		write  string
	}{
		{"LinkerdSMI", testenv.TrafficSplitCRD(), testenv.LinkerdSMIVersions(), "v1alpha2"},
		{"OnlyV1alpha1", splitCRD("v1alpha1"), []string{"v1alpha1"}, "v1alpha1"},
		{"OnlyV1alpha2", splitCRD("v1alpha2"), []string{"v1alpha2"}, "v1alpha2"},
		{"AllFour", splitCRD("v1alpha4", "v1alpha3", "v1alpha2", "v1alpha1"), []string{"v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4"}, "v1alpha4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			installSplitCRD(t, b.bed, tc.crd)
			b.served(t, mesh.SplitGroup, tc.served...)
			matches := tc.write == "v1alpha4"
			if matches {
				ab := b.target(t)
				ab.Match = abMatch
				err := b.router(t, "").Reconcile(bg(t), ab)
				assert.ErrorIs(t, err, mesh.ErrCRDMissing, "A/B without the HTTPRouteGroup CRD")
				assert.ErrorContains(t, err, "httproutegroups.specs.smi-spec.io")
				testenv.InstallCRDs(t, b.admin, testenv.HTTPRouteGroupCRD())
				b.served(t, mesh.SpecsGroup, "v1alpha3", "v1alpha4")
			}

			v, err := b.router(t, "").APIVersion(bg(t), b.target(t))
			require.NoError(t, err)
			assert.Equal(t, "split.smi-spec.io/"+tc.write, v, "discovery's choice with %v served", tc.served)
			if !matches {
				ab := b.target(t)
				ab.Match = abMatch
				err := b.router(t, "").Reconcile(bg(t), ab)
				assert.ErrorIs(t, err, canary.ErrMatchUnsupported)
				for _, s := range tc.served {
					assert.ErrorContains(t, err, s, "the error names the served versions")
				}
			}

			for _, version := range append([]string{""}, tc.served...) {
				name := "Detected"
				if version != "" {
					name = "Pinned" + version
				}
				t.Run(name, func(t *testing.T) {
					h := meshtest.Harness{
						NewRouter: func(t *testing.T) canary.MeshRouter { return b.router(t, version) },
						NewTarget: b.target,
						Inspect: func(t *testing.T, tg canary.Target) canary.Weights {
							return b.splitWeights(t, tc.served[0], tg)
						},
					}
					if version == "v1alpha3" || version == "v1alpha4" || (version == "" && matches) {
						h.Match = abMatch
					}
					meshtest.Run(t, h)
				})
			}

			if matches {
				// a target that stops using A/B loses its HTTPRouteGroup with the matches
				tg := b.target(t)
				tg.Match = abMatch
				r := b.router(t, "")
				require.NoError(t, r.Reconcile(bg(t), tg))
				groups := b.dyn.Resource(schema.GroupVersionResource{Group: mesh.SpecsGroup, Version: "v1alpha4", Resource: "httproutegroups"}).Namespace(tg.Namespace)
				_, err := groups.Get(bg(t), tg.ApexService(), metav1.GetOptions{})
				require.NoError(t, err)
				tg.Match = nil
				require.NoError(t, r.Reconcile(bg(t), tg))
				_, err = groups.Get(bg(t), tg.ApexService(), metav1.GetOptions{})
				assert.True(t, apierrors.IsNotFound(err), "HTTPRouteGroup deleted: %v", err)
			}
		})
	}
}
