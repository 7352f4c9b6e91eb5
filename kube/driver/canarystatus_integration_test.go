package driver

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/kube"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/webhook/webhooktest"
	"github.com/go-logr/logr/testr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// testBound bounds each test so that a release that hangs fails it instead of the binary.
const testBound = 4 * time.Minute

// statusBed is a namespace with podinfo, Flagger's Canary CRD, a loadtester and a driver
// identity bound to exactly the documented RBAC.
type statusBed struct {
	env   *testenv.Env
	ns    string
	user  string
	lt    *webhooktest.LoadTester
	ltURL string
}

func newStatusBed(ctx context.Context, t *testing.T) *statusBed {
	env := testenv.Shared(t)
	_, _, ns := bedNamespace(t, env, testenv.TrafficSplitCRD(), testenv.CanaryCRD(t))
	createPodinfo(ctx, t, env, ns)
	b := &statusBed{env: env, ns: ns, lt: &webhooktest.LoadTester{}}
	b.ltURL = b.lt.Start(t)
	return b
}

func (b *statusBed) driver(t *testing.T, identity string) *Driver {
	t.Helper()
	user, cfg := driverUser(t, b.env, b.ns)
	b.user = user
	d, err := New(Options{Config: cfg, Identity: identity, CanaryStatus: true, Logger: testr.New(t)})
	require.NoError(t, err)
	t.Cleanup(d.Close)
	return d
}

// initialisedBed is what each release test here starts from: a status bed whose Canary
// (analysis interval as given) driver-a has initialised, and that driver.
func initialisedBed(ctx context.Context, t *testing.T, interval string) (*statusBed, *flagger.Canary, *Driver) {
	t.Helper()
	b := newStatusBed(ctx, t)
	c := applyCanary(ctx, t, b.env, canaryYAML(b.ns, interval, b.ltURL))
	d := b.driver(t, "driver-a")
	rel, err := d.Release(ctx, c, nil)
	require.NoError(t, err)
	res, err := rel.Run(ctx)
	require.NoError(t, err)
	require.Equal(t, canary.PhaseInitialized, res.Phase, res.Reason)
	return b, c, d
}

// releaseUntil has d release a new revision of c (podinfo:2) in the background until the
// Canary shows the first step, as cond tells it; die then ends that run as the death of the
// process would, closes d and returns the run's outcome, which must be context.Canceled.
func (b *statusBed) releaseUntil(ctx context.Context, t *testing.T, c *flagger.Canary, d *Driver, cond func(*unstructured.Unstructured) bool) (die func() runResult) {
	t.Helper()
	b.newRevision(ctx, t, "podinfo:2")
	rctx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	rel, err := d.Release(rctx, c, nil)
	require.NoError(t, err)
	done := runAsync(rctx, rel)
	pollCanary(ctx, t, b.env, b.ns, "the first step", cond)
	return func() runResult {
		t.Helper()
		stop()
		rr := <-done
		require.ErrorIs(t, rr.err, context.Canceled)
		d.Close()
		return rr
	}
}

// underWay runs rel in the background until the Canary shows a step of the analysis with
// traffic; it returns the run's outcome, the Canary at that step and a
// `kubectl wait --for=condition=promoted` client started then.
func (b *statusBed) underWay(ctx context.Context, t *testing.T, rel *Release) (<-chan runResult, *unstructured.Unstructured, *promotedWaiter) {
	t.Helper()
	done := runAsync(ctx, rel)
	mid := pollCanary(ctx, t, b.env, b.ns, "a step of the analysis", func(o *unstructured.Unstructured) bool {
		return phaseOf(o) == "Progressing" && weightOf(o) > 0
	})
	return done, mid, waitPromoted(ctx, b.env.Config(), b.ns)
}

// awaitRun waits for the outcome of a run, which must end without an error before ctx does.
func awaitRun(ctx context.Context, t *testing.T, done <-chan runResult) runResult {
	t.Helper()
	select {
	case rr := <-done:
		require.NoError(t, rr.err)
		return rr
	case <-ctx.Done():
		t.Fatalf("the release did not end: %v", ctx.Err())
		return runResult{}
	}
}

// newRevision changes podinfo's image, and has it read a ConfigMap, so the next run releases.
func (b *statusBed) newRevision(ctx context.Context, t *testing.T, image string) {
	t.Helper()
	cms := b.env.Client().CoreV1().ConfigMaps(b.ns)
	if _, err := cms.Get(ctx, "podinfo-config", metav1.GetOptions{}); err != nil {
		_, err = cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "podinfo-config"},
			Data: map[string]string{"color": "blue"}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		dep, err := b.env.Client().AppsV1().Deployments(b.ns).Get(ctx, "podinfo", metav1.GetOptions{})
		if err != nil {
			return err
		}
		c := &dep.Spec.Template.Spec.Containers[0]
		c.Image = image
		c.EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "podinfo-config"}}}}
		_, err = b.env.Client().AppsV1().Deployments(b.ns).Update(ctx, dep, metav1.UpdateOptions{})
		return err
	}))
}

// A release of a Canary object applied as Flagger's YAML, with its status on the object: the
// printer columns of `kubectl get canaries`, a `kubectl wait --for=condition=promoted` client,
// kstatus (Flux's health checks) and Flagger's fields follow it, and each step's status write
// is one request, made under exactly the documented RBAC.
func TestCanaryStatusPromotion(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testBound) // a hung release fails the test
	defer cancel()
	b, c, d := initialisedBed(ctx, t, "1s")
	obj := getCanary(ctx, t, b.env, b.ns)
	assert.Equal(t, flaggerCondition{Type: "Promoted", Status: "True", Reason: "Initialized", Message: "Deployment initialization completed."},
		dropTimes(promotedOf(obj)))
	assert.Equal(t, status.CurrentStatus, kstatusOf(t, obj), "an initialised Canary is Current")
	row := canaryRow(ctx, t, b.env.Config(), b.ns)
	assert.Equal(t, "Initialized", row["Status"])
	assert.Equal(t, "0", row["Weight"])

	// the release
	b.newRevision(ctx, t, "podinfo:2")
	from := b.env.AuditMark(t)
	rel, store := countedRelease(ctx, t, d, c)
	done, mid, waiter := b.underWay(ctx, t, rel)
	row = canaryRow(ctx, t, b.env.Config(), b.ns)
	t.Logf("mid-release row: %v", row)
	assert.Equal(t, "Progressing", row["Status"])
	assert.Contains(t, []string{"20", "40", "60"}, row["Weight"])
	assert.Equal(t, status.InProgressStatus, kstatusOf(t, mid), "a Canary in release is InProgress")
	assert.Equal(t, flaggerCondition{Type: "Promoted", Status: "Unknown", Reason: "Progressing",
		Message: "New revision detected, progressing canary analysis."}, dropTimes(promotedOf(mid)))

	rr := awaitRun(ctx, t, done)
	require.Equal(t, canary.PhaseSucceeded, rr.res.Phase, rr.res.Reason)
	assert.Equal(t, []int{20, 40, 60, 0}, rr.res.Weights)

	// kubectl wait returned on the Succeeded status, and not before
	select {
	case met := <-waiter.done:
		assert.Equal(t, "Succeeded", phaseOf(met))
	case err := <-waiter.errs:
		t.Fatalf("waiting for condition=Promoted: %v", err)
	case <-ctx.Done():
		t.Fatalf("the waiter did not return: %v", ctx.Err())
	}
	close(waiter.seen)
	for j := range waiter.seen {
		if j.phase == "Succeeded" {
			continue
		}
		assert.NotEqual(t, "Initialized", j.phase, "the waiter started mid-release")
	}

	final := getCanary(ctx, t, b.env, b.ns)
	fs, err := decodeStatus(final.Object)
	require.NoError(t, err)
	assert.Equal(t, canary.PhaseSucceeded, fs.Phase)
	assert.Equal(t, rr.res.Revision, fs.LastAppliedSpec)
	assert.Equal(t, rr.res.Revision, fs.LastPromotedSpec)
	assert.Zero(t, fs.CanaryWeight)
	require.Len(t, fs.TrackedConfigs, 1, "the ConfigMap podinfo reads is tracked")
	assert.NotEmpty(t, fs.TrackedConfigs["configmap/podinfo-config"])
	assert.Equal(t, flaggerCondition{Type: "Promoted", Status: "True", Reason: "Succeeded",
		Message: "Canary analysis completed successfully, promotion finished."}, dropTimes(promotedOf(final)))
	assert.Equal(t, status.CurrentStatus, kstatusOf(t, final), "a promoted Canary is Current")
	row = canaryRow(ctx, t, b.env.Config(), b.ns)
	assert.Equal(t, "Succeeded", row["Status"])
	assert.Equal(t, "0", row["Weight"])
	ltt, err := time.Parse(time.RFC3339, row["LastTransitionTime"])
	require.NoError(t, err, "LastTransitionTime cell %q", row["LastTransitionTime"])
	assert.True(t, ltt.Equal(fs.LastTransitionTime), "the column shows .status.lastTransitionTime")
	assert.False(t, ltt.Before(mustTime(t, promotedOf(mid).LastTransitionTime)), "the release's last transition is after its start")

	// one request per status write, none repeated after a conflict (the analysis' start is
	// in the step's); the lease is written when acquired and when released, and the Driver's
	// holder lease of the namespace is looked for, claimed and given up (it renews the claim)
	saves := store.saved()
	calls := b.env.AuditSince(t, from).ForUser(b.user).Calls()
	counts := calls.Counts()
	t.Logf("%d status saves; requests:\n%s", len(saves), counts)
	key := func(verb, res string) testenv.AuditKey {
		return testenv.AuditKey{User: b.user, Verb: verb, Resource: res}
	}
	assert.Equal(t, len(saves), counts[key("update", "canaries/status")], "one request per status write")
	assert.GreaterOrEqual(t, len(saves), 6, "new revision, three steps, promotion, success")
	assert.Equal(t, 1, counts[key("get", "canaries")], "the status is read once, when the release starts")
	assert.Equal(t, 4, counts[key("update", "leases")], "lease: acquired, released; holder lease: claimed, given up")
	assert.Equal(t, 1, counts[key("list", "leases")], "the holder leases, once")
	for _, e := range calls {
		assert.Less(t, e.Code, 300, "%s %s/%s answered %d", e.Verb, e.Resource, e.Subresource, e.Code)
	}
}

// A rollback: the Canary reads Failed with Flagger's Promoted=False condition, kstatus says
// Failed (Stalled), and a client waiting for condition=Promoted keeps waiting.
func TestCanaryStatusRollback(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testBound) // a hung release fails the test
	defer cancel()
	b, c, d := initialisedBed(ctx, t, "2s")
	b.newRevision(ctx, t, "podinfo:bad")
	rel, err := d.Release(ctx, c, nil)
	require.NoError(t, err)
	done, _, waiter := b.underWay(ctx, t, rel)
	b.lt.RequestRollback("podinfo", b.ns)

	rr := awaitRun(ctx, t, done)
	require.Equal(t, canary.PhaseFailed, rr.res.Phase)
	require.Equal(t, canary.CauseRollbackHook, rr.res.Cause)

	final := getCanary(ctx, t, b.env, b.ns)
	assert.Equal(t, flaggerCondition{Type: "Promoted", Status: "False", Reason: "Failed",
		Message: "Canary analysis failed, Deployment scaled to zero."}, dropTimes(promotedOf(final)))
	assert.Equal(t, status.FailedStatus, kstatusOf(t, final), "a rolled back Canary is Failed for kstatus")
	row := canaryRow(ctx, t, b.env.Config(), b.ns)
	assert.Equal(t, "Failed", row["Status"])
	assert.Equal(t, "0", row["Weight"])

	// the waiter judged the Failed version and is still waiting
	for seenFailed := false; !seenFailed; {
		select {
		case j := <-waiter.seen:
			seenFailed = j.phase == "Failed" && j.resourceVersion == final.GetResourceVersion()
		case met := <-waiter.done:
			t.Fatalf("condition=Promoted met by a rolled back Canary: %v", met.Object["status"])
		case err := <-waiter.errs:
			t.Fatalf("waiting for condition=Promoted: %v", err)
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
	select {
	case met := <-waiter.done:
		t.Fatalf("condition=Promoted met by a rolled back Canary: %v", met.Object["status"])
	default:
	}
}

// A driver stopped mid-release and a new Driver (another process) that continues from the
// Canary's status: no step repeated, none skipped, and the release not started over.
func TestCanaryStatusResume(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testBound) // a hung release fails the test
	defer cancel()
	b, c, d1 := initialisedBed(ctx, t, "2s")
	die := b.releaseUntil(ctx, t, c, d1, func(o *unstructured.Unstructured) bool {
		return phaseOf(o) == "Progressing" && weightOf(o) == 20
	})
	first := die()
	assert.Equal(t, []int{20}, first.res.Weights)

	// what the new process finds: all of the status on the Canary, nothing of it in the lease
	st, err := b.env.Client().CoordinationV1().Leases(b.ns).Get(ctx, "podinfo-canarykit", metav1.GetOptions{})
	require.NoError(t, err)
	assert.NotContains(t, st.Annotations, kube.AnnotationStatus, "the lease keeps no status")

	d2 := b.driver(t, "driver-b")
	var reasons []canary.Reason
	rel, err := d2.Release(ctx, c, func(e canary.Event) { reasons = append(reasons, e.Reason) })
	require.NoError(t, err)
	second, err := rel.Run(ctx)
	require.NoError(t, err)
	require.Equal(t, canary.PhaseSucceeded, second.Phase, second.Reason)
	assert.Equal(t, []int{40, 60, 0}, second.Weights, "the next step, then the rest")
	assert.NotContains(t, reasons, canary.ReasonNewRevision, "the release was not started over")
	assert.Equal(t, first.res.Revision, second.Revision)
}

func dropTimes(c flaggerCondition) flaggerCondition {
	c.LastUpdateTime, c.LastTransitionTime = "", ""
	return c
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	require.NoError(t, err, "time %q", s)
	return v
}

// A Target with its status on the Canary: idle, it reads neither the Canary nor anything but
// its caches (its holder lease is renewed); a new revision is released, and the Canary says so.
func TestTargetCanaryStatus(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testBound) // a hung release fails the test
	defer cancel()
	b := newStatusBed(ctx, t)
	c := applyCanary(ctx, t, b.env, canaryYAML(b.ns, "1s", b.ltURL))
	user, cfg := driverUser(t, b.env, b.ns)
	d, err := New(Options{Config: cfg, Identity: "driver-a", CanaryStatus: true, LeaseDuration: 4 * time.Second,
		Recheck: 50 * time.Millisecond, Logger: testr.New(t)})
	require.NoError(t, err)
	defer d.Close()
	tg, err := d.Target(c, nil)
	require.NoError(t, err)
	started := make(chan error, 1)
	go func() { started <- tg.Start(ctx) }()
	pollCanary(ctx, t, b.env, b.ns, "initialised", func(o *unstructured.Unstructured) bool { return phaseOf(o) == "Initialized" })
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, time.Minute, true,
		func(context.Context) (bool, error) { return tg.Last().Phase == canary.PhaseInitialized, nil }))

	from := b.env.AuditMark(t)
	checks := tg.checks.Load()
	for i := 0; i < 20; i++ {
		tg.Kick()
	}
	waitHolderRenewals(ctx, t, b.env.Client(), b.ns, "podinfo-canarykit")
	idle := b.env.AuditSince(t, from).ForUser(user).Calls().Counts()
	t.Logf("idle: %d checks; requests:\n%s", tg.checks.Load()-checks, idle)
	assert.GreaterOrEqual(t, tg.checks.Load()-checks, int64(20))
	require.NotZero(t, idle.Total())
	for k := range idle {
		if k.Resource == "events" {
			continue // the initialisation's Events, written asynchronously
		}
		assert.Equal(t, "update leases", k.Verb+" "+k.Resource, "an idle target only renews its holder lease")
	}

	b.newRevision(ctx, t, "podinfo:2")
	tg.Kick()
	final := pollCanary(ctx, t, b.env, b.ns, "released", func(o *unstructured.Unstructured) bool {
		return phaseOf(o) == "Succeeded"
	})
	assert.Equal(t, "True", promotedOf(final).Status)
	cancel()
	require.NoError(t, <-started)
}

// A pause outlives the process: the new driver loads it (from the Canary's
// canarykit.dev/Analysis condition, Flagger's status having no field for it) and continues
// the release only when resumed.
func TestCanaryStatusResumePaused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testBound) // a hung release fails the test
	defer cancel()
	b, c, d1 := initialisedBed(ctx, t, "2s")
	die := b.releaseUntil(ctx, t, c, d1, func(o *unstructured.Unstructured) bool {
		return phaseOf(o) == "Progressing" && weightOf(o) > 0
	})
	require.NoError(t, kube.RequestControl(ctx, b.env.Client(), c.Target, kube.ControlPause))
	lease, err := kube.NewLease(kube.LeaseOptions{Client: b.env.Client(), Target: c.Target})
	require.NoError(t, err)
	paused := pollCanary(ctx, t, b.env, b.ns, "the pause saved", func(o *unstructured.Unstructured) bool {
		return conditionOf(o, ConditionAnalysis).Reason == "Paused"
	})
	die()
	require.Equal(t, "Progressing", phaseOf(paused))
	analysis := conditionOf(paused, ConditionAnalysis)
	assert.Equal(t, "True", analysis.Status, "an analysis started")
	assert.Contains(t, analysis.Message, `"paused":true`)
	inLease, err := lease.Load(ctx, c.Target)
	require.NoError(t, err)
	assert.False(t, inLease.Paused, "nothing of it in the lease")

	rr := b.resumeElsewhere(ctx, t, c, func() {})
	want := []int{40, 60, 0}[(weightOf(paused)/20)-1:]
	assert.Equal(t, want, rr.res.Weights, "from the step after the paused one")
}

// resumeElsewhere has a new driver, driver-b, take c's release over once the earlier one
// died; the release must start paused there. Once driver-b holds the lease it requests Resume,
// calls then, and returns the run's outcome: succeeded, resumed (an Unpaused event) and not
// started over.
func (b *statusBed) resumeElsewhere(ctx context.Context, t *testing.T, c *flagger.Canary, then func()) runResult {
	t.Helper()
	d2 := b.driver(t, "driver-b")
	var mu sync.Mutex
	var reasons []canary.Reason
	rel, err := d2.Release(ctx, c, func(e canary.Event) {
		mu.Lock()
		reasons = append(reasons, e.Reason)
		mu.Unlock()
	})
	require.NoError(t, err)
	second := runAsync(ctx, rel)
	lease, err := kube.NewLease(kube.LeaseOptions{Client: b.env.Client(), Target: c.Target})
	require.NoError(t, err)
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		holder, _, err := lease.Holder(ctx)
		return err == nil && holder == "driver-b", nil
	}), "the new driver holds the lease")
	require.NoError(t, kube.RequestControl(ctx, b.env.Client(), c.Target, kube.ControlResume))
	then()
	rr := awaitRun(ctx, t, second)
	require.Equal(t, canary.PhaseSucceeded, rr.res.Phase, rr.res.Reason)
	mu.Lock()
	defer mu.Unlock()
	assert.Contains(t, reasons, canary.ReasonUnpaused, "the new driver started paused and was resumed")
	assert.NotContains(t, reasons, canary.ReasonNewRevision, "the release was not started over")
	return rr
}

// A release paused by an earlier version, which kept canarykit's part of the status in the
// target's Lease and wrote the Canary's status without the Analysis condition, stays paused
// across the upgrade: the new driver reads the pause from the Lease, and its first save moves
// it to the Canary and clears it in the Lease, on the API server.
func TestCanaryStatusUpgradeFromTheLeasesStatus(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testBound) // a hung release fails the test
	defer cancel()
	b, c, d1 := initialisedBed(ctx, t, "2s")
	die := b.releaseUntil(ctx, t, c, d1, func(o *unstructured.Unstructured) bool {
		return phaseOf(o) == "Progressing" && weightOf(o) > 0
	})
	die()
	// an analysis' start of its own, told apart from driver-a's
	started := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()

	// what the earlier version left: a status without the condition, the pause in the Lease
	admin, err := dynamic.NewForConfig(b.env.Config())
	require.NoError(t, err)
	old := getCanary(ctx, t, b.env, b.ns)
	conds, _, _ := unstructured.NestedSlice(old.Object, "status", "conditions")
	conds = slices.DeleteFunc(conds, func(c any) bool { return c.(map[string]any)["type"] == ConditionAnalysis })
	require.NoError(t, unstructured.SetNestedSlice(old.Object, conds, "status", "conditions"))
	old, err = admin.Resource(CanaryGVR).Namespace(b.ns).UpdateStatus(ctx, old, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.Empty(t, conditionOf(old, ConditionAnalysis).Type)
	earlier, err := kube.NewLease(kube.LeaseOptions{Client: b.env.Client(), Target: c.Target, Identity: "earlier-version"})
	require.NoError(t, err)
	require.NoError(t, earlier.Acquire(ctx))
	_, err = earlier.Save(ctx, c.Target, canary.Status{Paused: true, StartedAt: started})
	require.NoError(t, err)
	require.NoError(t, earlier.Release(ctx))
	leaseStatus := func() (string, bool) {
		l, err := b.env.Client().CoordinationV1().Leases(b.ns).Get(ctx, c.Target.Name+"-canarykit", metav1.GetOptions{})
		require.NoError(t, err)
		s, ok := l.Annotations[kube.AnnotationStatus]
		return s, ok
	}
	inLease, ok := leaseStatus()
	require.True(t, ok)
	require.Contains(t, inLease, `"paused":true`)

	b.resumeElsewhere(ctx, t, c, func() { // the pause was read from the Lease
		pollCanary(ctx, t, b.env, b.ns, "the Lease's start saved in the Canary, resumed", func(o *unstructured.Unstructured) bool {
			m := conditionOf(o, ConditionAnalysis).Message
			return strings.Contains(m, `"startedAt":"`+started.Format(time.RFC3339)+`"`) && !strings.Contains(m, `"paused"`)
		})
	})

	_, ok = leaseStatus()
	assert.False(t, ok, "the Lease's status is cleared once the Canary holds it")
	final := getCanary(ctx, t, b.env, b.ns)
	analysis := conditionOf(final, ConditionAnalysis)
	assert.Equal(t, "Idle", analysis.Reason)
	assert.NotContains(t, analysis.Message, `"paused":true`)
}
