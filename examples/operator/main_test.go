package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/kube"
	"github.com/canarykit/canarykit/kube/driver"
	"github.com/go-logr/logr/testr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
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

// slackReceiver records the text of every Slack-format message posted to it.
type slackReceiver struct {
	mu    sync.Mutex
	texts []string
}

func (s *slackReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var msg struct {
		Text        string `json:"text"`
		Attachments []struct {
			Text string `json:"text"`
		} `json:"attachments"`
	}
	if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	text := msg.Text
	for _, a := range msg.Attachments {
		text += " " + a.Text
	}
	s.mu.Lock()
	s.texts = append(s.texts, text)
	s.mu.Unlock()
}

func (s *slackReceiver) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.texts...)
}

// Two operator replicas: one leads and releases both annotated Deployments at once, and
// delivers alpha's analysis alerts to the Slack AlertProvider its annotation names; the
// Deployment without annotations is left alone.
func TestOperatorReleasesAnnotatedDeployments(t *testing.T) {
	env := testenv.Shared(t)
	testenv.InstallCRDs(t, env.Config(), testenv.AlertProviderCRD())
	ns := env.Namespace(t)
	env.Kubelet(t, ns, "app", testenv.ReadyNow())
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel below: deferred calls run last first
	defer cancel()
	c := env.Client()

	slack := &slackReceiver{}
	srv := httptest.NewServer(slack)
	t.Cleanup(srv.Close)
	dyn, err := dynamic.NewForConfig(env.Config())
	require.NoError(t, err)
	_, err = dyn.Resource(driver.AlertProviders()).Namespace(ns).Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "flagger.app/v1beta1", "kind": "AlertProvider",
		"metadata": map[string]any{"name": "on-call", "namespace": ns},
		"spec":     map[string]any{"type": "slack", "channel": "releases", "address": srv.URL},
	}}, metav1.CreateOptions{})
	require.NoError(t, err)

	alpha := deployment("alpha", true)
	alpha.Annotations[AnnotationAnalysis] += "alerts:\n- name: on-call\n  severity: info\n  providerRef: {name: on-call}\n"
	for _, d := range []*appsv1.Deployment{alpha, deployment("beta", true), deployment("gamma", false)} {
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
	_, err = c.AppsV1().Deployments(ns).Get(ctx, "gamma-primary", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "a deployment without annotations is not touched")
	leader, err := c.CoordinationV1().Leases(ns).Get(ctx, "canarykit-operator", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Contains(t, []string{"replica-1", "replica-2"}, ptr.Deref(leader.Spec.HolderIdentity, ""))

	promoted := func() bool {
		for _, text := range slack.received() {
			if strings.Contains(text, "alpha") && strings.Contains(text, "promotion finished") {
				return true
			}
		}
		return false
	}
	poll("alpha's promotion alert delivered", promoted)
	t.Logf("alerts received: %q", slack.received())
	for _, text := range slack.received() {
		assert.NotContains(t, text, "beta", "beta has no alerts")
	}
	cancel()
}

// A replica whose leader Lease is taken by another identity stops every target and Run returns
// an error (main exits non-zero); a replica stopped by its context returns nil.
func TestOperatorExitsWhenLeadershipIsLost(t *testing.T) {
	env := testenv.Shared(t)
	ns := env.Namespace(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := env.Client()
	_, err := c.AppsV1().Deployments(ns).Create(ctx, deployment("alpha", true), metav1.CreateOptions{})
	require.NoError(t, err)
	env.Kubelet(t, ns, "app", testenv.ReadyNow())

	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Config: env.Config(), Namespace: ns, Router: "kubernetes", Identity: "replica-1", LeaseNamespace: ns,
			LeaderLease: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 200 * time.Millisecond, Logger: testr.New(t)})
	}()
	targetLease := "alpha-canarykit"
	holder := func(name string) string {
		l, err := c.CoordinationV1().Leases(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return ""
		}
		return ptr.Deref(l.Spec.HolderIdentity, "")
	}
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true,
		func(context.Context) (bool, error) { return holder(targetLease) == "replica-1", nil }), "replica-1 leads and drives alpha")

	// another identity takes the leader Lease for an hour
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		l, err := c.CoordinationV1().Leases(ns).Get(ctx, "canarykit-operator", metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.NewMicroTime(time.Now())
		l.Spec = coordinationv1.LeaseSpec{HolderIdentity: ptr.To("intruder"), LeaseDurationSeconds: ptr.To(int32(3600)),
			AcquireTime: &now, RenewTime: &now}
		_, err = c.CoordinationV1().Leases(ns).Update(ctx, l, metav1.UpdateOptions{})
		return err
	}))
	select {
	case err := <-done:
		require.Error(t, err)
		assert.True(t, errors.Is(err, errLostLeadership), "%v", err)
		assert.ErrorContains(t, err, "replica-1 no longer holds "+ns+"/canarykit-operator")
	case <-time.After(2 * time.Minute): // a safety net against a hang, not a timing claim
		t.Fatal("Run did not return after losing the lead")
	}
	assert.Empty(t, holder(targetLease), "the target's lease was released before Run returned")

	// stopped by its context, a replica returns nil
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() {
		done <- Run(ctx2, Options{Config: env.Config(), Namespace: ns, Router: "kubernetes", Identity: "replica-2", LeaseNamespace: ns,
			RetryPeriod: 200 * time.Millisecond, Logger: testr.New(t)})
	}()
	cancel2()
	assert.NoError(t, <-done)
}
