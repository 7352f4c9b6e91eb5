package driver

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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

// An idle Target costs its share of its holder lease's renewals only: its own lease is not
// renewed, vouched for by the driver's holder lease of the namespace, and however often it is kicked or
// rechecks, it finds out from its caches and the held lease that there is no new revision,
// and reads no route, Deployment or Lease; it waits parked, without a goroutine. A new revision is still released, and a control
// request sent while it is idle is applied to the next release.
func TestTargetIdleCostsOnlyRenewals(t *testing.T) {
	env := testenv.Shared(t)
	ctx, cancel, ns := bedNamespace(t, env, testenv.TrafficSplitCRD())
	createPodinfo(ctx, t, env, ns)

	const agent = "canarykit-idle-target-test"
	cfg := rest.CopyConfig(env.Config())
	cfg.UserAgent = agent
	d, err := New(Options{Config: cfg, Identity: "driver-a", LeaseDuration: 4 * time.Second, Recheck: 50 * time.Millisecond, Logger: testr.New(t)})
	require.NoError(t, err)
	defer d.Close()
	c := &flagger.Canary{Name: "podinfo", Namespace: ns, Target: canary.Target{Namespace: ns, Name: "podinfo"},
		Spec:     canary.Spec{Interval: time.Second, Threshold: 1, MaxWeight: 50, StepWeight: 50},
		Workload: flagger.Workload{Port: 9898}, Router: flagger.Router{Kind: flagger.RouterSMI, Provider: "linkerd"}}
	var mu sync.Mutex
	var reasons []canary.Reason
	tg, err := d.Target(c, func(e canary.Event) {
		mu.Lock()
		reasons = append(reasons, e.Reason)
		mu.Unlock()
	})
	require.NoError(t, err)
	started := make(chan error, 1)
	go func() { started <- tg.Start(ctx) }()
	poll := func(what string, cond func() bool) {
		t.Helper()
		require.NoError(t, wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, time.Minute, true,
			func(context.Context) (bool, error) { return cond(), nil }), what)
	}
	poll("initialized", func() bool { return tg.Last().Phase == canary.PhaseInitialized })
	// The recorder writes Events asynchronously: wait for the last one of the initialisation
	// so that it is not counted in the idle window.
	poll("the Initialized event written", func() bool {
		evs, err := env.Client().CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		for _, e := range evs.Items {
			if e.Reason == string(canary.ReasonInitialized) {
				return true
			}
		}
		return false
	})

	// idle: kicked and rechecking for two renewal periods
	from := env.AuditMark(t)
	checks := tg.checks.Load()
	for i := 0; i < 20; i++ {
		tg.Kick()
	}
	waitHolderRenewals(ctx, t, env.Client(), ns, "podinfo-canarykit")
	idle := byAgent(env.AuditSince(t, from).Calls(), agent).Counts()
	made := tg.checks.Load() - checks
	t.Logf("idle: %d checks for a new revision; requests:\n%s", made, idle)
	assert.GreaterOrEqual(t, made, int64(20), "the target looked for new revisions")
	require.NotZero(t, idle.Total(), "the holder lease was renewed")
	for k := range idle {
		assert.Equal(t, "update leases", k.Verb+" "+k.Resource, "an idle target only renews its holder lease")
	}
	assert.Equal(t, canary.PhaseInitialized, tg.Last().Phase, "no release ran while idle")
	// between the kicks and rechecks it waits without a goroutine of its own
	poll("parked, waiting for a kick", func() bool { pk := tg.parked.Load(); return pk != nil && pk.kicks && !pk.p.Woken() })

	// a control request while idle is kept for the next release: paused, the analysis waits
	require.NoError(t, kube.RequestControl(ctx, env.Client(), c.Target, kube.ControlPause))
	setImage(ctx, t, env, ns, "podinfo", "podinfo:2")
	tg.Kick()
	status := func() canary.Status {
		l, err := kube.NewLease(kube.LeaseOptions{Client: env.Client(), Target: c.Target})
		require.NoError(t, err)
		st, err := l.Load(ctx, c.Target)
		require.NoError(t, err)
		return st
	}
	poll("paused in the release", func() bool { st := status(); return st.Paused && st.Phase == canary.PhaseProgressing })
	require.NoError(t, kube.RequestControl(ctx, env.Client(), c.Target, kube.ControlResume))
	poll("the new revision released", func() bool { return tg.Last().Released && tg.Last().Phase == canary.PhaseSucceeded })
	mu.Lock()
	assert.Contains(t, reasons, canary.ReasonNewRevision)
	assert.Contains(t, reasons, canary.ReasonSucceeded)
	mu.Unlock()

	cancel()
	require.NoError(t, <-started)
	l, err := env.Client().CoordinationV1().Leases(ns).Get(context.Background(), "podinfo-canarykit", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Empty(t, ptr.Deref(l.Spec.HolderIdentity, ""), "Start released the lease")
}

func byAgent(ev testenv.AuditEvents, agent string) testenv.AuditEvents {
	var out testenv.AuditEvents
	for _, e := range ev {
		if e.UserAgent == agent {
			out = append(out, e)
		}
	}
	return out
}

// waitHolderRenewals waits for two renewals of the holder lease that vouches for the target
// lease name, and checks that the target lease itself was not written meanwhile.
func waitHolderRenewals(ctx context.Context, t *testing.T, client kubernetes.Interface, ns, name string) {
	t.Helper()
	leases := client.CoordinationV1().Leases(ns)
	target, err := leases.Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	holderName := target.Annotations[kube.AnnotationHolder]
	require.NotEmpty(t, holderName, "a held target's lease names its holder lease")
	holder, err := leases.Get(ctx, holderName, metav1.GetOptions{})
	require.NoError(t, err)
	renewed := holder.Spec.RenewTime.Time
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		l, err := leases.Get(ctx, holderName, metav1.GetOptions{})
		return err == nil && l.Spec.RenewTime.Sub(renewed) >= 3*time.Second, nil
	}), "two renewals of the holder lease")
	after, err := leases.Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, target.ResourceVersion, after.ResourceVersion, "the idle target's own lease is not renewed")
}
