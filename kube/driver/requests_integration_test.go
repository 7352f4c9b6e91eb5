package driver

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/go-logr/logr/testr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
)

// The API requests of one release by a Target with its status on the Canary object (as
// examples/flagger-controller runs), counted by kind on the real API server. The release has
// three weight steps and the promotion: four route writes. Each tick writes its status once,
// each event once (Flagger's set of events for such a release), the Deployments are written
// three times (canary scale-up, primary copy, canary scale-down), the route is read once when
// adopted, and the lease once, for the analysis' start; the status is not read again: the
// Target holds the lease since the release before, so the status it last wrote is the stored
// one.
func TestTargetReleaseRequests(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testBound) // a hung release fails the test
	defer cancel()
	b := newStatusBed(ctx, t)
	c := applyCanary(ctx, t, b.env, canaryYAML(b.ns, "1s", b.ltURL))
	user, cfg := driverUser(t, b.env, b.ns)
	d, err := New(Options{Config: cfg, Identity: "driver-a", CanaryStatus: true, Logger: testr.New(t)})
	require.NoError(t, err)
	defer d.Close()

	var mu sync.Mutex
	var events []canary.Event
	tg, err := d.Target(c, func(e canary.Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	})
	require.NoError(t, err)
	tctx, stop := context.WithCancel(ctx)
	started := make(chan error, 1)
	go func() { started <- tg.Start(tctx) }()
	poll := func(what string, cond func() bool) {
		t.Helper()
		require.NoError(t, wait.PollUntilContextCancel(ctx, 20*time.Millisecond, true,
			func(context.Context) (bool, error) { return cond(), nil }), what)
	}
	written := func(reason canary.Reason, n int) func() bool { // the recorder writes asynchronously
		return func() bool {
			evs, err := b.env.Client().CoreV1().Events(b.ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false
			}
			found := 0
			for _, e := range evs.Items {
				if e.Reason == string(reason) {
					found++
				}
			}
			return found >= n
		}
	}
	poll("initialized", func() bool { return tg.Last().Phase == canary.PhaseInitialized })
	poll("the Initialized event written", written(canary.ReasonInitialized, 1))

	from := b.env.AuditMark(t)
	mu.Lock()
	events = nil
	mu.Unlock()
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		dep, err := b.env.Client().AppsV1().Deployments(b.ns).Get(ctx, "podinfo", metav1.GetOptions{})
		if err != nil {
			return err
		}
		dep.Spec.Template.Spec.Containers[0].Image = "podinfo:2"
		_, err = b.env.Client().AppsV1().Deployments(b.ns).Update(ctx, dep, metav1.UpdateOptions{})
		return err
	}))
	tg.Kick()
	poll("released", func() bool { return tg.Last().Released && tg.Last().Phase == canary.PhaseSucceeded })
	poll("the Succeeded event written", written(canary.ReasonSucceeded, 1))
	res := tg.Last()
	assert.Equal(t, []int{20, 40, 60, 0}, res.Weights)

	mu.Lock()
	var reasons []canary.Reason
	for _, e := range events {
		if e.Reason != canary.ReasonNotReady { // the canary may not be ready at the first look
			reasons = append(reasons, e.Reason)
		}
	}
	emitted := len(events)
	mu.Unlock()
	// Flagger's events for this release: New revision detected, Starting canary analysis,
	// Advance canary weight (each step), Copying template spec, Routing all traffic to
	// primary, Promotion completed
	assert.Equal(t, []canary.Reason{canary.ReasonNewRevision, canary.ReasonStarted, canary.ReasonAdvanced,
		canary.ReasonAdvanced, canary.ReasonAdvanced, canary.ReasonPromoting, canary.ReasonShifted, canary.ReasonSucceeded}, reasons)

	calls := b.env.AuditSince(t, from).ForUser(user).Calls()
	counts := calls.Counts()
	t.Logf("one release, %d route writes, %d requests:\n%s", len(res.Weights), counts.Total(), counts)
	key := func(verb, res string) testenv.AuditKey {
		return testenv.AuditKey{User: user, Verb: verb, Resource: res}
	}
	assert.Equal(t, emitted, counts[key("create", "events")], "one request per event")
	delete(counts, key("create", "events"))
	assert.Equal(t, testenv.AuditCounts{
		key("patch", "trafficsplits"):    4, // 20, 40, 60, then all traffic to the primary
		key("get", "trafficsplits"):      1, // the route adopted at the release's start
		key("update", "canaries/status"): 6, // new revision, three steps, Promoting, Succeeded
		key("patch", "deployments"):      2, // canary scaled up, then down
		key("update", "deployments"):     1, // the canary's spec copied to the primary
		key("update", "leases"):          1, // the analysis' start (canarykit's own status)
	}, counts)
	for _, e := range calls {
		assert.Less(t, e.Code, 300, "%s %s/%s answered %d", e.Verb, e.Resource, e.Subresource, e.Code)
	}

	stop()
	require.NoError(t, <-started)
}
