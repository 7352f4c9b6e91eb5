package driver

import (
	"context"
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
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
)

// daemonSetManifest is a Canary of the DaemonSet agent, blue/green on the apex Service
// (provider kubernetes, no route CRD); with hook, a rollout webhook that fails.
func daemonSetManifest(ns string, failingHook bool) []byte {
	hooks := ""
	if failingHook {
		hooks = `
    webhooks: [{name: check, type: rollout, url: "http://hooks.test/fail"}]`
	}
	return []byte(`apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: agent, namespace: ` + ns + `}
spec:
  provider: kubernetes
  targetRef: {apiVersion: apps/v1, kind: DaemonSet, name: agent}
  service: {port: 9898}
  analysis:
    interval: 1s
    threshold: 1
    iterations: 2` + hooks + `
`)
}

// createAgent creates the DaemonSet agent in ns (container "app", agent:1, selected by
// app: agent), on the test's node only.
func createAgent(ctx context.Context, t *testing.T, env *testenv.Env, ns string) {
	t.Helper()
	labels := map[string]string{"app": "agent"}
	_, err := env.Client().AppsV1().DaemonSets(ns).Create(ctx, &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
				NodeSelector: map[string]string{"canarykit.dev/test-node": ns},
				Containers:   []corev1.Container{{Name: "app", Image: "agent:1"}}}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
}

// createNode creates a Node labelled canarykit.dev/test-node=ns, Ready and untainted, for the
// daemonset controller to run the namespace's DaemonSets on (the bed has no scheduler and no
// kubelet: the controller's pods name the node by their node affinity and stay unbound, and
// the kubelet stand-in makes them ready), and deletes it when the test ends.
func createNode(ctx context.Context, t *testing.T, env *testenv.Env, ns string) {
	t.Helper()
	nodes := env.Client().CoreV1().Nodes()
	n, err := nodes.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-" + ns,
		Labels: map[string]string{"canarykit.dev/test-node": ns}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = nodes.Delete(context.Background(), n.Name, metav1.DeleteOptions{}) })
	// the API server's admission taints a new Node not-ready until its node lifecycle
	// controller (none on the bed) sees it Ready; DaemonSet pods do not tolerate the taint
	n.Spec.Taints = nil
	n, err = nodes.Update(ctx, n, metav1.UpdateOptions{})
	require.NoError(t, err)
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
		LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(), Reason: "KubeletReady"}}
	_, err = nodes.UpdateStatus(ctx, n, metav1.UpdateOptions{})
	require.NoError(t, err)
}

// A Flagger Canary of a DaemonSet, released by the driver on the real API server with the
// daemonset controller, under exactly kube.RBAC(), kube.RevertRBAC() and the kubernetes
// router's rule: the bootstrap makes the primary DaemonSet and scales the target to zero by
// Flagger's node selector (the controller removes its pods); a new image is released and
// promoted, the target scaled to zero again; a release whose checks fail rolls back (the
// primary keeps the promoted image); the revert hands the target back without the node
// selector and removes the primary.
func TestDaemonSetReleaseRollbackAndRevert(t *testing.T) {
	env := testenv.Shared(t)
	ctx, _, ns := bedNamespace(t, env)
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	createNode(ctx, t, env, ns)
	createAgent(ctx, t, env, ns)
	daemonSet := func(name string) *appsv1.DaemonSet {
		t.Helper()
		d, err := env.Client().AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
		require.NoError(t, err)
		return d
	}
	setImage := func(image string) {
		t.Helper()
		require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
			d := daemonSet("agent")
			d.Spec.Template.Spec.Containers[0].Image = image
			_, err := env.Client().AppsV1().DaemonSets(ns).Update(ctx, d, metav1.UpdateOptions{})
			return err
		}))
	}

	name, cfg := env.NewUser(t)
	env.Grant(t, name, ns, append(embeddedRules(t, kube.RBAC(), kube.RevertRBAC()),
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"get", "patch"}})...)
	d, err := New(Options{Config: cfg, HookTransport: hookAnswers{}, Logger: testr.New(t)})
	require.NoError(t, err)
	defer d.Close()
	release := func(failingHook bool) canary.Result {
		t.Helper()
		c, err := flagger.LoadCanary(daemonSetManifest(ns, failingHook))
		require.NoError(t, err)
		rel, err := d.Release(ctx, c, nil)
		require.NoError(t, err)
		res, err := rel.Run(ctx)
		require.NoError(t, err)
		return res
	}
	scaledDown := func() bool {
		t.Helper()
		_, ok := daemonSet("agent").Spec.Template.Spec.NodeSelector[kube.ScaleToZeroNodeSelector]
		return ok
	}

	res := release(false)
	require.Equal(t, canary.PhaseInitialized, res.Phase, res.Reason)
	p := daemonSet("agent-primary")
	assert.Equal(t, map[string]string{"app": "agent-primary"}, p.Spec.Selector.MatchLabels)
	assert.Equal(t, int32(1), p.Status.DesiredNumberScheduled, "the primary runs on the node")
	assert.True(t, scaledDown(), "the target is scaled to zero")

	setImage("agent:2")
	res = release(false)
	require.Equal(t, canary.PhaseSucceeded, res.Phase, res.Reason)
	assert.Equal(t, "agent:2", daemonSet("agent-primary").Spec.Template.Spec.Containers[0].Image, "promoted")
	assert.True(t, scaledDown(), "scaled to zero again once the release is over")
	assert.Equal(t, map[string]string{"canarykit.dev/test-node": ns}, daemonSet("agent-primary").Spec.Template.Spec.NodeSelector)

	setImage("agent:3")
	res = release(true)
	require.Equal(t, canary.PhaseFailed, res.Phase, res.Reason)
	assert.Equal(t, "agent:2", daemonSet("agent-primary").Spec.Template.Spec.Containers[0].Image, "rolled back: the primary is not promoted")
	assert.True(t, scaledDown(), "the canary is scaled to zero after the rollback")

	c, err := flagger.LoadCanary(daemonSetManifest(ns, false))
	require.NoError(t, err)
	require.NoError(t, d.Retire(ctx, c, Retirement{Revert: true}))
	assert.False(t, scaledDown(), "handed back without the scale-down node selector")
	_, err = env.Client().AppsV1().DaemonSets(ns).Get(ctx, "agent-primary", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the primary is removed: %v", err)
}

// A Target of a DaemonSet, kicked only by Driver.OnDeployment (its recheck is an hour away),
// releases a change of the DaemonSet: the DaemonSets' events reach the controller's kicks
// as the Deployments' do. Under exactly kube.RBAC() and the kubernetes router's rule.
func TestDaemonSetChangeKicksItsTarget(t *testing.T) {
	env := testenv.Shared(t)
	ctx, cancel, ns := bedNamespace(t, env)
	createNode(ctx, t, env, ns)
	createAgent(ctx, t, env, ns)
	name, cfg := env.NewUser(t)
	env.Grant(t, name, ns, append(embeddedRules(t, kube.RBAC()),
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"get", "patch"}})...)
	d, err := New(Options{Config: cfg, Recheck: time.Hour, Logger: testr.New(t)})
	require.NoError(t, err)
	defer d.Close()
	c, err := flagger.LoadCanary(daemonSetManifest(ns, false))
	require.NoError(t, err)
	tg, err := d.Target(c, nil)
	require.NoError(t, err)
	defer d.OnDeployment(func(namespace, name string) {
		if namespace == ns && name == "agent" {
			tg.Kick()
		}
	})()
	started := make(chan error, 1)
	go func() { started <- tg.Start(ctx) }()
	poll := func(what string, cond func() bool) {
		t.Helper()
		require.NoError(t, wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 2*time.Minute, true,
			func(context.Context) (bool, error) { return cond(), nil }), what)
	}
	poll("initialized", func() bool { return tg.Last().Phase == canary.PhaseInitialized })

	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ds, err := env.Client().AppsV1().DaemonSets(ns).Get(ctx, "agent", metav1.GetOptions{})
		if err != nil {
			return err
		}
		ds.Spec.Template.Spec.Containers[0].Image = "agent:2"
		_, err = env.Client().AppsV1().DaemonSets(ns).Update(ctx, ds, metav1.UpdateOptions{})
		return err
	}))
	poll("the change released", func() bool { return tg.Last().Released && tg.Last().Phase == canary.PhaseSucceeded })
	p, err := env.Client().AppsV1().DaemonSets(ns).Get(ctx, "agent-primary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "agent:2", p.Spec.Template.Spec.Containers[0].Image)
	cancel()
	require.NoError(t, <-started)
}
