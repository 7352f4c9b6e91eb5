package driver

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A target Deployment has one Canary. A second Canary of it is refused while the first one's
// Target runs (ErrTargetTaken, naming the first) and handed to Requeue once that Target has
// stopped. And whatever the order of Apply (a controller restarted, its informer's order), the
// Canary the target's objects were made for keeps the target: a Target those objects refuse
// gives way to it, and both keys are requeued.
func TestTargetsGiveATargetToOneCanary(t *testing.T) {
	b, ctx, _ := newControlBed(t)
	c := b.target(ctx, t, "podinfo")
	first, second := *c, *c
	first.Name, first.Target.Canary = "first", "first"
	second.Name, second.Target.Canary = "second", "second"
	k1, k2 := b.ns+"/first", b.ns+"/second"
	requeued := make(chan string, 16)
	recv := func(want string) {
		t.Helper()
		select {
		case k := <-requeued:
			require.Equal(t, want, k)
		case <-time.After(2 * time.Minute): // a guard against a hang, not a timing claim
			require.Fail(t, "no requeue of "+want)
		}
	}

	ts := b.d.Targets(nil)
	ts.Requeue = func(key string) { requeued <- key }
	b.drive(ctx, t, ts, k1, &first)
	_, _, err := ts.Apply(ctx, k2, &second)
	require.ErrorIs(t, err, ErrTargetTaken)
	assert.ErrorContains(t, err, "spec.targetRef: the target Deployment has another Canary: Deployment "+b.ns+"/podinfo is the target of "+k1)
	assert.Equal(t, []string{k1}, ts.Keys(), "nothing runs for the second Canary")
	ts.Stop(k1)
	recv(k2)
	ts.StopAll()

	// a new set of Targets (a restarted controller) given the second Canary first
	ts = b.d.Targets(nil)
	defer ts.StopAll()
	ts.Requeue = func(key string) { requeued <- key }
	_, _, err = ts.Apply(ctx, k2, &second)
	require.NoError(t, err, "nothing runs for the target yet")
	if _, _, err = ts.Apply(ctx, k1, &first); err != nil {
		require.ErrorIs(t, err, ErrTargetTaken, "the second Canary's Target was not refused yet")
		recv(k1) // once the objects made for the first Canary refuse the second's Target
		_, _, err = ts.Apply(ctx, k1, &first)
		require.NoError(t, err)
	}
	assert.Equal(t, []string{k1}, ts.Keys(), "the second Canary's Target gave way")
	recv(k2) // once it has stopped
	_, _, err = ts.Apply(ctx, k2, &second)
	require.ErrorIs(t, err, ErrTargetTaken)
	assert.ErrorContains(t, err, "is the target of "+k1)

	b.setImage(ctx, t, "podinfo", "podinfo:2")
	poll(ctx, t, "the first Canary releases the new revision", func() bool {
		return b.status(ctx, t, c.Target).Phase == canary.PhaseSucceeded
	})
	p, err := b.env.Client().AppsV1().Deployments(b.ns).Get(ctx, "podinfo-primary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "first", p.Annotations[kube.AnnotationCanary])
	assert.Equal(t, "podinfo:2", p.Spec.Template.Spec.Containers[0].Image)
}

// A Target holds its namespace's caches and watches while it runs and lets them go when it
// stops: before, every namespace that ever had a target kept its informers' watches until
// Driver.Close, so a controller whose targets' namespaces come and go (preview environments)
// held more of them with each. Driven again, the namespace's caches start again.
func TestStoppedTargetsReleaseTheirNamespacesWatches(t *testing.T) {
	b, ctx, _ := newControlBed(t)
	c := b.target(ctx, t, "podinfo")
	from := b.env.AuditMark(t)
	ts := b.d.Targets(nil)
	defer ts.StopAll()
	key := b.ns + "/podinfo"
	b.drive(ctx, t, ts, key, c)
	assert.Equal(t, []string{b.ns}, b.d.cluster.Namespaces())
	watched := map[string]bool{}
	for _, w := range b.env.AuditSince(t, from).ForUser(b.user).Watches() {
		if w.Namespace == b.ns {
			watched[w.Resource] = true
		}
	}
	for _, r := range []string{"deployments", "services", "configmaps", "secrets", "leases"} {
		assert.True(t, watched[r], "the namespace's %s are watched while the Target runs", r)
	}

	ts.Stop(key)
	poll(ctx, t, "the namespace released", func() bool { return len(b.d.cluster.Namespaces()) == 0 })
	var open []string
	poll(ctx, t, "every watch of the namespace ended", func() bool {
		open = nil
		for _, w := range b.env.AuditSince(t, from).ForUser(b.user).Watches() {
			if w.Namespace == b.ns && !w.Complete {
				open = append(open, w.Resource)
			}
		}
		return len(open) == 0
	})

	_, _, err := ts.Apply(ctx, key, c)
	require.NoError(t, err)
	b.setImage(ctx, t, "podinfo", "podinfo:2")
	poll(ctx, t, "the new revision released by the Target driven again", func() bool {
		return b.status(ctx, t, c.Target).Phase == canary.PhaseSucceeded
	})
	assert.Equal(t, []string{b.ns}, b.d.cluster.Namespaces())
}

// The retirement of a Canary refused for another Canary's target (kube.CanaryConflictError)
// returns at once, touching nothing: before, it waited for the target's lease, which the first
// Canary's Target holds for as long as it runs, so the refused Canary's deletion (with
// spec.revertOnDeletion's finalizer) stayed Terminating until the first Canary went too.
func TestRetireOfARefusedCanaryDoesNotWaitForTheLease(t *testing.T) {
	b, ctx, _ := newControlBed(t)
	c := b.target(ctx, t, "podinfo")
	first, second := *c, *c
	first.Name, first.Target.Canary = "first", "first"
	second.Name, second.Target.Canary = "second", "second"
	ts := b.d.Targets(nil)
	defer ts.StopAll()
	b.drive(ctx, t, ts, b.ns+"/first", &first)

	rctx, cancel := context.WithTimeout(ctx, time.Minute) // a guard against the old wait, not a timing claim
	defer cancel()
	require.NoError(t, b.d.Retire(rctx, &second, Retirement{Revert: true}))
	p, err := b.env.Client().AppsV1().Deployments(b.ns).Get(ctx, "podinfo-primary", metav1.GetOptions{})
	require.NoError(t, err, "the first Canary's primary is kept")
	assert.Equal(t, "first", p.Annotations[kube.AnnotationCanary])
	assert.Equal(t, canary.PhaseInitialized, b.status(ctx, t, c.Target).Phase)
	assert.Equal(t, []string{b.ns + "/first"}, ts.Keys())
}

// A retirement waiting for the target's lease asks Retirement.Due again every recheck and
// gives up once it says false: before, Due was asked before the lease and once it was held
// only, so a retirement whose target another driver took meanwhile (a Canary that waited for
// the target) waited out that driver's whole hold.
func TestRetireWaitingForTheLeaseStopsWhenNoLongerDue(t *testing.T) {
	b, ctx, _ := newControlBed(t)
	c := b.target(ctx, t, "podinfo")
	ts := b.d.Targets(nil)
	defer ts.StopAll()
	b.drive(ctx, t, ts, b.ns+"/podinfo", c)

	var asked atomic.Int32
	// due before the lease and at the first ask while waiting for it, then no longer
	due := func(context.Context) (bool, error) { return asked.Add(1) <= 2, nil }
	rctx, cancel := context.WithTimeout(ctx, time.Minute) // a guard against the old wait, not a timing claim
	defer cancel()
	require.NoError(t, b.d.Retire(rctx, c, Retirement{Revert: true, Due: due}))
	assert.GreaterOrEqual(t, asked.Load(), int32(3), "asked again while waiting")
	_, err := b.env.Client().AppsV1().Deployments(b.ns).Get(ctx, "podinfo-primary", metav1.GetOptions{})
	require.NoError(t, err, "nothing retired")
	assert.Equal(t, canary.PhaseInitialized, b.status(ctx, t, c.Target).Phase)
}

// drive applies c to ts under key and waits until its target is initialized.
func (b *controlBed) drive(ctx context.Context, t *testing.T, ts *Targets, key string, c *flagger.Canary) {
	t.Helper()
	_, _, err := ts.Apply(ctx, key, c)
	require.NoError(t, err)
	poll(ctx, t, "initialized", func() bool { return b.status(ctx, t, c.Target).Phase == canary.PhaseInitialized })
}
