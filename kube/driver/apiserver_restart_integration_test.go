package driver

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/kube"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

// kube-apiserver is restarted (etcd kept) while a release is at a weight step, with two
// drivers on the target. The release ends promoted; the route went through every step once, in
// order (none repeated, none skipped); and the drivers never wrote at the same time. With a
// lease longer than the outage, its holder rides the outage out and no other driver steps in;
// with a shorter one the claim lapses, and the driver that takes the lease next (either)
// resumes from the saved status. A bed of the test's own: the shared one is not restarted.
func TestAPIServerRestartMidRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a test bed")
	}
	env := testenv.Start(t, testenv.Options{Audit: true})
	testenv.InstallCRDs(t, env.Config(), testenv.TrafficSplitCRD())
	t.Run("lease outlives the outage", func(t *testing.T) { restartMidRelease(t, env, 5*time.Minute, false) })
	t.Run("lease lapses during the outage", func(t *testing.T) { restartMidRelease(t, env, 3*time.Second, true) })
}

// restartMidRelease runs one release through an apiserver restart; lapses says whether the
// outage outlasts leaseDuration.
func restartMidRelease(t *testing.T, env *testenv.Env, leaseDuration time.Duration, lapses bool) {
	ctx, cancel, ns := bedNamespace(t, env)
	createPodinfo(ctx, t, env, ns)

	c := &flagger.Canary{Name: "podinfo", Namespace: ns, Target: canary.Target{Namespace: ns, Name: "podinfo"},
		Spec:     canary.Spec{Interval: time.Second, Threshold: 2, MaxWeight: 50, StepWeight: 10},
		Workload: flagger.Workload{Port: 9898}, Router: flagger.Router{Kind: flagger.RouterSMI, Provider: "linkerd"}}

	// what each driver did, in the order it happened
	type seen struct {
		driver string
		event  canary.Event
	}
	var mu sync.Mutex
	var log []seen
	atWeight20 := make(chan struct{})
	lost := make(chan struct{}, 16) // a driver logged that its lease lapsed
	var once sync.Once
	agent := func(id string) string { return "canarykit-restart-test-" + id }
	targets := map[string]*Target{}
	for _, id := range []string{"a", "b"} {
		cfg := rest.CopyConfig(env.Config())
		cfg.UserAgent = agent(id)
		d, err := New(Options{Config: cfg, Identity: "driver-" + id, LeaseDuration: leaseDuration,
			Recheck: 100 * time.Millisecond, Logger: logr.New(lostSink{testr.New(t).GetSink(), lost})})
		require.NoError(t, err)
		defer d.Close()
		tg, err := d.Target(c, func(e canary.Event) {
			mu.Lock()
			log = append(log, seen{id, e})
			mu.Unlock()
			if e.Reason == canary.ReasonAdvanced && e.Weights.Canary == 20 {
				once.Do(func() { close(atWeight20) })
			}
		})
		require.NoError(t, err)
		targets[id] = tg
	}
	started := make(chan error, 2)
	for _, tg := range targets {
		go func() { started <- tg.Start(ctx) }()
	}
	poll := func(what string, cond func() bool) {
		t.Helper()
		require.NoError(t, wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 2*time.Minute, true,
			func(context.Context) (bool, error) { return cond(), nil }), what)
	}
	lease, err := kube.NewLease(kube.LeaseOptions{Client: env.Client(), Target: c.Target})
	require.NoError(t, err)
	status := func() canary.Status {
		st, err := lease.Load(ctx, c.Target)
		if err != nil {
			return canary.Status{}
		}
		return st
	}
	poll("initialized", func() bool { return status().Phase == canary.PhaseInitialized })

	setImage(ctx, t, env, ns, "podinfo", "podinfo:2")
	for _, tg := range targets {
		tg.Kick()
	}
	select {
	case <-atWeight20:
	case <-ctx.Done():
		t.Fatal("cancelled before weight 20")
	}
	mark := env.AuditMark(t) // may race with the step's own writes: only the restart matters
	env.StopAPIServer(t)
	if lapses {
		// hold the apiserver down until the holder has given its claim up
		select {
		case <-lost:
		case <-ctx.Done():
			t.Fatal("cancelled before the lease lapsed")
		}
	}
	mu.Lock()
	before := len(log)
	for _, s := range log {
		require.NotEqual(t, canary.ReasonSucceeded, s.event.Reason, "the release ended before the apiserver stopped")
	}
	mu.Unlock()
	env.StartAPIServer(t)

	poll("promoted after the restart", func() bool {
		st := status()
		return st.Phase == canary.PhaseSucceeded && st.LastPromotedSpec != "" && st.LastPromotedSpec == st.LastAppliedSpec
	})
	cancel()
	for range targets {
		require.NoError(t, <-started)
	}

	mu.Lock()
	defer mu.Unlock()
	require.Greater(t, len(log), before, "the release went on after the restart")
	var weights []int
	var drivers []string
	resumed := false
	for _, s := range log {
		switch s.event.Reason {
		case canary.ReasonAdvanced:
			weights = append(weights, s.event.Weights.Canary)
			if len(drivers) == 0 || drivers[len(drivers)-1] != s.driver {
				drivers = append(drivers, s.driver)
			}
		case canary.ReasonResumed:
			resumed = true
		}
	}
	t.Logf("steps %v by drivers %v; resumed from the saved status: %v", weights, drivers, resumed)
	assert.Equal(t, []int{10, 20, 30, 40, 50}, weights, "every step once, in order")
	assert.LessOrEqual(t, len(drivers), 2, "the steps were made by one driver, then at most one other: %v", drivers)
	if lapses {
		assert.NotEmpty(t, lost, "the holder gave up its lapsed claim")
		assert.True(t, resumed, "the driver that took the lapsed lease resumed the saved release")
	} else {
		assert.Empty(t, lost, "no driver lost the lease")
		assert.False(t, resumed, "the holder rode the outage out: no new run resumed the release")
		assert.Len(t, drivers, 1, "one driver made every step")
	}

	// the writes (route, target lease) that succeeded after the restart, by driver: one holder
	// at a time, so never a-b-a
	var writers []string
	for _, e := range env.AuditSince(t, mark).Calls() {
		if e.Code < 200 || e.Code > 299 || e.Verb == "get" || e.Verb == "list" || e.Verb == "watch" {
			continue
		}
		if e.Resource != "trafficsplits" && (e.Resource != "leases" || e.Name != "podinfo-canarykit") {
			continue // each driver renews its own holder lease
		}
		for _, id := range []string{"a", "b"} {
			if e.UserAgent == agent(id) && (len(writers) == 0 || writers[len(writers)-1] != id) {
				writers = append(writers, id)
			}
		}
	}
	assert.LessOrEqual(t, len(writers), 2, "writers of the route and lease alternated: %v", writers)
	if !lapses {
		assert.Len(t, writers, 1, "only the holder wrote after the restart: %v", writers)
	}

	// the route ends on the promoted primary, the canary scaled down
	w, err := targets["a"].router.Weights(context.Background(), c.Target)
	require.NoError(t, err)
	assert.Equal(t, canary.AllPrimary(), w)
	prim, err := env.Client().AppsV1().Deployments(ns).Get(context.Background(), "podinfo-primary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "podinfo:2", prim.Spec.Template.Spec.Containers[0].Image)
	dep, err := env.Client().AppsV1().Deployments(ns).Get(context.Background(), "podinfo", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(0), ptr.Deref(dep.Spec.Replicas, -1), "canary scaled down")
}

// lostSink passes log lines on and reports on lost each error that says a lease was lost.
type lostSink struct {
	logr.LogSink
	lost chan<- struct{}
}

func (s lostSink) Error(err error, msg string, kv ...any) {
	if errors.Is(err, kube.ErrLeaseLost) {
		select {
		case s.lost <- struct{}{}:
		default:
		}
	}
	s.LogSink.Error(err, msg, kv...)
}

func (s lostSink) WithValues(kv ...any) logr.LogSink {
	return lostSink{s.LogSink.WithValues(kv...), s.lost}
}

func (s lostSink) WithName(name string) logr.LogSink {
	return lostSink{s.LogSink.WithName(name), s.lost}
}
