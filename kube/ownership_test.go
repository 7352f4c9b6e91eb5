package kube

import (
	"context"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

// workloadOn returns a Workload for target on a Cluster of its own over client: its caches
// start from what client holds now.
func workloadOn(t *testing.T, client *fake.Clientset, target canary.Target) *Workload {
	t.Helper()
	c, err := New(Options{Client: client})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	w, err := c.Workload(WorkloadOptions{Target: target, Port: 9898})
	require.NoError(t, err)
	return w
}

// writes lists the writes made through client since its last reset: "verb resource/name".
func writes(client *fake.Clientset) []string {
	var out []string
	for _, a := range client.Actions() {
		switch a.GetVerb() {
		case "create", "update", "patch", "delete":
			name := ""
			switch a := a.(type) {
			case k8stesting.CreateAction:
				if m, err := meta.Accessor(a.GetObject()); err == nil {
					name = m.GetName()
				}
			case k8stesting.UpdateAction:
				if m, err := meta.Accessor(a.GetObject()); err == nil {
					name = m.GetName()
				}
			case k8stesting.PatchAction:
				name = a.GetName()
			case k8stesting.DeleteAction:
				name = a.GetName()
			}
			out = append(out, a.GetVerb()+" "+a.GetResource().Resource+"/"+name)
		}
	}
	return out
}

// podinfoWithConfig is the target podinfo (replicas as given) reading the ConfigMap
// podinfo-config, which canarykit copies for the primary.
func podinfoWithConfig(replicas int32) []runtime.Object {
	d := testenv.PodinfoDeployment("podinfo", "podinfo:1", replicas)
	d.Namespace = "test"
	d.Spec.Template.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{
		{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "podinfo-config"}}}}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "podinfo-config", Namespace: "test"}, Data: map[string]string{"k": "v"}}
	return []runtime.Object{d, cm}
}

// A Deployment canarykit made (podinfo's primary) named as a target is refused before
// anything is written: releasing it would rewrite the primary and scale it to zero.
func TestTargetMadeByCanarykitIsRefused(t *testing.T) {
	ctx := context.Background()
	primary := testenv.PodinfoDeployment("podinfo-primary", "podinfo:1", 3)
	primary.Namespace = "test"
	primary.Labels[canary.LabelManagedBy] = canary.ManagedBy
	primary.Annotations = map[string]string{AnnotationTarget: "podinfo", AnnotationCanary: "podinfo"}
	client := fake.NewClientset(primary)
	target := canary.Target{Namespace: "test", Name: "podinfo-primary", Service: "other"}
	w := workloadOn(t, client, target)
	client.ClearActions()

	err := w.Bootstrap(ctx, target)
	require.EqualError(t, err, "deployment test/podinfo-primary is the primary canarykit made for target podinfo; "+
		"a target (targetRef.name) must be the user's own Deployment")
	assert.True(t, canary.IsPermanent(err))
	for name, call := range map[string]func() error{
		"ScaleDown": func() error { return w.ScaleDown(ctx, target) },
		"ScaleUp":   func() error { return w.ScaleUp(ctx, target) },
		"Promote":   func() error { return w.Promote(ctx, target, "any") },
		"Observe":   func() error { _, err := w.Observe(ctx, target); return err },
	} {
		assert.ErrorContains(t, call(), "is the primary canarykit made for target podinfo", name)
	}
	assert.Empty(t, writes(client))
	got, err := client.AppsV1().Deployments("test").Get(ctx, "podinfo-primary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(3), *got.Spec.Replicas)
}

// A second Canary of a target finds the first one's objects (named after the target) and is
// refused with a permanent error naming it: it creates nothing, and handing it back leaves
// the first one's primary, config copy and target alone.
func TestSecondCanaryOfATargetIsRefused(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset(podinfoWithConfig(0)...)
	first := canary.Target{Namespace: "test", Name: "podinfo"}
	require.NoError(t, workloadOn(t, client, first).Bootstrap(ctx, first))
	primary, err := client.AppsV1().Deployments("test").Get(ctx, "podinfo-primary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "podinfo", primary.Annotations[AnnotationCanary], "Canary podinfo is named like its target")

	second := canary.Target{Namespace: "test", Name: "podinfo", Canary: "podinfo-b", Service: "podinfo-b"}
	w := workloadOn(t, client, second)
	client.ClearActions()
	err = w.Bootstrap(ctx, second)
	require.ErrorContains(t, err, "configmap test/podinfo-config-primary was made by canarykit for Canary podinfo of target podinfo, "+
		"not for Canary podinfo-b: a target Deployment can have one Canary only")
	assert.True(t, canary.IsPermanent(err))
	assert.Empty(t, writes(client))

	_, err = w.RestoreTarget(ctx, second)
	require.ErrorContains(t, err, "deployment test/podinfo-primary was made by canarykit for Canary podinfo")
	assert.True(t, canary.IsPermanent(err))
	require.NoError(t, w.HandBackApex(ctx, second))
	require.NoError(t, w.RemoveGenerated(ctx, second))
	assert.Empty(t, writes(client), "nothing of Canary podinfo's is scaled, handed back or removed")
	for _, get := range []func() error{
		func() error {
			_, err := client.AppsV1().Deployments("test").Get(ctx, "podinfo-primary", metav1.GetOptions{})
			return err
		},
		func() error {
			_, err := client.CoreV1().ConfigMaps("test").Get(ctx, "podinfo-config-primary", metav1.GetOptions{})
			return err
		},
		func() error {
			_, err := client.CoreV1().Services("test").Get(ctx, "podinfo-primary", metav1.GetOptions{})
			return err
		},
	} {
		require.NoError(t, get())
	}
}

// Two Canaries of one target bootstrapping at once: the one whose create finds the object
// made by the other a moment before (after its cache said there was none) gets the same
// permanent error naming the other, and writes nothing more.
func TestRacingCanaryFindsTheOthersObject(t *testing.T) {
	ctx := context.Background()
	d := testenv.PodinfoDeployment("podinfo", "podinfo:1", 1)
	d.Namespace = "test"
	client := fake.NewClientset(d)
	second := canary.Target{Namespace: "test", Name: "podinfo", Canary: "podinfo-b", Service: "podinfo-b"}
	w := workloadOn(t, client, second)
	// the other Canary's create lands between this one's cache read and its own create
	client.PrependReactor("create", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*appsv1.Deployment).DeepCopy()
		p.Annotations[AnnotationCanary] = "podinfo"
		p.Spec.Replicas = ptr.To(int32(4))
		require.NoError(t, client.Tracker().Add(p))
		return false, nil, nil // the create goes on, and finds it
	})
	client.ClearActions()
	err := w.Bootstrap(ctx, second)
	require.ErrorContains(t, err, "deployment test/podinfo-primary was made by canarykit for Canary podinfo of target podinfo, not for Canary podinfo-b")
	assert.True(t, canary.IsPermanent(err))
	var conflict *CanaryConflictError
	require.ErrorAs(t, err, &conflict, "the refusal names the Canary the objects were made for")
	assert.Equal(t, CanaryConflictError{Kind: "deployment", Namespace: "test", Name: "podinfo-primary", Target: "podinfo", Canary: "podinfo", Refused: "podinfo-b"}, *conflict)
	assert.Equal(t, []string{"create deployments/podinfo-primary"}, writes(client), "no Service is made after the refusal")
	p, err := client.AppsV1().Deployments("test").Get(ctx, "podinfo-primary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(4), *p.Spec.Replicas)
}

// Objects an earlier canarykit made carry no Canary record: they are the target's, Bootstrap
// records its Canary on each of them (once), and another Canary is refused from then on.
func TestBootstrapClaimsObjectsOfAnEarlierCanarykit(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset(podinfoWithConfig(1)...)
	first := canary.Target{Namespace: "test", Name: "podinfo", Canary: "podinfo-a"}
	require.NoError(t, workloadOn(t, client, first).Bootstrap(ctx, first))
	unrecord := func(obj metav1.Object) {
		delete(obj.GetAnnotations(), AnnotationCanary)
	}
	p, err := client.AppsV1().Deployments("test").Get(ctx, "podinfo-primary", metav1.GetOptions{})
	require.NoError(t, err)
	unrecord(p)
	_, err = client.AppsV1().Deployments("test").Update(ctx, p, metav1.UpdateOptions{})
	require.NoError(t, err)
	cm, err := client.CoreV1().ConfigMaps("test").Get(ctx, "podinfo-config-primary", metav1.GetOptions{})
	require.NoError(t, err)
	unrecord(cm)
	_, err = client.CoreV1().ConfigMaps("test").Update(ctx, cm, metav1.UpdateOptions{})
	require.NoError(t, err)
	for _, name := range []string{"podinfo", "podinfo-primary", "podinfo-canary"} {
		s, err := client.CoreV1().Services("test").Get(ctx, name, metav1.GetOptions{})
		require.NoError(t, err)
		unrecord(s)
		_, err = client.CoreV1().Services("test").Update(ctx, s, metav1.UpdateOptions{})
		require.NoError(t, err)
	}

	w := workloadOn(t, client, first)
	client.ClearActions()
	require.NoError(t, w.Bootstrap(ctx, first))
	assert.ElementsMatch(t, []string{"update configmaps/podinfo-config-primary", "patch deployments/podinfo-primary",
		"update services/podinfo", "update services/podinfo-primary", "update services/podinfo-canary"}, writes(client))
	p, err = client.AppsV1().Deployments("test").Get(ctx, "podinfo-primary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "podinfo-a", p.Annotations[AnnotationCanary])
	assert.Equal(t, "podinfo", p.Annotations[AnnotationTarget])
	cm, err = client.CoreV1().ConfigMaps("test").Get(ctx, "podinfo-config-primary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "podinfo-a", cm.Annotations[AnnotationCanary])
	assert.Equal(t, map[string]string{"k": "v"}, cm.Data)

	second := canary.Target{Namespace: "test", Name: "podinfo", Canary: "podinfo-b", Service: "podinfo-b"}
	err = workloadOn(t, client, second).Bootstrap(ctx, second)
	require.ErrorContains(t, err, "was made by canarykit for Canary podinfo-a of target podinfo, not for Canary podinfo-b")
}

// A target whose Services cannot be named as the target says (a dotted service.name, or a
// target name that is no Service name when service.name is not set) is refused by Bootstrap
// before its first write, at the field to change.
func TestBootstrapRefusesServiceNamesBeforeWriting(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		target canary.Target
		want   string
	}{
		{canary.Target{Namespace: "test", Name: "podinfo", Service: "web.other"}, `invalid target: service.name: "web.other" cannot name the target's Services`},
		{canary.Target{Namespace: "test", Name: "web.v2"}, `invalid target: targetRef.name: "web.v2" cannot name the target's Services`},
		{canary.Target{Namespace: "test", Name: "1app"}, `invalid target: targetRef.name: "1app" cannot name the target's Services`},
	} {
		t.Run(tc.target.Name, func(t *testing.T) {
			d := testenv.PodinfoDeployment(tc.target.Name, "podinfo:1", 1)
			d.Namespace = "test"
			client := fake.NewClientset(d)
			w := workloadOn(t, client, tc.target)
			client.ClearActions()
			err := w.Bootstrap(ctx, tc.target)
			require.ErrorContains(t, err, tc.want)
			assert.ErrorIs(t, err, canary.ErrInvalidSpec)
			assert.True(t, canary.IsPermanent(err))
			assert.Empty(t, writes(client))
			_, err = client.AppsV1().Deployments("test").Get(ctx, tc.target.PrimaryName(), metav1.GetOptions{})
			assert.True(t, apierrors.IsNotFound(err), "no primary: %v", err)
		})
	}
}
