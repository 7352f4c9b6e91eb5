package kubetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// Mode is how the kubelet stand-in treats the pods it watches.
type Mode int

const (
	// ModeReady makes pods Running, then Ready once Behavior.Delay has passed.
	ModeReady Mode = iota
	// ModeNeverReady makes pods Running but never Ready (a readiness probe that never passes).
	ModeNeverReady
	// ModeCrashLoop makes pods Running, never Ready, their containers waiting in
	// CrashLoopBackOff with a restart count that grows every Behavior.RestartEvery.
	ModeCrashLoop
)

// Behavior says what the kubelet stand-in does with a pod. The zero value makes pods Ready
// at once.
type Behavior struct {
	Mode Mode
	// Delay (ModeReady) is how long after the stand-in first sees a pod, or after the behavior
	// is set if later, the pod becomes Ready.
	Delay time.Duration
	// RestartEvery (ModeCrashLoop) is the period between restarts; 0 means 1 s.
	RestartEvery time.Duration
	// ReadyPods (ModeReady), if set, lets only the first that many pods the stand-in sees
	// become Ready; the others stay Running and unready, as when some nodes cannot run them.
	ReadyPods int
}

// ReadyNow returns the behavior that makes pods Ready at once.
func ReadyNow() Behavior { return Behavior{} }

// NeverReady returns the behavior that leaves pods Running but never Ready.
func NeverReady() Behavior { return Behavior{Mode: ModeNeverReady} }

// ReadyAfter makes pods Ready d after they appear.
func ReadyAfter(d time.Duration) Behavior { return Behavior{Mode: ModeReady, Delay: d} }

// CrashLoop makes pods crash-loop, restarting every period.
func CrashLoop(every time.Duration) Behavior {
	return Behavior{Mode: ModeCrashLoop, RestartEvery: every}
}

// Kubelet plays the kubelet for pods in one namespace: no containers run here, so it writes
// the pod status (through the status subresource) that a kubelet would, and a deployment
// controller (the real one, or the stand-in of StartDeployments) computes availability, rollout
// progress and ProgressDeadlineExceeded from it. Pods are never bound to a node: unbound pods are
// deleted at once, without a kubelet to confirm, and nothing else in the controllers needs a node.
type Kubelet struct {
	client    kubernetes.Interface
	namespace string
	lister    corelisters.PodLister
	work      *worker // the loop that runs sync
	now       func() time.Time

	mu        sync.Mutex
	behavior  Behavior
	since     time.Time               // when behavior was set
	firstSeen map[types.UID]time.Time // when each pod was first seen
	order     map[types.UID]int       // in which order pods were first seen, from 0
}

// RunKubelet starts a kubelet stand-in (see StartKubelet) for the test and stops it when the
// test ends; it fails the test if the stand-in cannot start.
func RunKubelet(t testing.TB, cfg *rest.Config, namespace, selector string, b Behavior) *Kubelet {
	t.Helper()
	k, err := StartKubelet(context.WithoutCancel(t.Context()), cfg, namespace, selector, b)
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	t.Cleanup(k.Stop)
	return k
}

// StartKubelet starts a kubelet stand-in for the pods in namespace that match selector (a label
// selector such as "app=podinfo"; "" for all) on the cluster cfg reaches. It runs until ctx
// ends or Stop is called. Run one per set of pods: two stand-ins on the same pods fight. The
// identity of cfg must be allowed to list, watch and update the status of pods.
func StartKubelet(ctx context.Context, cfg *rest.Config, namespace, selector string, b Behavior) (*Kubelet, error) {
	sel, err := labels.Parse(selector)
	if err != nil {
		return nil, fmt.Errorf("kubelet selector %q: %w", selector, err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubelet client: %w", err)
	}
	return startKubelet(ctx, client, namespace, sel, b)
}

func startKubelet(parent context.Context, client kubernetes.Interface, namespace string, sel labels.Selector, b Behavior) (*Kubelet, error) {
	w, ctx := newWorker(parent)
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = sel.String() }))
	pods := factory.Core().V1().Pods()
	k := &Kubelet{
		client:    client,
		namespace: namespace,
		lister:    pods.Lister(),
		work:      w,
		now:       time.Now,
		behavior:  b,
		since:     time.Now(),
		firstSeen: map[types.UID]time.Time{},
		order:     map[types.UID]int{},
	}
	w.sync = k.sync
	enqueue := func(obj any) {
		if p, ok := obj.(*corev1.Pod); ok {
			k.work.queue.Add(types.NamespacedName{Namespace: p.Namespace, Name: p.Name})
		}
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		w.cancel()
		return nil, fmt.Errorf("kubelet: watch pods: %w", err)
	}
	w.start(ctx, factory, pods.Informer().HasSynced)
	return k, nil
}

// SetBehavior changes what the stand-in does from now on, for existing and new pods.
func (k *Kubelet) SetBehavior(b Behavior) {
	k.mu.Lock()
	k.behavior, k.since = b, k.now()
	k.mu.Unlock()
	pods, err := k.lister.List(labels.Everything())
	if err != nil {
		return
	}
	for _, p := range pods {
		k.work.queue.Add(types.NamespacedName{Namespace: p.Namespace, Name: p.Name})
	}
}

// Stop stops the stand-in; pods keep their last status.
func (k *Kubelet) Stop() { k.work.stop() }

// sync writes the status the behavior calls for, and says when to look at the pod again.
func (k *Kubelet) sync(ctx context.Context, key types.NamespacedName) (time.Duration, error) {
	pod, err := k.lister.Pods(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if pod.DeletionTimestamp != nil {
		return 0, nil
	}
	now := k.now()
	k.mu.Lock()
	first, ok := k.firstSeen[pod.UID]
	if !ok {
		first = now
		k.firstSeen[pod.UID] = first
		k.order[pod.UID] = len(k.order)
	}
	b, since := k.behavior, k.since
	if b.Mode == ModeReady && b.ReadyPods > 0 && k.order[pod.UID] >= b.ReadyPods {
		b = NeverReady()
	}
	k.mu.Unlock()

	status, requeue := desiredStatus(pod, b, first, since, now)
	if equality.Semantic.DeepEqual(status, pod.Status) {
		return requeue, nil
	}
	update := pod.DeepCopy()
	update.Status = status
	if _, err := k.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, update, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return 0, nil
		}
		return 0, fmt.Errorf("update status of pod %s: %w", key, err)
	}
	return requeue, nil
}
