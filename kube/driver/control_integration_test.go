package driver

import (
	"context"
	"fmt"
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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// controlBed is a namespace of podinfo-like targets, SMI-routed, and a driver identity bound to
// exactly the documented rules.
type controlBed struct {
	env  *testenv.Env
	ns   string
	user string
	d    *Driver
}

// newControlBed returns the bed and the test's context (see bedNamespace).
func newControlBed(t *testing.T) (*controlBed, context.Context, context.CancelFunc) {
	t.Helper()
	env := testenv.Shared(t)
	ctx, cancel, ns := bedNamespace(t, env, testenv.TrafficSplitCRD())
	user, cfg := driverUser(t, env, ns)
	d, err := New(Options{Config: cfg, Identity: "driver-a", LeaseDuration: 30 * time.Second, Recheck: 200 * time.Millisecond,
		Logger: testr.NewWithOptions(t, testr.Options{Verbosity: 0})})
	require.NoError(t, err)
	t.Cleanup(d.Close)
	return &controlBed{env: env, ns: ns, user: user, d: d}, ctx, cancel
}

// target creates Deployment name (app: name, image podinfo:1) and returns its Canary: an
// analysis of nine 10% steps, one a second.
func (b *controlBed) target(ctx context.Context, t *testing.T, name string) *flagger.Canary {
	t.Helper()
	createTarget(ctx, t, b.env, b.ns, name)
	return &flagger.Canary{Name: name, Namespace: b.ns, Target: canary.Target{Namespace: b.ns, Name: name},
		Spec:     canary.Spec{Interval: time.Second, Threshold: 1, MaxWeight: 90, StepWeight: 10},
		Workload: flagger.Workload{Port: 9898}, Router: flagger.Router{Kind: flagger.RouterSMI, Provider: "linkerd"}}
}

func (b *controlBed) setImage(ctx context.Context, t *testing.T, name, image string) {
	t.Helper()
	setImage(ctx, t, b.env, b.ns, name, image)
}

func (b *controlBed) status(ctx context.Context, t *testing.T, target canary.Target) canary.Status {
	t.Helper()
	l, err := kube.NewLease(kube.LeaseOptions{Client: b.env.Client(), Target: target})
	require.NoError(t, err)
	st, err := l.Load(ctx, target)
	require.NoError(t, err)
	return st
}

// pendingRequest reports whether target's lease still carries a request or its label.
func (b *controlBed) pendingRequest(ctx context.Context, t *testing.T, target canary.Target) bool {
	t.Helper()
	l, err := b.env.Client().CoordinationV1().Leases(b.ns).Get(ctx, target.Name+"-canarykit", metav1.GetOptions{})
	require.NoError(t, err)
	_, annotated := l.Annotations[kube.AnnotationControl]
	_, labelled := l.Labels[kube.LabelControlRequested]
	return annotated || labelled
}

func poll(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 2*time.Minute, true,
		func(context.Context) (bool, error) { return cond(), nil }), what)
}

// Ten targets of one namespace driven by one driver share one lease watch, and a control
// request made on one of them reaches that one only, once: a pause and a resume of one running
// release, a promotion of another, an abort of a third; the seven others receive nothing.
func TestControlWatchIsSharedByTheNamespace(t *testing.T) {
	b, ctx, cancel := newControlBed(t)
	from := b.env.AuditMark(t)

	const n = 10
	targets := make([]*Target, n)
	canaries := make([]*flagger.Canary, n)
	var mu sync.Mutex
	reasons := make([][]canary.Reason, n)
	var running sync.WaitGroup
	defer running.Wait()
	defer cancel()
	for i := range n {
		canaries[i] = b.target(ctx, t, fmt.Sprintf("app%d", i))
		tg, err := b.d.Target(canaries[i], func(e canary.Event) {
			mu.Lock()
			reasons[i] = append(reasons[i], e.Reason)
			mu.Unlock()
		})
		require.NoError(t, err)
		targets[i] = tg
		running.Add(1)
		go func() {
			defer running.Done()
			assert.NoError(t, tg.Start(ctx))
		}()
	}
	for i, tg := range targets {
		poll(ctx, t, fmt.Sprintf("target %d initialized", i), func() bool { return tg.Last().Phase == canary.PhaseInitialized })
	}

	// three releases: paused then resumed (0), promoted (1), aborted (2)
	for i := range 3 {
		b.setImage(ctx, t, canaries[i].Target.Name, "podinfo:2")
	}
	for i := range 3 {
		poll(ctx, t, fmt.Sprintf("target %d progressing", i), func() bool {
			st := b.status(ctx, t, canaries[i].Target)
			return st.Phase == canary.PhaseProgressing && st.CanaryWeight >= 10
		})
	}
	request := func(i int, c kube.Control) {
		t.Helper()
		require.NoError(t, kube.RequestControl(ctx, b.env.Client(), canaries[i].Target, c))
	}
	request(0, kube.ControlPause)
	request(1, kube.ControlPromote)
	request(2, kube.ControlAbort)
	poll(ctx, t, "target 0 paused", func() bool { return b.status(ctx, t, canaries[0].Target).Paused })
	poll(ctx, t, "target 0's pause cleared", func() bool { return !b.pendingRequest(ctx, t, canaries[0].Target) })
	request(0, kube.ControlResume)
	for i, phase := range []canary.Phase{canary.PhaseSucceeded, canary.PhaseSucceeded, canary.PhaseFailed} {
		poll(ctx, t, fmt.Sprintf("target %d's release ended", i), func() bool {
			last := targets[i].Last()
			return last.Released && last.Phase == phase
		})
		poll(ctx, t, fmt.Sprintf("target %d's request cleared", i), func() bool { return !b.pendingRequest(ctx, t, canaries[i].Target) })
	}
	promoted := targets[1].Last()
	assert.Less(t, promoted.Weights[len(promoted.Weights)-2], 90, "the promotion skipped steps: %v", promoted.Weights)
	log := b.env.AuditSince(t, from).ForUser(b.user)

	assert.Equal(t, int64(2), targets[0].controls.Load(), "pause and resume, once each")
	assert.Equal(t, int64(1), targets[1].controls.Load(), "the promotion, once")
	assert.Equal(t, int64(1), targets[2].controls.Load(), "the abort, once")
	for i := 3; i < n; i++ {
		assert.Zero(t, targets[i].controls.Load(), "target %d received another target's request", i)
	}
	mu.Lock()
	assert.Contains(t, reasons[0], canary.ReasonPaused)
	assert.Contains(t, reasons[0], canary.ReasonUnpaused)
	for i := 1; i < n; i++ {
		assert.NotContains(t, reasons[i], canary.ReasonPaused, "target %d", i)
	}
	mu.Unlock()

	watches := 0
	for _, e := range log.Watches() {
		if e.Resource == "leases" {
			watches++
			assert.Contains(t, e.RequestURI, "labelSelector=app.kubernetes.io%2Fmanaged-by%3Dcanarykit", "the watch selects canarykit's leases")
		}
	}
	assert.Equal(t, 1, watches, "one lease watch for the namespace's %d targets:\n%s", n, log.Watches().Counts())
}

// A request left on a lease while no driver applied it (its holder stopped first) is applied by
// the next driver to take the lease, once, and cleared by it.
func TestControlRequestWaitsForTheNextDriver(t *testing.T) {
	b, ctx, _ := newControlBed(t)
	c := b.target(ctx, t, "podinfo")
	rel, err := b.d.Release(ctx, c, nil)
	require.NoError(t, err)
	res, err := rel.Run(ctx)
	require.NoError(t, err)
	require.Equal(t, canary.PhaseInitialized, res.Phase)
	b.setImage(ctx, t, "podinfo", "podinfo:2")

	// a driver that takes the lease and stops without applying the request
	gone, err := kube.NewLease(kube.LeaseOptions{Client: b.env.Client(), Target: c.Target, Identity: "gone"})
	require.NoError(t, err)
	require.NoError(t, gone.Acquire(ctx))
	require.NoError(t, kube.RequestControl(ctx, b.env.Client(), c.Target, kube.ControlPause))
	require.NoError(t, gone.Release(ctx))
	require.True(t, b.pendingRequest(ctx, t, c.Target), "the request stays for the next driver")

	var mu sync.Mutex
	var reasons []canary.Reason
	rel, err = b.d.Release(ctx, c, func(e canary.Event) {
		mu.Lock()
		reasons = append(reasons, e.Reason)
		mu.Unlock()
	})
	require.NoError(t, err)
	done := runAsync(ctx, rel)
	poll(ctx, t, "the release paused", func() bool {
		st := b.status(ctx, t, c.Target)
		return st.Paused && st.Phase == canary.PhaseProgressing
	})
	poll(ctx, t, "the pause cleared", func() bool { return !b.pendingRequest(ctx, t, c.Target) })
	require.NoError(t, kube.RequestControl(ctx, b.env.Client(), c.Target, kube.ControlResume))
	var rr runResult
	select {
	case rr = <-done:
	case <-ctx.Done():
		t.Fatal("the release did not end")
	}
	require.NoError(t, rr.err)
	assert.Equal(t, canary.PhaseSucceeded, rr.res.Phase, rr.res.Reason)
	mu.Lock()
	defer mu.Unlock()
	paused := 0
	for _, r := range reasons {
		if r == canary.ReasonPaused {
			paused++
		}
	}
	assert.Equal(t, 1, paused, "paused once: %v", reasons)
	assert.Contains(t, reasons, canary.ReasonUnpaused)
	assert.False(t, b.pendingRequest(ctx, t, c.Target), "nothing left on the lease")
}
