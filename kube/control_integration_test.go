package kube_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Promote and Abort requested from another process (canaryctl promote/abort) reach the driver
// through the target's Lease.
func TestControlRequestsFromAnotherProcess(t *testing.T) {
	for _, c := range []struct {
		control kube.Control
		phase   canary.Phase
	}{{kube.ControlPromote, canary.PhaseSucceeded}, {kube.ControlAbort, canary.PhaseFailed}} {
		t.Run(string(c.control), func(t *testing.T) {
			b := newBed(t)
			b.createTarget(t, "podinfo:1")
			ctx := context.Background()
			err := kube.RequestControl(ctx, b.client, b.target, c.control)
			require.ErrorIs(t, err, kube.ErrNoDriver, "nobody drives yet")

			spec := func(s *canary.Spec) { s.MaxWeight, s.StepWeight, s.Interval = 90, 10, time.Second }
			requested := make(chan error, 1)
			var d *driver
			d = b.driver(t, driverOptions{spec: spec, then: func(e canary.Event) {
				if e.Message == "Advance podinfo."+b.ns+" canary weight 20" {
					go func() { requested <- kube.RequestControl(ctx, b.client, b.target, c.control) }()
				}
			}})
			d.mustRun(t)
			b.setImage(t, "podinfo:2")
			res := d.mustRun(t)
			require.NoError(t, <-requested)
			assert.Equal(t, c.phase, res.Phase, res.Reason)
			assert.Less(t, res.Weights[len(res.Weights)-2], 90, "the release did not go through every step")
			l, err := b.admin.CoordinationV1().Leases(b.ns).Get(ctx, "podinfo-canarykit", metav1.GetOptions{})
			require.NoError(t, err)
			assert.NotContains(t, l.Annotations, kube.AnnotationControl, "the request was cleared by the driver")
		})
	}
}

// appliedControls records the Controls applied, from any goroutine.
type appliedControls struct {
	mu sync.Mutex
	cs []kube.Control
}

func (a *appliedControls) add(c kube.Control) { a.mu.Lock(); a.cs = append(a.cs, c); a.mu.Unlock() }

func (a *appliedControls) list() []kube.Control {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.cs)
}

// A request written without LabelControlRequested (by a canaryctl older than the label)
// reaches the shared watch too (it selects canarykit's leases), and the holder applies it
// once; one left while nobody held the lease is applied when the next holder takes it.
func TestControlRequestWithoutTheLabel(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	cluster := b.cluster(t)
	legacy := func(c kube.Control, id string) {
		t.Helper()
		l, err := b.admin.CoordinationV1().Leases(b.ns).Get(ctx, "podinfo-canarykit", metav1.GetOptions{})
		require.NoError(t, err)
		if l.Annotations == nil {
			l.Annotations = map[string]string{}
		}
		l.Annotations[kube.AnnotationControl] = string(c) + "@" + id
		_, err = b.admin.CoordinationV1().Leases(b.ns).Update(ctx, l, metav1.UpdateOptions{})
		require.NoError(t, err)
	}
	pending := func() string {
		t.Helper()
		l, err := b.admin.CoordinationV1().Leases(b.ns).Get(ctx, "podinfo-canarykit", metav1.GetOptions{})
		require.NoError(t, err)
		return l.Annotations[kube.AnnotationControl]
	}

	// held: applied from the watch, and cleared by the next write
	one, err := kube.NewLease(kube.LeaseOptions{Client: b.client, Target: b.target, Identity: "one"})
	require.NoError(t, err)
	require.NoError(t, one.Acquire(ctx))
	got := &appliedControls{}
	stop, err := cluster.Controls(ctx, one, got.add)
	require.NoError(t, err)
	legacy(kube.ControlPause, "1")
	eventually(t, func() bool { return len(got.list()) > 0 }, "the request without the label is not applied")
	st, err := one.Save(ctx, b.target, canary.Status{Phase: canary.PhaseInitialized})
	require.NoError(t, err)
	assert.Equal(t, []kube.Control{kube.ControlPause}, got.list(), "applied once")
	assert.Empty(t, pending(), "and cleared by the write")
	_, err = one.Save(ctx, b.target, st)
	require.NoError(t, err)
	assert.Len(t, got.list(), 1, "once")

	// left while the holder stops: applied by the next holder when it registers
	stop()
	legacy(kube.ControlAbort, "2")
	require.NoError(t, one.Release(ctx))
	assert.Equal(t, "abort@2", pending(), "a request the holder did not apply stays")
	two, err := kube.NewLease(kube.LeaseOptions{Client: b.client, Target: b.target, Identity: "two"})
	require.NoError(t, err)
	require.NoError(t, two.Acquire(ctx))
	next := &appliedControls{}
	stop, err = cluster.Controls(ctx, two, next.add)
	require.NoError(t, err)
	defer stop()
	assert.Equal(t, []kube.Control{kube.ControlAbort}, next.list(), "applied when the lease was taken")
	cur, err := two.Load(ctx, b.target)
	require.NoError(t, err)
	_, err = two.Save(ctx, b.target, cur)
	require.NoError(t, err)
	assert.Empty(t, pending(), "cleared by the new holder's write")
}

// gatedLeaseWrites holds every PUT of one Lease while closed: a write in flight for as long
// as the test wants, as on an API server that answers slowly.
type gatedLeaseWrites struct {
	name    string
	mu      sync.Mutex
	gate    chan struct{} // nil: open
	arrived chan struct{} // a held write arrived (buffered 1)
}

func (g *gatedLeaseWrites) close() {
	g.mu.Lock()
	g.gate = make(chan struct{})
	g.mu.Unlock()
}

func (g *gatedLeaseWrites) open() {
	g.mu.Lock()
	if g.gate != nil {
		close(g.gate)
		g.gate = nil
	}
	g.mu.Unlock()
}

func (g *gatedLeaseWrites) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/leases/"+g.name) {
			g.mu.Lock()
			gate := g.gate
			g.mu.Unlock()
			if gate != nil {
				select {
				case g.arrived <- struct{}{}:
				default:
				}
				select {
				case <-gate:
				case <-r.Context().Done():
					return nil, r.Context().Err()
				}
			}
		}
		return rt.RoundTrip(r)
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// The namespace's one Lease watch hands each lease its copies without waiting for it: a lease
// whose write is in flight (it holds its lock across the request) does not hold up the
// requests to the other leases of the namespace, and its own are applied, in order, once its
// write is answered.
func TestControlRequestsDoNotWaitForAnotherLeasesWrite(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	cluster := b.cluster(t)
	hs := b.holders(t, "process-one")

	gated := &gatedLeaseWrites{name: b.target.Name + "-canarykit", arrived: make(chan struct{}, 1)}
	cfg := b.env.ConfigFor(t, b.user)
	cfg.WrapTransport = gated.wrap
	slow, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	// a write of a lease gives up after a quarter of its duration: a minute here
	a, err := kube.NewLease(kube.LeaseOptions{Client: slow, Target: b.target, Identity: "one", Holders: hs, Duration: 4 * time.Minute})
	require.NoError(t, err)
	other := canary.Target{Namespace: b.ns, Name: "other"}
	bl := b.lease(t, "one", hs, other)

	var appliedA appliedControls
	appliedB := make(chan kube.Control, 1)
	holdA := holdRegistered(t, cluster, a, appliedA.add)
	defer holdA.stop()
	holdB := holdRegistered(t, cluster, bl, func(c kube.Control) { appliedB <- c })
	defer holdB.end(t)

	// a's write that clears its first request is held: a keeps its lock across it
	gated.close()
	defer gated.open()
	require.NoError(t, kube.RequestControl(ctx, b.client, b.target, kube.ControlPause))
	select {
	case <-gated.arrived:
	case <-time.After(30 * time.Second):
		require.FailNow(t, "a did not write to clear its request")
	}
	// a second request to a reaches the watch while a's write is in flight
	require.NoError(t, kube.RequestControl(ctx, b.client, b.target, kube.ControlResume))
	require.NoError(t, kube.RequestControl(ctx, b.client, other, kube.ControlPromote))
	select {
	case c := <-appliedB:
		assert.Equal(t, kube.ControlPromote, c)
	case <-time.After(30 * time.Second):
		require.FailNow(t, "the request to the other lease waited for a's write")
	}
	assert.Equal(t, []kube.Control{kube.ControlPause}, appliedA.list(), "a's second request waits for its write")

	gated.open()
	eventually(t, func() bool { return len(appliedA.list()) == 2 }, "a applies its second request once its write is answered")
	assert.Equal(t, []kube.Control{kube.ControlPause, kube.ControlResume}, appliedA.list())
	holdA.end(t)
}
