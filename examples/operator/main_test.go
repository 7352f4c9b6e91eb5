package main

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/kube"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/go-logr/logr/testr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{}) }

func deployment(name string, annotated bool) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: name + ":1"}}}}},
	}
	if annotated {
		d.Annotations = map[string]string{AnnotationPort: "8080", AnnotationAnalysis: "interval: 1s\nthreshold: 1\niterations: 2\n"}
	}
	return d
}

// Two operator replicas: one leads and releases both annotated Deployments at once; the
// Deployment without annotations is left alone.
func TestOperatorReleasesAnnotatedDeployments(t *testing.T) {
	env := testenv.Shared(t)
	ns := env.Namespace(t)
	env.Kubelet(t, ns, "app", testenv.ReadyNow())
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel below: deferred calls run last first
	defer cancel()
	c := env.Client()
	for _, d := range []*appsv1.Deployment{deployment("alpha", true), deployment("beta", true), deployment("gamma", false)} {
		_, err := c.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	for _, id := range []string{"replica-1", "replica-2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = Run(ctx, Options{Config: env.Config(), Namespace: ns, Router: "kubernetes", Identity: id,
				LeaseNamespace: ns, Recheck: time.Second, Logger: testr.New(t)})
		}()
	}

	image := func(name string) string {
		d, err := c.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return ""
		}
		return d.Spec.Template.Spec.Containers[0].Image
	}
	poll := func(what string, cond func() bool) {
		t.Helper()
		require.NoError(t, wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true,
			func(context.Context) (bool, error) { return cond(), nil }), what)
	}
	poll("both annotated deployments bootstrapped", func() bool { return image("alpha-primary") == "alpha:1" && image("beta-primary") == "beta:1" })
	for _, name := range []string{"alpha", "beta"} {
		require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
			d, err := c.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			d.Spec.Template.Spec.Containers[0].Image = name + ":2"
			_, err = c.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})
			return err
		}))
	}
	poll("both released and promoted", func() bool { return image("alpha-primary") == "alpha:2" && image("beta-primary") == "beta:2" })
	for _, name := range []string{"alpha", "beta"} {
		l, err := kube.NewLease(kube.LeaseOptions{Client: c, Target: canary.Target{Namespace: ns, Name: name}})
		require.NoError(t, err)
		poll(name+" succeeded", func() bool {
			st, err := l.Load(ctx, canary.Target{Namespace: ns, Name: name})
			return err == nil && st.Phase == canary.PhaseSucceeded
		})
	}
	_, err := c.AppsV1().Deployments(ns).Get(ctx, "gamma-primary", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "a deployment without annotations is not touched")
	leader, err := c.CoordinationV1().Leases(ns).Get(ctx, "canarykit-operator", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Contains(t, []string{"replica-1", "replica-2"}, ptr.Deref(leader.Spec.HolderIdentity, ""))
	cancel()
}

func TestManifestFromAnnotations(t *testing.T) {
	d := deployment("alpha", true)
	d.Namespace = "shop"
	d.Annotations[AnnotationAutoscaler] = "alpha"
	m, err := flagger.LoadCanary([]byte(manifestFor(d)))
	require.NoError(t, err)
	assert.Equal(t, canary.Target{Namespace: "shop", Name: "alpha"}, m.Target)
	assert.Equal(t, 2, m.Spec.Iterations)
	assert.Equal(t, time.Second, m.Spec.Interval)
	assert.Equal(t, int32(8080), m.Workload.Port)
	assert.Equal(t, "alpha", m.Workload.Autoscaler)

	d.Annotations[AnnotationAnalysis] = "stepWeight: 0\n"
	_, err = flagger.LoadCanary([]byte(manifestFor(d)))
	assert.ErrorContains(t, err, "analysis.stepWeight: must be 1..100, got 0")
}
