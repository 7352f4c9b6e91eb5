package mesh_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
)

// The integration tests run on the test bed's real kube-apiserver (shared by this test
// binary); they skip without its binaries, and fail instead when CI=true.
func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{Audit: true}) }

var (
	trafficSplits = schema.GroupVersionResource{Group: "split.smi-spec.io", Resource: "trafficsplits"}
	httpRoutes    = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}
)

func bg(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// bed is one namespace of the shared test bed, with an admin dynamic client and a user whose
// only rights are the ones granted.
type bed struct {
	env   *testenv.Env
	ns    string
	admin *rest.Config
	dyn   dynamic.Interface
	kube  kubernetes.Interface
	user  string
	cfg   *rest.Config // the user's
	seq   atomic.Int32
}

func newBed(t *testing.T, rules ...rbacv1.PolicyRule) *bed {
	return newBedOn(t, testenv.Shared(t), rules...)
}

// newBedOn is newBed on env, a bed of the test's own (testenv.Start) where the shared one
// would not do.
func newBedOn(t *testing.T, env *testenv.Env, rules ...rbacv1.PolicyRule) *bed {
	b := &bed{env: env, ns: env.Namespace(t), admin: env.Config(), kube: env.Client()}
	var err error
	b.dyn, err = dynamic.NewForConfig(b.admin)
	require.NoError(t, err)
	if len(rules) > 0 {
		b.user, b.cfg = env.NewUser(t)
		env.Grant(t, b.user, b.ns, rules...)
	}
	return b
}

// target returns a new target in the bed's namespace with its apex, primary and canary
// Services (port 9898), as the workload creates them.
func (b *bed) target(t *testing.T) canary.Target {
	tg := canary.Target{Namespace: b.ns, Name: fmt.Sprintf("podinfo%d", b.seq.Add(1))}
	for name, app := range map[string]string{tg.ApexService(): tg.Name, tg.PrimaryService(): tg.Name + "-primary", tg.CanaryService(): tg.Name} {
		_, err := b.kube.CoreV1().Services(b.ns).Create(bg(t), &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			// headless: the bed's service CIDR is small, and routers need no cluster IP
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": app}, ClusterIP: corev1.ClusterIPNone,
				Ports: []corev1.ServicePort{{Name: "http", Port: 9898}}},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	return tg
}

// audit counts the requests the bed's user makes while f runs.
func (b *bed) audit(t *testing.T, f func()) testenv.AuditCounts {
	mark := b.env.AuditMark(t)
	f()
	return b.env.AuditSince(t, mark).ForUser(b.user).Counts()
}

// splitWeights reads a TrafficSplit's weights (as stored: integers or quantities) through the
// dynamic client at version.
func (b *bed) splitWeights(t *testing.T, version string, tg canary.Target) canary.Weights {
	t.Helper()
	gvr := trafficSplits
	gvr.Version = version
	obj, err := b.dyn.Resource(gvr).Namespace(tg.Namespace).Get(bg(t), tg.ApexService(), metav1.GetOptions{})
	require.NoError(t, err)
	w, err := backendWeights(obj, tg)
	require.NoError(t, err)
	return w
}

// backendWeights reads a TrafficSplit's backend weights (integers, or SMI v1alpha1 quantities).
// It returns errors rather than failing a test, as the recorder's goroutine calls it too.
func backendWeights(obj *unstructured.Unstructured, tg canary.Target) (canary.Weights, error) {
	backends, _, err := unstructured.NestedSlice(obj.Object, "spec", "backends")
	if err != nil {
		return canary.Weights{}, err
	}
	var w canary.Weights
	for i, raw := range backends {
		be, ok := raw.(map[string]any)
		if !ok {
			return canary.Weights{}, fmt.Errorf("spec.backends[%d] is a %T", i, raw)
		}
		var n int
		switch v := be["weight"].(type) {
		case int64:
			n = int(v)
		case string:
			q, err := resource.ParseQuantity(v)
			if err != nil {
				return canary.Weights{}, fmt.Errorf("spec.backends[%d].weight: %w", i, err)
			}
			n = int(q.Value())
		default:
			return canary.Weights{}, fmt.Errorf("spec.backends[%d].weight: %v of type %T", i, v, v)
		}
		w = weigh(w, tg, be["service"], n)
	}
	return w, nil
}

// weigh records n as the weight of the backend named name, if it is the primary or the canary.
func weigh(w canary.Weights, tg canary.Target, name any, n int) canary.Weights {
	switch name {
	case tg.PrimaryService():
		w.Primary = n
	case tg.CanaryService():
		w.Canary = n
	}
	return w
}

// routeWeights reads an HTTPRoute's first rule's backend weights. It returns errors rather
// than failing a test, as the recorder's goroutine calls it too.
func routeWeights(obj *unstructured.Unstructured, tg canary.Target) (canary.Weights, error) {
	rules, _, err := unstructured.NestedSlice(obj.Object, "spec", "rules")
	if err != nil {
		return canary.Weights{}, err
	}
	if len(rules) == 0 {
		return canary.Weights{}, errors.New("spec.rules is empty")
	}
	rule, ok := rules[0].(map[string]any)
	if !ok {
		return canary.Weights{}, fmt.Errorf("spec.rules[0] is a %T", rules[0])
	}
	refs, _, err := unstructured.NestedSlice(rule, "backendRefs")
	if err != nil {
		return canary.Weights{}, err
	}
	var w canary.Weights
	for i, raw := range refs {
		ref, ok := raw.(map[string]any)
		if !ok {
			return canary.Weights{}, fmt.Errorf("spec.rules[0].backendRefs[%d] is a %T", i, raw)
		}
		n, ok := ref["weight"].(int64)
		if !ok {
			return canary.Weights{}, fmt.Errorf("spec.rules[0].backendRefs[%d].weight: %v of type %T", i, ref["weight"], ref["weight"])
		}
		w = weigh(w, tg, ref["name"], int(n))
	}
	return w, nil
}

// recorder watches one route object and records the canary weight of every version the API
// server stored.
type recorder struct {
	mu      sync.Mutex
	weights []int
	rv      string
	err     error // the first object the recorder could not read; upTo fails the test with it
}

func (b *bed) record(t *testing.T, gvr schema.GroupVersionResource, tg canary.Target,
	read func(*unstructured.Unstructured, canary.Target) (canary.Weights, error)) *recorder {
	api := b.dyn.Resource(gvr).Namespace(tg.Namespace)
	list, err := api.List(bg(t), metav1.ListOptions{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &recorder{}
	done := make(chan struct{})
	go func() { // watches from the list's version on, again from the last event after an error
		defer close(done)
		from := list.GetResourceVersion()
		for ctx.Err() == nil {
			w, err := api.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + tg.ApexService(), ResourceVersion: from})
			if err != nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			for ev := range w.ResultChan() {
				obj, ok := ev.Object.(*unstructured.Unstructured)
				if !ok || (ev.Type != watch.Added && ev.Type != watch.Modified) {
					continue // an error (e.g. a watch cache still catching up): watch again from the last version
				}
				weights, err := read(obj, tg)
				from = obj.GetResourceVersion()
				r.mu.Lock()
				if err != nil && r.err == nil {
					r.err = fmt.Errorf("resourceVersion %s: %w", from, err)
				}
				r.weights = append(r.weights, weights.Canary)
				r.rv = from
				r.mu.Unlock()
			}
			w.Stop()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// upTo waits until the recorder has seen resourceVersion rv and returns the weights so far.
func (r *recorder) upTo(t *testing.T, rv string) []int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r.mu.Lock()
		got, seen, err := slices.Clone(r.weights), r.rv == rv, r.err
		r.mu.Unlock()
		require.NoError(t, err, "the recorder could not read a version of the route")
		if seen {
			return got
		}
		require.True(t, time.Now().Before(deadline), "watch did not deliver resourceVersion %s (last %s)", rv, r.rv)
		time.Sleep(20 * time.Millisecond)
	}
}

// served waits until discovery reports exactly versions for group, and returns a fresh
// discovery client.
func (b *bed) served(t *testing.T, group string, versions ...string) discovery.DiscoveryInterface {
	t.Helper()
	want := slices.Clone(versions)
	slices.Sort(want)
	deadline := time.Now().Add(time.Minute)
	for {
		d, err := discovery.NewDiscoveryClientForConfig(b.admin)
		require.NoError(t, err)
		groups, err := d.ServerGroups()
		require.NoError(t, err)
		var got []string
		for _, g := range groups.Groups {
			if g.Name == group {
				for _, v := range g.Versions {
					got = append(got, v.Version)
				}
			}
		}
		slices.Sort(got)
		if slices.Equal(got, want) {
			return d
		}
		require.True(t, time.Now().Before(deadline), "discovery serves %s %v, want %v", group, got, want)
		time.Sleep(100 * time.Millisecond)
	}
}

func newKube(cfg *rest.Config) (kubernetes.Interface, error) { return kubernetes.NewForConfig(cfg) }

func permanent(err error) bool { return canary.IsPermanent(err) }
