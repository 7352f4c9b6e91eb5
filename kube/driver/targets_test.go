package driver

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/mesh/istioapi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
)

// An edit of the analysis keeps a Canary bound to its Target; an edit of what the Target drives
// (the target, its Service, router or workload settings) does not.
func TestBound(t *testing.T) {
	base := testCanary(flagger.Router{})
	edit := func(f func(c *flagger.Canary)) *flagger.Canary {
		c := *base
		f(&c)
		return &c
	}
	assert.True(t, Bound(base, edit(func(c *flagger.Canary) { c.Spec.StepWeight, c.Spec.Threshold = 10, 5 })), "analysis")
	assert.True(t, Bound(base, edit(func(c *flagger.Canary) { c.MetricsServer = "http://other:9090" })), "metrics server")
	for name, f := range map[string]func(c *flagger.Canary){
		"targetRef": func(c *flagger.Canary) { c.Target.Name = "other" },
		"service":   func(c *flagger.Canary) { c.Target.Service = "apex" },
		"port":      func(c *flagger.Canary) { c.Workload.Port = 8080 },
		// the Workload is built with it
		"portDiscovery": func(c *flagger.Canary) { c.Workload.PortDiscovery = true },
		"apex metadata": func(c *flagger.Canary) {
			c.Workload.ApexMetadata = canary.Metadata{Annotations: map[string]string{"a": "b"}}
		},
		"unmanaged metadata": func(c *flagger.Canary) {
			c.Workload.UnmanagedMetadata = canary.MetadataKeys{Labels: []string{"a"}}
		},
		"headless":            func(c *flagger.Canary) { c.Workload.Headless = true },
		"trafficDistribution": func(c *flagger.Canary) { c.Workload.TrafficDistribution = "PreferClose" },
		"backendTimeout":      func(c *flagger.Canary) { c.BackendTimeout = "2s" },
		"autoscaler":          func(c *flagger.Canary) { c.Workload.Autoscaler = "podinfo" },
		"provider":            func(c *flagger.Canary) { c.Router = flagger.Router{Kind: flagger.RouterKubernetes} },
		"gateways":            func(c *flagger.Canary) { c.GatewayRefs = []flagger.ParentRef{{Name: "public"}} },
		// the Istio router is built with them: an edit needs a new Target
		"istio hosts":    func(c *flagger.Canary) { c.Service.Hosts = []string{"app.example.com"} },
		"istio gateways": func(c *flagger.Canary) { c.Service.Gateways = []string{"istio-system/public"} },
		"istio timeout":  func(c *flagger.Canary) { c.Service.Timeout = istioapi.Duration(30 * time.Second) },
		"istio retries":  func(c *flagger.Canary) { c.Service.Retries = &istioapi.HTTPRetry{Attempts: 3} },
		"istio match": func(c *flagger.Canary) {
			c.Service.Match = []istioapi.HTTPMatchRequest{{URI: &istioapi.StringMatch{Prefix: "/"}}}
		},
		"istio rewrite": func(c *flagger.Canary) { c.Service.Rewrite = &istioapi.HTTPRewrite{URI: "/"} },
		"istio cors":    func(c *flagger.Canary) { c.Service.CorsPolicy = &istioapi.CorsPolicy{AllowMethods: []string{"GET"}} },
		"istio headers": func(c *flagger.Canary) {
			c.Service.Headers = &istioapi.Headers{Request: &istioapi.HeaderOperations{Set: map[string]string{"x": "y"}}}
		},
		"istio trafficPolicy": func(c *flagger.Canary) {
			c.Service.TrafficPolicy = &istioapi.TrafficPolicy{TLS: &istioapi.ClientTLSSettings{Mode: "ISTIO_MUTUAL"}}
		},
	} {
		assert.False(t, Bound(base, edit(f)), name)
	}
}

// A Target takes an edited analysis for its next release, and refuses a Canary bound
// differently.
func TestTargetUpdate(t *testing.T) {
	d := offline(t, Options{})
	c := testCanary(flagger.Router{Kind: flagger.RouterKubernetes})
	tg, err := d.Target(c, nil)
	require.NoError(t, err)

	edited := *c
	edited.Spec.Iterations = 7
	require.NoError(t, tg.Update(&edited))
	assert.Equal(t, 7, tg.c.Load().Spec.Iterations, "the next release is built from the edit")

	moved := edited
	moved.Target = canary.Target{Namespace: "test", Name: "other"}
	assert.ErrorIs(t, tg.Update(&moved), ErrRebind)
	assert.Equal(t, "podinfo", tg.c.Load().Target.Name)
}

// Stopping a key nothing runs for is done at once; Apply refuses a Canary the driver cannot
// drive and starts nothing for it.
func TestTargetsStopAndRefuse(t *testing.T) {
	d := offline(t, Options{})
	ts := d.Targets(nil)
	c, done := ts.Stop("test/none")
	assert.Nil(t, c)
	<-done
	bad := testCanary(flagger.Router{Kind: "appmesh", Provider: "appmesh"})
	_, _, err := ts.Apply(context.Background(), "test/podinfo", bad)
	assert.ErrorContains(t, err, "spec.provider")
	assert.Empty(t, ts.Keys())
}

// A target has one Canary: Apply refuses a second one (ErrTargetTaken) and requeues it once
// the first one's Target stops; but a running Target that the target's objects refused
// (kube.CanaryConflictError, told through its conflict hook) gives way to the Canary they were
// made for: that one is requeued at once, and the Target that gave way once it has stopped.
func TestTargetsGiveWayToTheCanaryTheObjectsWereMadeFor(t *testing.T) {
	d := offline(t, Options{Recheck: time.Hour})
	ts := d.Targets(nil)
	defer ts.StopAll()
	requeued := make(chan string, 8)
	ts.Requeue = func(key string) { requeued <- key }
	recv := func(want string) {
		t.Helper()
		select {
		case k := <-requeued:
			assert.Equal(t, want, k)
		case <-time.After(time.Minute): // a guard against a hang, not a timing claim
			require.Fail(t, "no requeue of "+want)
		}
	}
	first, second := testCanary(flagger.Router{Kind: flagger.RouterKubernetes}), testCanary(flagger.Router{Kind: flagger.RouterKubernetes})
	first.Name, first.Target.Canary = "first", "first"
	second.Name, second.Target.Canary = "second", "second"
	ctx := context.Background()

	_, _, err := ts.Apply(ctx, "test/second", second)
	require.NoError(t, err)
	_, _, err = ts.Apply(ctx, "test/first", first)
	require.ErrorIs(t, err, ErrTargetTaken)
	assert.ErrorContains(t, err, "spec.targetRef: the target Deployment has another Canary: Deployment test/podinfo is the target of test/second")

	ts.Target("test/second").conflict("first") // the target's objects were made for the first Canary
	recv("test/first")
	_, _, err = ts.Apply(ctx, "test/first", first)
	require.NoError(t, err)
	assert.Equal(t, []string{"test/first"}, ts.Keys(), "the second Canary's Target gave way")
	recv("test/second")
	_, _, err = ts.Apply(ctx, "test/second", second)
	require.ErrorIs(t, err, ErrTargetTaken)
	assert.ErrorContains(t, err, "is the target of test/first")

	ts.Stop("test/first")
	recv("test/second")
	_, _, err = ts.Apply(ctx, "test/second", second)
	require.NoError(t, err, "the target is free")
	assert.Equal(t, []string{"test/second"}, ts.Keys())
}

// spec.service's metadata, unmanagedMetadata, headless and trafficDistribution reach the
// Workload the driver builds.
func TestWorkloadOptionsCarryTheServicesShape(t *testing.T) {
	c := testCanary(flagger.Router{})
	c.Workload.ApexMetadata = canary.Metadata{Labels: map[string]string{"a": "1"}}
	c.Workload.PrimaryMetadata = canary.Metadata{Labels: map[string]string{"p": "1"}}
	c.Workload.CanaryMetadata = canary.Metadata{Annotations: map[string]string{"c": "1"}}
	c.Workload.UnmanagedMetadata = canary.MetadataKeys{Annotations: []string{"x"}}
	c.Workload.Headless, c.Workload.TrafficDistribution = true, "PreferClose"
	o := workloadOptions(c, false)
	assert.Equal(t, c.Workload.ApexMetadata, o.ApexMetadata)
	assert.Equal(t, c.Workload.PrimaryMetadata, o.PrimaryMetadata)
	assert.Equal(t, c.Workload.CanaryMetadata, o.CanaryMetadata)
	assert.Equal(t, c.Workload.UnmanagedMetadata, o.UnmanagedMetadata)
	assert.True(t, o.Headless)
	assert.Equal(t, "PreferClose", o.TrafficDistribution)
}

// spec.service.portDiscovery reaches the Workload the driver builds.
func TestWorkloadOptionsCarryPortDiscovery(t *testing.T) {
	c := testCanary(flagger.Router{})
	assert.False(t, workloadOptions(c, false).PortDiscovery)
	c.Workload.PortDiscovery = true
	assert.True(t, workloadOptions(c, false).PortDiscovery)
}

// A key refused with ErrTargetTaken is requeued once the Target that drove its target has
// stopped; a Requeue that was under way when StopAll was called starts nothing: Apply after
// StopAll is refused (ErrStopped), so no Target outlives it.
func TestTargetsRequeueRacingStopAll(t *testing.T) {
	d := offline(t, Options{})
	ts := d.Targets(nil)
	requeued, release, applied := make(chan string, 1), make(chan struct{}), make(chan error, 1)
	second := testCanary(flagger.Router{Kind: flagger.RouterKubernetes})
	second.Name, second.Target.Canary = "second", "second"
	ts.Requeue = func(key string) {
		requeued <- key
		<-release
		_, _, err := ts.Apply(context.Background(), key, second)
		applied <- err
	}
	_, _, err := ts.Apply(context.Background(), "test/first", testCanary(flagger.Router{Kind: flagger.RouterKubernetes}))
	require.NoError(t, err)
	_, _, err = ts.Apply(context.Background(), "test/second", second)
	require.ErrorIs(t, err, ErrTargetTaken)

	_, done := ts.Stop("test/first")
	<-done
	assert.Equal(t, "test/second", <-requeued)
	ts.StopAll() // while the requeued key is on its way to Apply
	close(release)
	assert.ErrorIs(t, <-applied, ErrStopped)
	assert.Empty(t, ts.Keys(), "no Target runs after StopAll")
}

// A key refused for a taken target and forgotten since (its Canary deleted) is not requeued
// when the target frees up: it no longer waits for it.
func TestTargetsForgetAStoppedWaitingKey(t *testing.T) {
	d := offline(t, Options{})
	ts := d.Targets(nil)
	requeued := make(chan string, 2)
	ts.Requeue = func(key string) { requeued <- key }
	second := testCanary(flagger.Router{Kind: flagger.RouterKubernetes})
	second.Name, second.Target.Canary = "second", "second"
	third := testCanary(flagger.Router{Kind: flagger.RouterKubernetes})
	third.Name, third.Target.Canary = "third", "third"
	_, _, err := ts.Apply(context.Background(), "test/first", testCanary(flagger.Router{Kind: flagger.RouterKubernetes}))
	require.NoError(t, err)
	for key, c := range map[string]*flagger.Canary{"test/second": second, "test/third": third} {
		_, _, err = ts.Apply(context.Background(), key, c)
		require.ErrorIs(t, err, ErrTargetTaken)
	}
	_, stopped := ts.Forget("test/second")
	<-stopped

	_, done := ts.Stop("test/first")
	<-done
	// the waiting keys are requeued in order: test/second would come first
	assert.Equal(t, "test/third", <-requeued, "the key still waiting, alone")
}

// A Target that cannot claim its lease (no API server here) tries again after each Recheck
// and waits meanwhile without a goroutine of its own, unmoved by kicks; Start returns once its
// context ends during such a wait.
func TestTargetWaitsParkedBetweenClaims(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	d := offline(t, Options{Clock: clk, Recheck: time.Minute})
	tg, err := d.Target(testCanary(flagger.Router{Kind: flagger.RouterKubernetes}), nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan error, 1)
	go func() { started <- tg.Start(ctx) }()
	until := func(what string, cond func() bool) {
		t.Helper()
		require.NoError(t, wait.PollUntilContextTimeout(ctx, 5*time.Millisecond, time.Minute, true,
			func(context.Context) (bool, error) { return cond(), nil }), what)
	}
	parked := func(claims int64) func() bool {
		return func() bool { return tg.claims.Load() == claims && tg.parked.Load() != nil }
	}
	until("parked after the first claim failed", parked(1))
	until("no goroutine runs the Target's loop", func() bool { return loopGoroutines() == 0 })

	pk := tg.parked.Load()
	tg.Kick()
	assert.False(t, pk.p.Woken(), "a kick does not cut the recheck short after an error")

	clk.Step(time.Minute + time.Second) // the recheck, on to its slot
	until("claimed again after the recheck, and parked", parked(2))
	cancel()
	require.NoError(t, <-started)
	assert.Equal(t, int64(2), tg.claims.Load())
}

// loopGoroutines counts the goroutines running a Target's loop.
func loopGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "driver.(*loop)")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// parkClock is a fake clock that counts a Target's parks (its AfterFunc for the recheck: each
// follows a pass).
type parkClock struct {
	*clocktesting.FakeClock
	recheck time.Duration
	parks   atomic.Int32
}

func (c *parkClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	if d >= c.recheck && d < c.recheck+time.Second { // the recheck, on to its slot
		c.parks.Add(1)
	}
	return c.FakeClock.AfterFunc(d, f)
}

// Kicks from several goroutines and the recheck's timer moved, all racing the Target's parks:
// every kick is followed by a pass (the loop parks again after the last one), and the end of
// the context finishes the Target once. The Target is suspended (its passes make no request)
// and claims its lease and watches its control requests on a fake clientset.
func TestTargetKicksRacingItsParks(t *testing.T) {
	const recheck = time.Minute
	for range 20 {
		clk := &parkClock{FakeClock: clocktesting.NewFakeClock(time.Now()), recheck: recheck}
		d := offline(t, Options{Clock: clk, Recheck: recheck})
		c := testCanary(flagger.Router{Kind: flagger.RouterKubernetes})
		c.Suspend = true
		tg, err := d.Target(c, nil)
		require.NoError(t, err)
		client := fake.NewClientset()
		cluster, err := kube.New(kube.Options{Client: client})
		require.NoError(t, err)
		d.cluster = cluster
		tg.lease, err = kube.NewLease(kube.LeaseOptions{Client: client, Target: c.Target, Identity: "a",
			Duration: 15 * time.Second, Clock: clocktesting.NewFakeClock(time.Now())})
		require.NoError(t, err)

		ctx, cancel := context.WithCancel(context.Background())
		started := make(chan error, 1)
		go func() { started <- tg.Start(ctx) }()
		require.Eventually(t, func() bool { return clk.parks.Load() >= 1 }, time.Minute, time.Millisecond, "parked after its first pass")
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i := range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if i == 0 {
						clk.Step(time.Second)
					} else {
						tg.Kick()
					}
				}
			}()
		}
		time.Sleep(10 * time.Millisecond) // the storm's length: any will do
		close(stop)
		wg.Wait()
		n := clk.parks.Load()
		tg.Kick()
		require.Eventually(t, func() bool { return clk.parks.Load() > n }, time.Minute, time.Millisecond, "a pass after the last kick")
		cancel()
		require.NoError(t, <-started)
		assert.Nil(t, tg.parked.Load(), "finished, not parked")
		cluster.Close()
	}
}

// An idle Target's recheck waits Options.Recheck and on to the next whole tenth of it (at most
// a second) on the wall clock: targets parked within the same slot wake at the same instant.
func TestRecheckFallsOnASharedSlot(t *testing.T) {
	base := time.Date(2026, 12, 3, 5, 0, 0, 0, time.UTC) // on every slot
	for _, tc := range []struct {
		recheck, slot time.Duration
	}{
		{10 * time.Second, time.Second},
		{time.Hour, time.Second},
		{50 * time.Millisecond, 5 * time.Millisecond},
	} {
		assert.Equal(t, tc.recheck, recheckIn(base, tc.recheck), "due on a slot: %s", tc.recheck)
		var at []time.Time
		for _, parked := range []time.Duration{1, tc.slot / 3, tc.slot - 1} {
			now := base.Add(parked)
			d := recheckIn(now, tc.recheck)
			assert.True(t, d >= tc.recheck && d < tc.recheck+tc.slot, "recheck %s parked at +%s: waits %s", tc.recheck, parked, d)
			at = append(at, now.Add(d))
		}
		for _, when := range at {
			assert.True(t, base.Add(tc.recheck+tc.slot).Equal(when), "recheck %s: due at %s", tc.recheck, when)
		}
	}
	before := time.Unix(0, 0).Add(-21500 * time.Millisecond) // due before the epoch too
	assert.Equal(t, 10*time.Second+500*time.Millisecond, recheckIn(before, 10*time.Second))
	assert.Equal(t, 5*time.Nanosecond, recheckIn(base.Add(3), 5*time.Nanosecond), "too short for a slot")
}

// A DaemonSet named like another Canary's target Deployment is that target to Targets (its
// Services, routes and Lease would be named alike): refused, the message naming both kinds.
func TestTargetsRefuseATargetOfAnotherKindOfTheSameName(t *testing.T) {
	ts := offline(t, Options{Recheck: time.Hour}).Targets(nil)
	defer ts.StopAll()
	first, second := testCanary(flagger.Router{Kind: flagger.RouterKubernetes}), testCanary(flagger.Router{Kind: flagger.RouterKubernetes})
	first.Name, first.Target.Canary = "first", "first"
	second.Name, second.Target.Canary = "second", "second"
	second.Workload.Kind = "DaemonSet"
	ctx := context.Background()
	_, _, err := ts.Apply(ctx, "test/first", first)
	require.NoError(t, err)
	_, _, err = ts.Apply(ctx, "test/second", second)
	require.ErrorIs(t, err, ErrTargetTaken)
	assert.ErrorContains(t, err, "Deployment test/podinfo is the target of test/first, and this DaemonSet of the same name would share its Services, routes and Lease")
}
