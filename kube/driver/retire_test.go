package driver

import (
	"context"
	"testing"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/flagger"
)

var trafficSplits = schema.GroupVersionResource{Group: "split.smi-spec.io", Version: "v1alpha2", Resource: "trafficsplits"}

// retireBed is a Driver over fakes serving TrafficSplits, with the given objects.
type retireBed struct {
	d   *Driver
	dyn *dynfake.FakeDynamicClient
}

func newRetireBed(t *testing.T, core []runtime.Object, splits ...*unstructured.Unstructured) retireBed {
	t.Helper()
	cs := fake.NewClientset(core...)
	cs.Resources = []*metav1.APIResourceList{{GroupVersion: trafficSplits.GroupVersion().String(),
		APIResources: []metav1.APIResource{{Name: "trafficsplits", Namespaced: true, Kind: "TrafficSplit"}}}}
	var objs []runtime.Object
	for _, s := range splits {
		objs = append(objs, s)
	}
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{trafficSplits: "TrafficSplitList"}, objs...)
	d := &Driver{opts: Options{Logger: logr.Discard()}, client: cs, dyn: dyn}
	d.routers = newRouters(d)
	return retireBed{d: d, dyn: dyn}
}

// trafficSplit is a TrafficSplit named name, labelled as canarykit's, made for target (none
// when empty).
func trafficSplit(name, target string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(trafficSplits.GroupVersion().String())
	u.SetKind("TrafficSplit")
	u.SetNamespace("ns")
	u.SetName(name)
	u.SetUID(types.UID("uid-" + name))
	u.SetResourceVersion("5")
	u.SetLabels(map[string]string{canary.LabelManagedBy: canary.ManagedBy})
	if target != "" {
		u.SetAnnotations(map[string]string{canary.AnnotationTarget: target})
	}
	return u
}

func smiCanary(target, service string) *flagger.Canary {
	return &flagger.Canary{Name: target, Namespace: "ns", Target: canary.Target{Namespace: "ns", Name: target, Service: service},
		Router: flagger.Router{Kind: flagger.RouterSMI}, RevertOnDeletion: true}
}

func (b retireBed) splitExists(t *testing.T, name string) bool {
	t.Helper()
	_, err := b.dyn.Resource(trafficSplits).Namespace("ns").Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false
	}
	require.NoError(t, err)
	return true
}

// A target's revert removes the route objects made for it, or made before canarykit recorded
// their target, with preconditions on what it read.
func TestRevertRemovesTheTargetsRoute(t *testing.T) {
	for name, made := range map[string]string{"recording the target": "b", "recording no target": ""} {
		t.Run(name, func(t *testing.T) {
			bed := newRetireBed(t, nil, trafficSplit("web", made))
			removed, err := bed.d.removeRoute(context.Background(), smiCanary("b", "web"), nil)
			require.NoError(t, err)
			assert.True(t, removed)
			assert.False(t, bed.splitExists(t, "web"))
			var del clienttesting.DeleteActionImpl
			for _, a := range bed.dyn.Actions() {
				if d, ok := a.(clienttesting.DeleteActionImpl); ok {
					del = d
				}
			}
			require.NotNil(t, del.DeleteOptions.Preconditions)
			assert.Equal(t, "uid-web", string(*del.DeleteOptions.Preconditions.UID))
			require.NotNil(t, del.DeleteOptions.Preconditions.ResourceVersion)
			assert.Equal(t, "5", *del.DeleteOptions.Preconditions.ResourceVersion)
		})
	}
}

// A Canary whose service names another target's apex (its bootstrap refused) is deleted with
// revertOnDeletion: the other target's route is kept, whether it records its target or, made
// earlier, records none (then the apex Service, canarykit's for the other target, tells).
func TestRevertKeepsAnotherTargetsRoute(t *testing.T) {
	apex := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns",
		Labels:      map[string]string{canary.LabelManagedBy: canary.ManagedBy},
		Annotations: map[string]string{canary.AnnotationTarget: "a"}}}
	for name, bed := range map[string]retireBed{
		"recording the target":             newRetireBed(t, nil, trafficSplit("web", "a")),
		"recording no target, apex is a's": newRetireBed(t, []runtime.Object{apex}, trafficSplit("web", "")),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := bed.d.removeRoute(context.Background(), smiCanary("b", "web"), nil)
			require.NoError(t, err)
			assert.True(t, bed.splitExists(t, "web"), "the other target's TrafficSplit is kept")
			for _, a := range bed.dyn.Actions() {
				assert.NotEqual(t, "delete", a.GetVerb())
			}
		})
	}
}
