package mesh

import (
	"encoding/json"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh/meshtest"
)

// services creates Flagger's three services for tg: the apex selecting pods labelled with the
// target's name (before any router touched it), primary and canary.
func services(t *testing.T, kube *kubefake.Clientset, tg canary.Target) {
	t.Helper()
	for name, app := range map[string]string{tg.ApexService(): tg.Name, tg.PrimaryService(): tg.Name + "-primary", tg.CanaryService(): tg.Name} {
		_, err := kube.CoreV1().Services(tg.Namespace).Create(ctx(t), &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: tg.Namespace},
			Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": app}},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
}

// An apex that selects more than the primary's labels is made to select exactly them.
func TestKubernetesAdoptsApex(t *testing.T) {
	kube := kubefake.NewSimpleClientset()
	tg := newTarget()
	services(t, kube, tg)
	apex, err := kube.CoreV1().Services(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	apex.Spec.Selector["tier"] = "web"
	_, err = kube.CoreV1().Services(tg.Namespace).Update(ctx(t), apex, metav1.UpdateOptions{})
	require.NoError(t, err)
	r, err := NewKubernetes(KubernetesOptions{Client: kube.CoreV1()})
	require.NoError(t, err)
	require.NoError(t, r.Reconcile(ctx(t), tg))
	apex, err = kube.CoreV1().Services(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"app": tg.Name + "-primary"}, apex.Spec.Selector)
	assert.Equal(t, "primary", apex.Annotations[RoutedToAnnotation])
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.AllCanary()))
	w, err := r.Weights(ctx(t), tg)
	require.NoError(t, err)
	assert.Equal(t, canary.AllCanary(), w)
}

func TestKubernetesConformanceOnFakes(t *testing.T) {
	kube := kubefake.NewSimpleClientset()
	meshtest.Run(t, meshtest.Harness{
		NewRouter: func(t *testing.T) canary.MeshRouter {
			r, err := NewKubernetes(KubernetesOptions{Client: kube.CoreV1()})
			require.NoError(t, err)
			return r
		},
		NewTarget: func(t *testing.T) canary.Target {
			tg := newTarget()
			services(t, kube, tg)
			return tg
		},
		Inspect: func(t *testing.T, tg canary.Target) canary.Weights {
			apex, err := kube.CoreV1().Services(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
			require.NoError(t, err)
			switch apex.Spec.Selector["app"] {
			case tg.Name + "-primary":
				return canary.AllPrimary()
			case tg.Name:
				return canary.AllCanary()
			}
			t.Fatalf("apex selector %v", apex.Spec.Selector)
			return canary.Weights{}
		},
		Weights: []canary.Weights{canary.AllPrimary(), canary.AllCanary(), canary.AllPrimary()},
	})
}

func TestKubernetesRefusesSplits(t *testing.T) {
	kube := kubefake.NewSimpleClientset()
	tg := newTarget()
	services(t, kube, tg)
	r, err := NewKubernetes(KubernetesOptions{Client: kube.CoreV1()})
	require.NoError(t, err)
	require.NoError(t, r.Reconcile(ctx(t), tg))
	err = r.SetWeights(ctx(t), tg, canary.CanaryWeight(10))
	assert.ErrorIs(t, err, canary.ErrInvalidWeights)
	assert.ErrorContains(t, err, "100/0 or 0/100")

	n := len(kube.Actions())
	require.NoError(t, r.SetWeights(ctx(t), tg, canary.AllCanary()))
	assert.Equal(t, []string{"patch"}, verbs(&kube.Fake, n), "one request per switch")

	fresh, err := NewKubernetes(KubernetesOptions{Client: kube.CoreV1()})
	require.NoError(t, err)
	w, err := fresh.Weights(ctx(t), tg)
	require.NoError(t, err)
	assert.Equal(t, canary.AllCanary(), w)
}

func TestKubernetesMisconfiguredServices(t *testing.T) {
	kube := kubefake.NewSimpleClientset()
	tg := newTarget()
	for _, name := range []string{tg.ApexService(), tg.PrimaryService(), tg.CanaryService()} {
		_, err := kube.CoreV1().Services(tg.Namespace).Create(ctx(t), &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: tg.Namespace},
			Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "same"}},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	r, err := NewKubernetes(KubernetesOptions{Client: kube.CoreV1()})
	require.NoError(t, err)
	err = r.Reconcile(ctx(t), tg)
	requirePermanent(t, err)
	assert.ErrorContains(t, err, "select the same pods")

	_, err = NewKubernetes(KubernetesOptions{})
	assert.ErrorContains(t, err, "Client is required")
}

// versionedServices makes kube's Services keep resourceVersions as the API server's do where
// the router's writes need them: each create and update sets a new one, and a merge patch
// naming another than the stored one fails with a conflict (client-go's fake does neither).
func versionedServices(kube *kubefake.Clientset) {
	var version atomic.Int64
	version.Store(100)
	bump := func(a clienttesting.Action) (bool, runtime.Object, error) {
		if u, ok := a.(clienttesting.UpdateAction); ok {
			u.GetObject().(*corev1.Service).ResourceVersion = strconv.FormatInt(version.Add(1), 10)
		}
		return false, nil, nil
	}
	kube.PrependReactor("update", "services", bump)
	kube.PrependReactor("create", "services", func(a clienttesting.Action) (bool, runtime.Object, error) {
		a.(clienttesting.CreateAction).GetObject().(*corev1.Service).ResourceVersion = strconv.FormatInt(version.Add(1), 10)
		return false, nil, nil
	})
	kube.PrependReactor("patch", "services", func(a clienttesting.Action) (bool, runtime.Object, error) {
		p := a.(clienttesting.PatchAction)
		cur, err := kube.Tracker().Get(corev1.SchemeGroupVersion.WithResource("services"), p.GetNamespace(), p.GetName())
		if err != nil {
			return false, nil, nil
		}
		var body struct {
			Metadata struct {
				ResourceVersion string `json:"resourceVersion"`
			} `json:"metadata"`
		}
		_ = json.Unmarshal(p.GetPatch(), &body)
		if rv := body.Metadata.ResourceVersion; rv != "" && rv != cur.(*corev1.Service).ResourceVersion {
			return true, nil, apierrors.NewConflict(corev1.Resource("services"), p.GetName(), errors.New("the object has been modified"))
		}
		return false, nil, nil
	})
}

// An apex another target took since the router last saw it, or one the router never read (a
// new process resuming a release), is never switched: the router reads it first, or writes at
// the version it saw, and refuses it (ErrNotOwned), leaving it as it is.
func TestKubernetesNeverSwitchesAnotherTargetsApex(t *testing.T) {
	take := func(t *testing.T, kube *kubefake.Clientset, tg canary.Target) {
		apex, err := kube.CoreV1().Services(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
		require.NoError(t, err)
		apex.Annotations = map[string]string{canary.AnnotationTarget: "other"}
		apex.Spec.Selector = map[string]string{"app": "other-primary"}
		_, err = kube.CoreV1().Services(tg.Namespace).Update(ctx(t), apex, metav1.UpdateOptions{})
		require.NoError(t, err)
	}
	for name, before := range map[string]func(t *testing.T, kube *kubefake.Clientset, r *Kubernetes, tg canary.Target){
		"never read": func(t *testing.T, kube *kubefake.Clientset, _ *Kubernetes, tg canary.Target) { take(t, kube, tg) },
		"taken after Reconcile read it": func(t *testing.T, kube *kubefake.Clientset, r *Kubernetes, tg canary.Target) {
			require.NoError(t, r.Reconcile(ctx(t), tg))
			take(t, kube, tg)
		},
	} {
		t.Run(name, func(t *testing.T) {
			kube := kubefake.NewSimpleClientset()
			versionedServices(kube)
			tg := newTarget()
			services(t, kube, tg)
			r, err := NewKubernetes(KubernetesOptions{Client: kube.CoreV1()})
			require.NoError(t, err)
			before(t, kube, r, tg)
			err = r.SetWeights(ctx(t), tg, canary.AllCanary())
			require.ErrorIs(t, err, ErrNotOwned)
			after, err := kube.CoreV1().Services(tg.Namespace).Get(ctx(t), tg.ApexService(), metav1.GetOptions{})
			require.NoError(t, err)
			assert.Equal(t, map[string]string{"app": "other-primary"}, after.Spec.Selector, "the other target's apex is left as it is")
		})
	}
}
