package kube_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/kube"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{Audit: true}) }

// bed is one test's slice of the shared control plane: a namespace, a least-privilege identity
// bound to exactly kube.RBAC(), and a kubelet stand-in that readies the namespace's pods.
type bed struct {
	env     *testenv.Env
	ns      string
	admin   kubernetes.Interface // for the test's own setup and assertions
	client  kubernetes.Interface // the SDK's identity
	user    string
	kubelet *testenv.Kubelet
	target  canary.Target
}

func newBed(t *testing.T) *bed {
	t.Helper()
	env := testenv.Shared(t)
	ns := env.Namespace(t)
	var role rbacv1.ClusterRole
	require.NoError(t, yaml.Unmarshal(kube.RBAC(), &role))
	user, cfg := env.NewUser(t)
	env.Grant(t, user, ns, role.Rules...)
	client, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	return &bed{env: env, ns: ns, admin: env.Client(), client: client, user: user,
		kubelet: env.Kubelet(t, ns, "app", testenv.ReadyNow()),
		target:  canary.Target{Namespace: ns, Name: "podinfo"}}
}

// cluster is a Cluster over the bed's client (and dyn, if set, for KEDA ScaledObjects), closed
// when the test ends.
func (b *bed) cluster(t *testing.T, dyn ...dynamic.Interface) *kube.Cluster {
	t.Helper()
	opts := kube.Options{Client: b.client}
	if len(dyn) > 0 {
		opts.Dynamic = dyn[0]
	}
	c, err := kube.New(opts)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// createTarget creates the podinfo Deployment (two replicas, a tracked ConfigMap).
func (b *bed) createTarget(t *testing.T, image string) {
	t.Helper()
	ctx := context.Background()
	_, err := b.admin.CoreV1().ConfigMaps(b.ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo-config"}, Data: map[string]string{"color": "blue"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Labels: map[string]string{"app": "podinfo"}},
		Spec: appsv1.DeploymentSpec{
			Replicas:                ptr.To(int32(2)),
			ProgressDeadlineSeconds: ptr.To(int32(600)),
			Selector:                &metav1.LabelSelector{MatchLabels: map[string]string{"app": "podinfo"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "podinfo"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "podinfod", Image: image, Ports: []corev1.ContainerPort{{ContainerPort: 9898}},
					EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "podinfo-config"}}}},
				}}},
			},
		},
	}
	_, err = b.admin.AppsV1().Deployments(b.ns).Create(ctx, d, metav1.CreateOptions{})
	require.NoError(t, err)
}

func (b *bed) setImage(t *testing.T, image string) {
	t.Helper()
	b.updateTarget(t, func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = image })
}

// updateTarget edits the target as a user would, retrying when the controllers wrote first.
func (b *bed) updateTarget(t *testing.T, edit func(*appsv1.Deployment)) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := b.admin.AppsV1().Deployments(b.ns).Get(ctx, "podinfo", metav1.GetOptions{})
		if err != nil {
			return err
		}
		edit(d)
		_, err = b.admin.AppsV1().Deployments(b.ns).Update(ctx, d, metav1.UpdateOptions{})
		return err
	}))
}

func (b *bed) deployment(t *testing.T, name string) *appsv1.Deployment {
	t.Helper()
	d, err := b.admin.AppsV1().Deployments(b.ns).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return d
}

// driver is one process driving the target: its own Cluster, Workload, Lease and events, a
// simulated router and metrics, and a real clock with a short interval.
type driver struct {
	cluster *kube.Cluster
	lease   *kube.Lease
	events  *kube.Events
	rollout *canary.Rollout
	rec     *canarytest.Recorder
}

type driverOptions struct {
	identity   string
	spec       func(*canary.Spec)
	autoscaler string
	metrics    *canarytest.Metrics
	router     *canarytest.Router
	gates      *canarytest.Gates
	then       func(canary.Event)
	workload   func(*kube.WorkloadOptions)
	dynamic    dynamic.Interface // the Cluster's Options.Dynamic
}

func testSpec() canary.Spec {
	return canary.Spec{
		Interval:         300 * time.Millisecond,
		Threshold:        3,
		MaxWeight:        30,
		StepWeight:       10,
		ProgressDeadline: time.Minute,
		Metrics:          []canary.Metric{{Name: "request-success-rate", ThresholdRange: canary.AtLeast(99)}},
	}
}

func (b *bed) driver(t *testing.T, o driverOptions) *driver {
	t.Helper()
	cluster := b.cluster(t, o.dynamic)
	wo := kube.WorkloadOptions{Target: b.target, Port: 9898, Autoscaler: o.autoscaler}
	if o.workload != nil {
		o.workload(&wo)
	}
	w, err := cluster.Workload(wo)
	require.NoError(t, err)
	if o.identity == "" {
		o.identity = "driver-1"
	}
	lease, err := kube.NewLease(kube.LeaseOptions{Client: b.client, Target: b.target, Identity: o.identity})
	require.NoError(t, err)
	events, err := cluster.Events(kube.EventsOptions{})
	require.NoError(t, err)
	t.Cleanup(events.Shutdown)
	if o.metrics == nil {
		o.metrics = &canarytest.Metrics{}
		o.metrics.Set("request-success-rate", canarytest.Constant(99.9))
	}
	if o.router == nil {
		o.router = &canarytest.Router{}
	}
	if o.gates == nil {
		o.gates = &canarytest.Gates{}
	}
	spec := testSpec()
	if o.spec != nil {
		o.spec(&spec)
	}
	rec := &canarytest.Recorder{Then: o.then}
	onEvent := events.For(b.target)
	r, err := canary.New(canary.Config{
		Target: b.target, Spec: spec, Workload: w, Router: o.router, Metrics: o.metrics, Store: lease,
		Webhooks: o.gates, Builtins: canarytest.Builtins(),
		OnEvent: func(e canary.Event) { onEvent(e); rec.Handle(e) },
	})
	require.NoError(t, err)
	return &driver{cluster: cluster, lease: lease, events: events, rollout: r, rec: rec}
}

// run drives one Run under the lease, applying control requests from other processes.
func (d *driver) run(ctx context.Context) (canary.Result, error) {
	var res canary.Result
	err := d.lease.Hold(ctx, func(ctx context.Context) error {
		stop, err := d.cluster.Controls(ctx, d.lease, func(c kube.Control) { _ = c.Apply(d.rollout) })
		if err != nil {
			return err
		}
		defer stop()
		res, err = d.rollout.Run(ctx)
		return err
	})
	return res, err
}

func (d *driver) mustRun(t *testing.T) canary.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := d.run(ctx)
	require.NoError(t, err, "events:\n%s", strings.Join(d.rec.Messages(), "\n"))
	return res
}

func image(d *appsv1.Deployment) string { return d.Spec.Template.Spec.Containers[0].Image }

func TestLifecycleOnARealCluster(t *testing.T) {
	b := newBed(t)
	b.createTarget(t, "stefanprodan/podinfo:3.1.0")
	d := b.driver(t, driverOptions{})

	// bootstrap
	res := d.mustRun(t)
	require.False(t, res.Released)
	require.Equal(t, canary.PhaseInitialized, res.Phase)
	primary := b.deployment(t, "podinfo-primary")
	assert.Equal(t, "stefanprodan/podinfo:3.1.0", image(primary))
	assert.Equal(t, "podinfo-primary", primary.Spec.Selector.MatchLabels["app"])
	assert.Equal(t, "podinfo-config-primary", primary.Spec.Template.Spec.Containers[0].EnvFrom[0].ConfigMapRef.Name)
	assert.Equal(t, int32(0), *b.deployment(t, "podinfo").Spec.Replicas, "target scaled to zero once the primary is ready")
	for name, sel := range map[string]string{"podinfo": "podinfo-primary", "podinfo-primary": "podinfo-primary", "podinfo-canary": "podinfo"} {
		svc, err := b.admin.CoreV1().Services(b.ns).Get(context.Background(), name, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, sel, svc.Spec.Selector["app"], name)
		assert.Equal(t, int32(9898), svc.Spec.Ports[0].Port)
	}
	copyCM, err := b.admin.CoreV1().ConfigMaps(b.ns).Get(context.Background(), "podinfo-config-primary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "blue", copyCM.Data["color"])

	// new image: release and promotion
	b.setImage(t, "stefanprodan/podinfo:3.1.1")
	res = d.mustRun(t)
	require.Equal(t, canary.PhaseSucceeded, res.Phase, res.Reason)
	assert.Equal(t, []int{10, 20, 30, 0}, res.Weights)
	promotedPrimary := b.deployment(t, "podinfo-primary")
	assert.Equal(t, "stefanprodan/podinfo:3.1.1", image(promotedPrimary), "the primary runs the new image")
	assert.Equal(t, int32(0), *b.deployment(t, "podinfo").Spec.Replicas, "canary scaled down")
	st, err := d.lease.Load(context.Background(), b.target)
	require.NoError(t, err)
	assert.Equal(t, canary.PhaseSucceeded, st.Phase)
	assert.Equal(t, st.LastAppliedSpec, st.LastPromotedSpec)
	assert.Equal(t, st.LastPromotedSpec, promotedPrimary.Annotations[kube.AnnotationRevision], "the primary carries its revision")

	// the decisions are Kubernetes Events on the target
	require.NoError(t, wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		evs, err := b.admin.CoreV1().Events(b.ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=podinfo"})
		if err != nil {
			return false, err
		}
		found := map[string]bool{}
		for _, e := range evs.Items {
			found[e.Reason+": "+e.Message] = true
		}
		return found["Advanced: Advance podinfo."+b.ns+" canary weight 20"] && found["Succeeded: Promotion completed! Scaling down podinfo."+b.ns], nil
	}), "events on the deployment")

	// new image that fails its checks: rollback, primary untouched
	b.setImage(t, "stefanprodan/podinfo:3.1.2")
	bad := &canarytest.Metrics{}
	bad.Set("request-success-rate", canarytest.Constant(80))
	d2 := b.driver(t, driverOptions{metrics: bad})
	res = d2.mustRun(t)
	require.Equal(t, canary.PhaseFailed, res.Phase)
	assert.Equal(t, "failed checks threshold reached 3", res.Reason)
	assert.Equal(t, "stefanprodan/podinfo:3.1.1", image(b.deployment(t, "podinfo-primary")), "primary untouched")
	assert.Equal(t, int32(0), *b.deployment(t, "podinfo").Spec.Replicas, "canary scaled down")
}

// Flagger's canaryReadyThreshold: at 50 %, a canary with one of its two pods available is
// ready, and the release goes on (at the default 100 % it would wait, then roll back).
func TestCanaryReadyThreshold(t *testing.T) {
	b := newBed(t)
	b.createTarget(t, "podinfo:1")
	var mu sync.Mutex
	var available, replicas int32 = -1, -1
	d := b.driver(t, driverOptions{
		workload: func(o *kube.WorkloadOptions) { o.CanaryReadyThreshold = 50 },
		then: func(e canary.Event) {
			if e.Reason != canary.ReasonAdvanced {
				return
			}
			dep := b.deployment(t, "podinfo")
			mu.Lock()
			defer mu.Unlock()
			if available < 0 {
				available, replicas = dep.Status.AvailableReplicas, *dep.Spec.Replicas
			}
		},
	})
	d.mustRun(t)
	b.kubelet.Stop()
	b.env.Kubelet(t, b.ns, "app=podinfo", testenv.Behavior{ReadyPods: 1})
	b.env.Kubelet(t, b.ns, "app=podinfo-primary", testenv.ReadyNow())
	b.updateTarget(t, func(dep *appsv1.Deployment) { dep.Spec.Template.Spec.Containers[0].Image = "podinfo:2" })
	res := d.mustRun(t)
	require.Equal(t, canary.PhaseSucceeded, res.Phase, res.Reason)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, int32(2), replicas)
	assert.Equal(t, int32(1), available, "the analysis ran with half the canary available")
	assert.Equal(t, "podinfo:2", image(b.deployment(t, "podinfo-primary")))
}

func TestProgressDeadlineExceededRollsBack(t *testing.T) {
	b := newBed(t)
	b.createTarget(t, "podinfo:1")
	d := b.driver(t, driverOptions{})
	d.mustRun(t)
	// canary pods never become ready; the deployment controller marks the rollout stuck
	b.kubelet.Stop()
	b.env.Kubelet(t, b.ns, "app=podinfo", testenv.NeverReady())
	b.env.Kubelet(t, b.ns, "app=podinfo-primary", testenv.ReadyNow())
	b.updateTarget(t, func(dep *appsv1.Deployment) {
		dep.Spec.Template.Spec.Containers[0].Image = "podinfo:2"
		dep.Spec.ProgressDeadlineSeconds = ptr.To(int32(2))
	})
	res := d.mustRun(t)
	require.Equal(t, canary.PhaseFailed, res.Phase)
	// A scale-up from zero is often not a rollout to the deployment controller: canarykit times
	// out the unavailable canary itself, with the deployment's own deadline (Flagger's rule).
	// When the controller sees the new ReplicaSet stall first, its ProgressDeadlineExceeded
	// condition says so; either way the deadline is the deployment's.
	assert.Regexp(t, `deployment "podinfo" (has been unavailable for longer than its progress deadline \(2s\)|exceeded its progress deadline)`, res.Reason)
	assert.Empty(t, res.Weights, "no traffic reached the canary")
	assert.Equal(t, "podinfo:1", image(b.deployment(t, "podinfo-primary")))
}

func TestConfigMapChangeStartsARelease(t *testing.T) {
	b := newBed(t)
	b.createTarget(t, "podinfo:1")
	d := b.driver(t, driverOptions{})
	d.mustRun(t)
	ctx := context.Background()
	cm, err := b.admin.CoreV1().ConfigMaps(b.ns).Get(ctx, "podinfo-config", metav1.GetOptions{})
	require.NoError(t, err)
	cm.Data["color"] = "green"
	_, err = b.admin.CoreV1().ConfigMaps(b.ns).Update(ctx, cm, metav1.UpdateOptions{})
	require.NoError(t, err)
	var res canary.Result
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		res = d.mustRun(t) // returns at once until the cache has seen the change
		return res.Released, nil
	}))
	require.Equal(t, canary.PhaseSucceeded, res.Phase)
	copyCM, err := b.admin.CoreV1().ConfigMaps(b.ns).Get(ctx, "podinfo-config-primary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "green", copyCM.Data["color"], "the primary's copy is promoted")
	assert.Equal(t, "podinfo:1", image(b.deployment(t, "podinfo-primary")))
}

// A tracked Secret is a part of the revision like a ConfigMap: changing its data releases the
// target, and the primary's copy gets the new data only at promotion.
func TestSecretChangeStartsARelease(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	_, err := b.admin.CoreV1().Secrets(b.ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "podinfo-token"},
		Data: map[string][]byte{"token": []byte("one")}}, metav1.CreateOptions{})
	require.NoError(t, err)
	b.createTarget(t, "podinfo:1")
	b.updateTarget(t, func(d *appsv1.Deployment) {
		c := &d.Spec.Template.Spec.Containers[0]
		c.EnvFrom = append(c.EnvFrom, corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "podinfo-token"}}})
	})
	d := b.driver(t, driverOptions{})
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := b.admin.CoreV1().Secrets(b.ns).Get(ctx, "podinfo-token-primary", metav1.GetOptions{})
		d.mustRun(t) // bootstraps; the Secret's copy appears once the cache has seen the edited target
		return err == nil, nil
	}))
	res := d.mustRun(t)
	require.False(t, res.Released, "nothing changed since the bootstrap")

	sec, err := b.admin.CoreV1().Secrets(b.ns).Get(ctx, "podinfo-token", metav1.GetOptions{})
	require.NoError(t, err)
	sec.Data["token"] = []byte("two")
	_, err = b.admin.CoreV1().Secrets(b.ns).Update(ctx, sec, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		res = d.mustRun(t) // returns at once until the cache has seen the change
		return res.Released, nil
	}))
	require.Equal(t, canary.PhaseSucceeded, res.Phase)
	copied, err := b.admin.CoreV1().Secrets(b.ns).Get(ctx, "podinfo-token-primary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "two", string(copied.Data["token"]), "the primary's copy is promoted")
	primary := b.deployment(t, "podinfo-primary")
	assert.Equal(t, "podinfo-token-primary", primary.Spec.Template.Spec.Containers[0].EnvFrom[1].SecretRef.Name)
}

func TestAutoscalerIsClonedAndResynced(t *testing.T) {
	b := newBed(t)
	b.createTarget(t, "podinfo:1")
	ctx := context.Background()
	hpa := testenv.CPUAutoscaler("podinfo", 2, 4)
	_, err := b.admin.AutoscalingV2().HorizontalPodAutoscalers(b.ns).Create(ctx, hpa, metav1.CreateOptions{})
	require.NoError(t, err)
	// primaryScalerReplicas: the primary's copy scales between 3 and its source's maximum
	d := b.driver(t, driverOptions{autoscaler: "podinfo", workload: func(o *kube.WorkloadOptions) { o.PrimaryMinReplicas = 3 }})
	d.mustRun(t)
	p, err := b.admin.AutoscalingV2().HorizontalPodAutoscalers(b.ns).Get(ctx, "podinfo-primary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "podinfo-primary", p.Spec.ScaleTargetRef.Name)
	assert.Equal(t, int32(3), *p.Spec.MinReplicas)
	assert.Equal(t, int32(4), p.Spec.MaxReplicas)
	assert.Equal(t, int32(99), *p.Spec.Metrics[0].Resource.Target.AverageUtilization)

	h, err := b.admin.AutoscalingV2().HorizontalPodAutoscalers(b.ns).Get(ctx, "podinfo", metav1.GetOptions{})
	require.NoError(t, err)
	h.Spec.MaxReplicas = 6
	_, err = b.admin.AutoscalingV2().HorizontalPodAutoscalers(b.ns).Update(ctx, h, metav1.UpdateOptions{})
	require.NoError(t, err)
	b.setImage(t, "podinfo:2")
	res := d.mustRun(t)
	require.Equal(t, canary.PhaseSucceeded, res.Phase)
	p, err = b.admin.AutoscalingV2().HorizontalPodAutoscalers(b.ns).Get(ctx, "podinfo-primary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(6), p.Spec.MaxReplicas, "re-synced at promotion")
}

func TestForeignObjectsAreNotClobbered(t *testing.T) {
	b := newBed(t)
	b.createTarget(t, "podinfo:1")
	_, err := b.admin.CoreV1().Services(b.ns).Create(context.Background(), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo-canary"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "other"}, Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	d := b.driver(t, driverOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = d.run(ctx)
	require.ErrorContains(t, err, "service "+b.ns+"/podinfo-canary exists and is not managed by canarykit")
	svc, err := b.admin.CoreV1().Services(b.ns).Get(ctx, "podinfo-canary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "other", svc.Spec.Selector["app"])
}

func TestOneDriverPerTarget(t *testing.T) {
	b := newBed(t)
	b.createTarget(t, "podinfo:1")
	first, err := kube.NewLease(kube.LeaseOptions{Client: b.client, Target: b.target, Identity: "first"})
	require.NoError(t, err)
	second, err := kube.NewLease(kube.LeaseOptions{Client: b.client, Target: b.target, Identity: "second"})
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, first.Acquire(ctx))

	err = second.Acquire(ctx)
	var held *kube.HeldError
	require.ErrorAs(t, err, &held)
	assert.Equal(t, "first", held.Holder)
	assert.ErrorContains(t, err, fmt.Sprintf(`lease %s/podinfo-canarykit is held by "first"`, b.ns))
	_, err = second.Save(ctx, b.target, canary.Status{Phase: canary.PhaseProgressing})
	require.ErrorIs(t, err, canary.ErrConflict, "a driver that does not hold the lease cannot save")

	// a waiting driver gets the lease once the first releases it
	waiter, err := kube.NewLease(kube.LeaseOptions{Client: b.client, Target: b.target, Identity: "waiter", Wait: true})
	require.NoError(t, err)
	got := make(chan error, 1)
	go func() { got <- waiter.Acquire(ctx) }()
	select {
	case err := <-got:
		t.Fatalf("acquired while held: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	require.NoError(t, first.Release(ctx))
	require.NoError(t, <-got)
	l, err := b.admin.CoordinationV1().Leases(b.ns).Get(ctx, "podinfo-canarykit", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "waiter", *l.Spec.HolderIdentity)
}

// TestTwoRolloutsOnOneTarget runs two drivers at once: one drives the release, the other is
// refused and changes nothing.
func TestTwoRolloutsOnOneTarget(t *testing.T) {
	b := newBed(t)
	b.createTarget(t, "podinfo:1")
	router := &canarytest.Router{}
	one := b.driver(t, driverOptions{identity: "one", router: router})
	one.mustRun(t)
	b.setImage(t, "podinfo:2")
	started := make(chan struct{})
	var once bool
	two := b.driver(t, driverOptions{identity: "two", router: router})
	one2 := b.driver(t, driverOptions{identity: "one", router: router, then: func(e canary.Event) {
		if e.Reason == canary.ReasonAdvanced && !once {
			once = true
			close(started)
		}
	}})
	type outcome struct {
		res canary.Result
		err error
	}
	done := make(chan outcome, 1) // checked here: no assertion runs on the driver's goroutine
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		res, err := one2.run(ctx)
		done <- outcome{res: res, err: err}
	}()
	select {
	case <-started:
	case o := <-done:
		require.Failf(t, "the first driver ended before its first step", "phase %s, error %v; events:\n%s",
			o.res.Phase, o.err, strings.Join(one2.rec.Messages(), "\n"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := two.run(ctx)
	require.ErrorIs(t, err, kube.ErrLeaseHeld)
	assert.Empty(t, two.rec.Events(), "the refused driver did nothing")
	o := <-done
	require.NoError(t, o.err, "events:\n%s", strings.Join(one2.rec.Messages(), "\n"))
	assert.Equal(t, canary.PhaseSucceeded, o.res.Phase)
}

func TestNotFoundTargetIsAClearError(t *testing.T) {
	b := newBed(t)
	d := b.driver(t, driverOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := d.run(ctx)
	require.ErrorContains(t, err, "target deployment "+b.ns+"/podinfo not found")
	_, err = b.admin.AppsV1().Deployments(b.ns).Get(ctx, "podinfo-primary", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "nothing created")
}

// The apex Service's selector belongs to the router once the Service exists (a mesh-less
// router switches it); the primary and canary Services are corrected when they drift.
func TestBootstrapLeavesTheApexSelectorToTheRouter(t *testing.T) {
	b := newBed(t)
	b.createTarget(t, "podinfo:1")
	d := b.driver(t, driverOptions{})
	d.mustRun(t)
	ctx := context.Background()
	for name, sel := range map[string]string{"podinfo": "podinfo", "podinfo-canary": "someone-else"} {
		patch := fmt.Appendf(nil, `{"spec":{"selector":{"app":%q}}}`, sel)
		_, err := b.admin.CoreV1().Services(b.ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
		require.NoError(t, err)
	}
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		d2 := b.driver(t, driverOptions{})
		d2.mustRun(t) // bootstraps again; retried until its cache has seen the patches
		apex, err := b.admin.CoreV1().Services(b.ns).Get(ctx, "podinfo", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		canarySvc, err := b.admin.CoreV1().Services(b.ns).Get(ctx, "podinfo-canary", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		require.Equal(t, "podinfo", apex.Spec.Selector["app"], "the router's choice is kept")
		return canarySvc.Spec.Selector["app"] == "podinfo", nil
	}), "the canary service's selector is corrected")
}
