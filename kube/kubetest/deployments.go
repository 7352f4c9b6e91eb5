package kubetest

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
)

// DeploymentsOptions configure the deployment controller stand-in.
type DeploymentsOptions struct {
	// Namespace limits the stand-in to one namespace; "" means all.
	Namespace string
	// Clock drives minReadySeconds and progress deadlines. Default: the real clock.
	Clock clock.Clock
	// Logger receives the stand-in's errors. Default: discard.
	Logger logr.Logger
}

// Deployments stands in for kube-controller-manager's deployment (and ReplicaSet) controller on
// a cluster that runs none, such as controller-runtime's envtest: it creates the pods a
// Deployment asks for, owned by the Deployment, and writes the Deployment's status from them as
// the deployment controller would: observedGeneration, replicas, updated, ready, available and
// unavailable counts, and the Available and Progressing conditions with the controller's
// reasons (MinimumReplicasAvailable/Unavailable, ReplicaSetUpdated, NewReplicaSetAvailable,
// ProgressDeadlineExceeded). Pods become ready only when something writes their status: run a
// Kubelet on them.
//
// What it does not model, knowingly: no ReplicaSets (pods are owned by the Deployment itself;
// their pod-template-hash label is the stand-in's own hash); a rolling update creates every pod
// of the new template at once (maxSurge is not honoured; maxUnavailable is: old pods are kept
// while the minimum availability needs them); spec.paused, revision history, rollbacks by
// annotation, pod deletion costs and orphan adoption are ignored. It never runs next to a real
// deployment controller: the two would fight over the same pods.
type Deployments struct {
	client kubernetes.Interface
	clock  clock.Clock
	log    logr.Logger
	deps   appslisters.DeploymentLister
	pods   corelisters.PodLister
	work   *worker // the loop that runs sync

	mu        sync.Mutex
	expecting map[types.NamespacedName]*expectations
}

// expectations are the pod creations (true) and deletions (false) of one Deployment that the
// cache has not shown yet, and since when the oldest has been waited for.
type expectations struct {
	pods  map[string]bool
	since time.Time
}

// expectationTimeout is how long the stand-in waits for the cache to show its own writes
// before it counts the pods as they are (a pod deleted by someone else right after its
// creation never shows up).
const expectationTimeout = 30 * time.Second

// RunDeployments starts the deployment controller stand-in (StartDeployments) on namespace for
// the test and stops it when the test ends; it fails the test if the stand-in cannot start.
func RunDeployments(t testing.TB, cfg *rest.Config, namespace string) *Deployments {
	t.Helper()
	d, err := StartDeployments(context.WithoutCancel(t.Context()), cfg, DeploymentsOptions{Namespace: namespace})
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	t.Cleanup(d.Stop)
	return d
}

// StartDeployments starts the deployment controller stand-in on the cluster cfg reaches. It runs
// until ctx ends or Stop is called. The identity of cfg must be allowed to list and watch
// Deployments and pods, create and delete pods and update Deployments' status.
func StartDeployments(ctx context.Context, cfg *rest.Config, opts DeploymentsOptions) (*Deployments, error) {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("deployments stand-in client: %w", err)
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Logger.GetSink() == nil {
		opts.Logger = logr.Discard()
	}
	w, ctx := newWorker(ctx)
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(opts.Namespace))
	deps, pods := factory.Apps().V1().Deployments(), factory.Core().V1().Pods()
	c := &Deployments{
		client: client, clock: opts.Clock, log: opts.Logger.WithName("deployments"),
		deps: deps.Lister(), pods: pods.Lister(),
		work:      w,
		expecting: map[types.NamespacedName]*expectations{},
	}
	w.sync = c.sync
	w.failed = func(key types.NamespacedName, err error) { c.log.Error(err, "sync", "deployment", key) }
	onDeployment := func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		if d, ok := obj.(*appsv1.Deployment); ok {
			c.work.queue.Add(types.NamespacedName{Namespace: d.Namespace, Name: d.Name})
		}
	}
	onPod := func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		p, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		if ref := metav1.GetControllerOf(p); ref != nil && ref.Kind == "Deployment" && ref.APIVersion == "apps/v1" {
			c.work.queue.Add(types.NamespacedName{Namespace: p.Namespace, Name: ref.Name})
		}
	}
	for _, reg := range []struct {
		inf cache.SharedIndexInformer
		fn  func(any)
	}{{deps.Informer(), onDeployment}, {pods.Informer(), onPod}} {
		fn := reg.fn
		if _, err := reg.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: fn, UpdateFunc: func(_, obj any) { fn(obj) }, DeleteFunc: fn,
		}); err != nil {
			w.cancel()
			return nil, fmt.Errorf("deployments stand-in: watch: %w", err)
		}
	}
	w.start(ctx, factory, deps.Informer().HasSynced, pods.Informer().HasSynced)
	return c, nil
}

// Stop stops the stand-in; pods and Deployments keep what it last wrote.
func (c *Deployments) Stop() { c.work.stop() }

// settled reports whether the cache has seen every pod creation and deletion the stand-in made
// for key; until then it would count pods wrong.
func (c *Deployments) settled(key types.NamespacedName, owned []*corev1.Pod) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp := c.expecting[key]
	if exp == nil {
		return true
	}
	present := map[string]bool{}
	for _, p := range owned {
		present[p.Name] = true
	}
	for name, created := range exp.pods {
		if present[name] == created {
			delete(exp.pods, name)
		}
	}
	if len(exp.pods) == 0 || c.clock.Since(exp.since) > expectationTimeout {
		delete(c.expecting, key)
		return true
	}
	return false
}

func (c *Deployments) expect(key types.NamespacedName, name string, created bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp := c.expecting[key]
	if exp == nil {
		exp = &expectations{pods: map[string]bool{}, since: c.clock.Now()}
		c.expecting[key] = exp
	}
	exp.pods[name] = created
}

// sync creates and deletes the Deployment's pods and writes its status; it returns when to look
// again (the progress deadline, minReadySeconds), 0 for never by itself.
func (c *Deployments) sync(ctx context.Context, key types.NamespacedName) (time.Duration, error) {
	d, err := c.deps.Deployments(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		return 0, c.deleteOrphans(ctx, key)
	}
	if err != nil {
		return 0, err
	}
	if d.DeletionTimestamp != nil {
		return 0, nil
	}
	all, err := c.pods.Pods(d.Namespace).List(labels.Everything())
	if err != nil {
		return 0, err
	}
	var owned []*corev1.Pod
	for _, p := range all {
		if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == d.UID && p.DeletionTimestamp == nil {
			owned = append(owned, p)
		}
	}
	if !c.settled(key, owned) {
		return 50 * time.Millisecond, nil
	}
	now := c.clock.Now()
	hash := templateHash(&d.Spec.Template)
	minReady := time.Duration(d.Spec.MinReadySeconds) * time.Second
	var next time.Duration
	states := make([]podState, 0, len(owned))
	for _, p := range owned {
		ready, available, after := judgePod(p, minReady, now)
		if after > 0 && (next == 0 || after < next) {
			next = after
		}
		states = append(states, podState{pod: p, current: p.Labels[templateHashLabel] == hash, ready: ready, available: available})
	}

	create, remove := plan(d, states)
	for _, p := range remove {
		err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			return 0, fmt.Errorf("delete pod %s/%s: %w", p.Namespace, p.Name, err)
		}
		c.expect(key, p.Name, false)
	}
	for range create {
		p, err := c.client.CoreV1().Pods(d.Namespace).Create(ctx, newPod(d, hash), metav1.CreateOptions{})
		if err != nil {
			return 0, fmt.Errorf("create a pod of deployment %s: %w", key, err)
		}
		c.expect(key, p.Name, true)
	}
	if create > 0 || len(remove) > 0 {
		// the status is written from the pods as the cache sees them, next time round
		c.work.queue.Add(key)
		return 0, nil
	}

	// a new spec (template or replicas) counts as progress, as a new ReplicaSet or a scaling does
	status, deadline := desiredDeploymentStatus(d, states, d.Status.ObservedGeneration < d.Generation, now)
	if deadline > 0 && (next == 0 || deadline < next) {
		next = deadline
	}
	if equality.Semantic.DeepEqual(status, d.Status) {
		return next, nil
	}
	u := d.DeepCopy()
	u.Status = status
	if _, err := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, u, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return 0, nil // a newer version is on its way through the cache
		}
		return 0, fmt.Errorf("update status of deployment %s: %w", key, err)
	}
	return next, nil
}

// newPod is a pod of d's template, owned by d.
func newPod(d *appsv1.Deployment, hash string) *corev1.Pod {
	t := d.Spec.Template
	lbls := maps.Clone(t.Labels)
	if lbls == nil {
		lbls = map[string]string{}
	}
	lbls[templateHashLabel] = hash
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    d.Name + "-" + hash + "-",
			Namespace:       d.Namespace,
			Labels:          lbls,
			Annotations:     maps.Clone(t.Annotations),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))},
		},
		Spec: *t.Spec.DeepCopy(),
	}
}

// deleteOrphans deletes the pods of a deleted Deployment (no garbage collector runs where the
// stand-in is needed).
func (c *Deployments) deleteOrphans(ctx context.Context, key types.NamespacedName) error {
	pods, err := c.pods.Pods(key.Namespace).List(labels.Everything())
	if err != nil {
		return err
	}
	for _, p := range pods {
		ref := metav1.GetControllerOf(p)
		if ref == nil || ref.Kind != "Deployment" || ref.Name != key.Name || p.DeletionTimestamp != nil {
			continue
		}
		if err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete pod %s/%s of deleted deployment %s: %w", p.Namespace, p.Name, key, err)
		}
	}
	c.mu.Lock()
	delete(c.expecting, key)
	c.mu.Unlock()
	return nil
}
