package kube_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

func leaseAt(name, holder string, renew time.Time, seconds int32, labels, annotations map[string]string) *coordinationv1.Lease {
	return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: annotations},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(holder), RenewTime: ptr.To(metav1.NewMicroTime(renew)),
			LeaseDurationSeconds: ptr.To(seconds)}}
}

// A vouched claim lasts while the holder lease its annotations name carries the same claim
// token, is held and has not expired, whatever the target lease declares; anything else about
// the annotations (they are untrusted) falls back to the target lease's own time, and names
// nothing that is read.
func TestClaimUntil(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	const token = "0123456789abcdef"
	holderLabels := map[string]string{kube.LabelHolder: "true"}
	holderAnn := map[string]string{kube.AnnotationHolderClaim: token}
	vouched := map[string]string{kube.AnnotationHolder: "canarykit-holder-ab12", kube.AnnotationHolderClaim: token}
	with := func(name, tok string) map[string]string {
		return map[string]string{kube.AnnotationHolder: name, kube.AnnotationHolderClaim: tok}
	}
	own := now.Add(50 * time.Minute) // the hour a vouched target lease declares: not used
	target := func(annotations map[string]string) *coordinationv1.Lease {
		return leaseAt("podinfo-canarykit", "one", now.Add(-10*time.Minute), 3600, nil, annotations)
	}
	live := leaseAt("canarykit-holder-ab12", "process", now, 120, holderLabels, holderAnn)
	for _, tc := range []struct {
		name    string
		target  *coordinationv1.Lease
		holder  *coordinationv1.Lease // what the getter returns; nil: not found
		getErr  error
		want    time.Time
		wantErr string
		reads   int
	}{
		{name: "vouched", target: target(vouched), holder: live, want: now.Add(2 * time.Minute), reads: 1},
		{name: "holder lease expired", target: target(vouched), holder: leaseAt("canarykit-holder-ab12", "process", now.Add(-3*time.Minute), 120, holderLabels, holderAnn),
			want: now.Add(-time.Minute), reads: 1},
		{name: "holder lease claimed again: another token", target: target(vouched),
			holder: leaseAt("canarykit-holder-ab12", "process", now, 120, holderLabels, map[string]string{kube.AnnotationHolderClaim: "fedcba9876543210"}), reads: 1},
		{name: "holder lease given up", target: target(vouched), holder: leaseAt("canarykit-holder-ab12", "", now, 120, holderLabels, holderAnn), reads: 1},
		{name: "not a holder lease", target: target(vouched), holder: leaseAt("canarykit-holder-ab12", "process", now, 120, nil, holderAnn), reads: 1},
		{name: "holder lease gone", target: target(vouched), reads: 1},
		{name: "read fails", target: target(vouched), getErr: errors.New("connection refused"), wantErr: "connection refused", reads: 1},
		{name: "no vouch: its own time", target: target(nil), want: own},
		{name: "taken by an older driver: its own duration", target: leaseAt("t", "old", now, 120, nil, vouched), want: now.Add(2 * time.Minute)},
		{name: "free target lease", target: leaseAt("t", "", now, 120, nil, vouched), want: now.Add(2 * time.Minute)},
		{name: "token missing", target: target(with("canarykit-holder-ab12", "")), want: own},
		{name: "token not hex", target: target(with("canarykit-holder-ab12", "0123456789abcdeg")), want: own},
		{name: "token too long", target: target(with("canarykit-holder-ab12", token+"00")), want: own},
		{name: "name without the prefix", target: target(with("kube-controller-manager", token)), want: own},
		{name: "name with a path", target: target(with("canarykit-holder-x/../y", token)), want: own},
		{name: "name with a dot", target: target(with("canarykit-holder-a.b", token)), want: own},
		{name: "name too long", target: target(with("canarykit-holder-"+strings.Repeat("a", 60), token)), want: own},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reads := 0
			get := func(_ context.Context, name string, _ metav1.GetOptions) (*coordinationv1.Lease, error) {
				reads++
				assert.Equal(t, tc.target.Annotations[kube.AnnotationHolder], name)
				if tc.getErr != nil {
					return nil, tc.getErr
				}
				if tc.holder == nil {
					return nil, apierrors.NewNotFound(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, name)
				}
				return tc.holder, nil
			}
			got, err := kube.ClaimUntil(context.Background(), get, tc.target)
			assert.Equal(t, tc.reads, reads, "holder lease reads")
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.True(t, tc.want.Equal(got), "want %s, got %s", tc.want, got)
		})
	}
}

// A vouched claim whose release fails is given up again until that succeeds, and its holder
// lease is kept (renewed) until then: neither stays vouched for while the process lives.
func TestFailedReleaseOfAVouchedClaimIsRetried(t *testing.T) {
	client := fake.NewClientset()
	failures := failReleases(client, 3)
	const d = 8 * time.Second // retries every second
	hs, l := vouchedFake(t, client, d, nil)
	require.NoError(t, l.Hold(context.Background(), func(context.Context) error { return nil }))

	leases := client.CoordinationV1().Leases("ns")
	cur, err := leases.Get(context.Background(), "podinfo-canarykit", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "one", ptr.Deref(cur.Spec.HolderIdentity, ""), "the first release failed")
	name := cur.Annotations[kube.AnnotationHolder]
	require.NotEmpty(t, name)
	assert.Equal(t, map[string]string{"ns": name}, hs.Namespaces(), "the holder lease is kept meanwhile")

	for end := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		cur, err = leases.Get(context.Background(), "podinfo-canarykit", metav1.GetOptions{})
		require.NoError(t, err)
		if cur.Spec.HolderIdentity == nil {
			break
		}
		require.False(t, time.Now().After(end), "the release is not retried")
	}
	assert.NotContains(t, cur.Annotations, kube.AnnotationHolder)
	assert.LessOrEqual(t, failures.Load(), int32(-1), "three failures, then the release")
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		h, err := leases.Get(context.Background(), name, metav1.GetOptions{})
		require.NoError(t, err)
		if h.Spec.HolderIdentity == nil {
			break
		}
		require.False(t, time.Now().After(end), "the holder lease is not given up after the release")
	}
}

// failReleases makes the first n releases of the target lease (updates without a holder)
// fail with a server error.
func failReleases(client *fake.Clientset, n int32) *atomic.Int32 {
	var failures atomic.Int32
	failures.Store(n)
	client.PrependReactor("update", "leases", func(a k8stesting.Action) (bool, runtime.Object, error) {
		l := a.(k8stesting.UpdateAction).GetObject().(*coordinationv1.Lease)
		if l.Name == "podinfo-canarykit" && l.Spec.HolderIdentity == nil && failures.Add(-1) >= 0 {
			return true, nil, apierrors.NewInternalError(errors.New("etcd timeout"))
		}
		return false, nil, nil
	})
	return &failures
}

// A Lease whose vouched claim is still being given up takes no new claim meanwhile (Target
// holds the same Lease again after a failed release): the background give-up would free it.
func TestLeaseBeingGivenUpTakesNoNewClaim(t *testing.T) {
	client := fake.NewClientset()
	failReleases(client, 2)
	const d = 8 * time.Second
	_, l := vouchedFake(t, client, d, nil)
	require.NoError(t, l.Hold(context.Background(), func(context.Context) error { return nil }))
	var held *kube.HeldError
	require.ErrorAs(t, l.Acquire(context.Background()), &held)
	assert.Contains(t, held.Holder, "being released")
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		err := l.Acquire(context.Background())
		if err == nil {
			break
		}
		require.ErrorIs(t, err, kube.ErrLeaseHeld)
		require.False(t, time.Now().After(end), "the give-up never ended")
	}
	cur, err := client.CoordinationV1().Leases("ns").Get(context.Background(), "podinfo-canarykit", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "one", ptr.Deref(cur.Spec.HolderIdentity, ""), "the new claim stands")
	require.NoError(t, l.Release(context.Background()))
}

// A holder lease renewed only after it expired (the process froze, or the request took longer
// than the claim) is lost, not renewed: other drivers may have taken its targets meanwhile
// without touching it. The leases it vouched for renew themselves, which finds any takeover,
// and the holder lease is left to expire.
func TestHolderLeaseRenewedTooLateIsLost(t *testing.T) {
	const d = 8 * time.Second
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	client := fake.NewClientset()
	var slow atomic.Bool
	var late atomic.Int32
	client.PrependReactor("update", "leases", func(a k8stesting.Action) (bool, runtime.Object, error) {
		l := a.(k8stesting.UpdateAction).GetObject().(*coordinationv1.Lease)
		if strings.HasPrefix(l.Name, "canarykit-holder-") && slow.Load() && late.Add(1) == 1 {
			clk.Step(2 * d) // the renewal reaches the server after the claim expired
		}
		return false, nil, nil
	})
	hs, l := vouchedFake(t, client, d, clk)
	ctx, cancel, done := holdInBackground(l)
	leases := client.CoordinationV1().Leases("ns")
	cur, err := leases.Get(ctx, "podinfo-canarykit", metav1.GetOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, cur.Annotations[kube.AnnotationHolder], "vouched")
	slow.Store(true)
	for end := time.Now().Add(30 * time.Second); late.Load() == 0; time.Sleep(10 * time.Millisecond) {
		clk.Step(d / 8) // up to the holder lease's renewal
		require.False(t, time.Now().After(end), "no renewal of the holder lease")
	}
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		cur, err = leases.Get(ctx, "podinfo-canarykit", metav1.GetOptions{})
		require.NoError(t, err)
		if _, vouched := cur.Annotations[kube.AnnotationHolder]; !vouched {
			break
		}
		require.False(t, time.Now().After(end), "the lease still counts on the holder lease renewed too late")
	}
	assert.Equal(t, "one", ptr.Deref(cur.Spec.HolderIdentity, ""), "nobody took it: it renewed itself")
	assert.Equal(t, int32(8), ptr.Deref(cur.Spec.LeaseDurationSeconds, 0))
	assert.Empty(t, hs.Namespaces(), "the holder lease counts as lost")
	cancel()
	require.NoError(t, <-done) // the last member left: the holder lease's work is over
	list, err := leases.List(context.Background(), metav1.ListOptions{LabelSelector: kube.LabelHolder + "=true"})
	require.NoError(t, err)
	require.Len(t, list.Items, 1)
	hl := list.Items[0]
	// not given up: a release would free, before they wrote their own claims, targets the late
	// renewal still vouches for; it expires on its own
	assert.Equal(t, "process", ptr.Deref(hl.Spec.HolderIdentity, ""))
	assert.NotEmpty(t, hl.Annotations[kube.AnnotationHolderClaim])
}

// When its holder lease is lost, a lease that cannot renew itself at once counts as lost:
// other drivers may already see it free (from the holder lease's expiry on), whatever its own
// last write.
func TestLeaseThatCannotRenewItselfAfterItsHolderIsLost(t *testing.T) {
	const d = 8 * time.Second
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	client := fake.NewClientset()
	var down atomic.Bool
	client.PrependReactor("update", "leases", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if down.Load() && a.(k8stesting.UpdateAction).GetObject().(*coordinationv1.Lease).Name == "podinfo-canarykit" {
			return true, nil, apierrors.NewServiceUnavailable("etcd leader changed")
		}
		return false, nil, nil
	})
	_, l := vouchedFake(t, client, d, clk)
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- l.Hold(context.Background(), func(ctx context.Context) error { close(started); <-ctx.Done(); return ctx.Err() })
	}()
	<-started
	acquired := clk.Now()
	cur, err := client.CoordinationV1().Leases("ns").Get(context.Background(), "podinfo-canarykit", metav1.GetOptions{})
	require.NoError(t, err)
	down.Store(true)
	require.NoError(t, client.CoordinationV1().Leases("ns").Delete(context.Background(), cur.Annotations[kube.AnnotationHolder], metav1.DeleteOptions{}))
	clk.SetTime(acquired.Add(d / 2)) // the holder lease's renewal finds it deleted; the clock stays here
	herr := returned(t, done, "the lease goes on without its holder lease or a renewal of its own")
	require.ErrorIs(t, herr, kube.ErrLeaseLost)
}

// An acquiring write that failed but was made (a timeout after the server applied it) does not
// leave a claim vouched for while the process lives: it is read back and given up.
func TestAmbiguousAcquireIsGivenUp(t *testing.T) {
	client := fake.NewClientset()
	var once atomic.Bool
	client.PrependReactor("create", "leases", func(a k8stesting.Action) (bool, runtime.Object, error) {
		l := a.(k8stesting.CreateAction).GetObject().(*coordinationv1.Lease)
		if l.Name != "podinfo-canarykit" || !once.CompareAndSwap(false, true) {
			return false, nil, nil
		}
		gvr := coordinationv1.SchemeGroupVersion.WithResource("leases")
		if err := client.Tracker().Create(gvr, l, "ns"); err != nil {
			return true, nil, err
		}
		return true, nil, context.DeadlineExceeded // made, but the answer was lost
	})
	const d = 8 * time.Second
	_, l := vouchedFake(t, client, d, nil)
	require.ErrorIs(t, l.Hold(context.Background(), func(context.Context) error { return nil }), context.DeadlineExceeded)
	leases := client.CoordinationV1().Leases("ns")
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		cur, err := leases.Get(context.Background(), "podinfo-canarykit", metav1.GetOptions{})
		require.NoError(t, err)
		if cur.Spec.HolderIdentity == nil {
			assert.NotContains(t, cur.Annotations, kube.AnnotationHolder)
			break
		}
		require.False(t, time.Now().After(end), "the claim made by the failed write stays")
	}
	eventually(t, func() bool { // the last member left: the holder lease is given up on the server
		list, err := leases.List(context.Background(), metav1.ListOptions{LabelSelector: kube.LabelHolder + "=true"})
		require.NoError(t, err)
		require.Len(t, list.Items, 1)
		return list.Items[0].Spec.HolderIdentity == nil && list.Items[0].Annotations[kube.AnnotationHolderClaim] == ""
	}, "the holder lease is kept")
}

// A status save that finds the lease deleted ends the hold: fn's context is cancelled with
// ErrLeaseLost (the renewals used to spin on a lease no longer held, and fn went on).
// The fake clock never moves, so only the save's nudge can end it.
func TestSaveThatFindsTheLeaseGoneEndsTheHold(t *testing.T) {
	client := fake.NewClientset()
	target := canary.Target{Namespace: "ns", Name: "podinfo"}
	clk := clocktesting.NewFakeClock(time.Now())
	l, err := kube.NewLease(kube.LeaseOptions{Client: client, Target: target, Identity: "one", Duration: 8 * time.Second, Clock: clk})
	require.NoError(t, err)
	err = l.Hold(context.Background(), func(ctx context.Context) error {
		for !clk.HasWaiters() { // the renewals wait for their next turn
			time.Sleep(time.Millisecond)
		}
		if err := client.CoordinationV1().Leases("ns").Delete(ctx, l.Name(), metav1.DeleteOptions{}); err != nil {
			return err
		}
		if _, err := l.Save(ctx, target, canary.Status{Phase: canary.PhaseProgressing}); !errors.Is(err, kube.ErrLeaseLost) {
			return fmt.Errorf("save: want ErrLeaseLost, got %v", err)
		}
		<-ctx.Done() // the hold ends at once, not at the next renewal
		return nil
	})
	require.ErrorIs(t, err, kube.ErrLeaseLost)
}

// A holder lease whose renewals fail counts as lost at three quarters of its duration, while
// it still stands for the others: its targets write their own claims before anyone may take
// them, so a contender never finds one free.
func TestOverdueHolderLeaseLetsItsTargetsClaimThemselvesInTime(t *testing.T) {
	const d = 8 * time.Second
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(t0)
	client := fake.NewClientset()
	down, failed := failingUpdates(client, func(name string) bool { return strings.HasPrefix(name, "canarykit-holder-") })
	target := canary.Target{Namespace: "ns", Name: "podinfo"}
	_, l := vouchedFake(t, client, d, clk)
	ctx, cancel, done := holdInBackground(l)
	leases := client.CoordinationV1().Leases("ns")
	down.Store(true)
	clk.SetTime(t0.Add(d / 2)) // the holder lease's renewal is due, and fails
	eventually(t, func() bool { return failed.Load() > 0 }, "no renewal of the holder lease")
	var cur *coordinationv1.Lease
	var getErr error
	// from its renewal deadline on, the clock short of the holder lease's expiry
	advanceUntil(t, clk, t0.Add(d*3/4), t0.Add(d-time.Millisecond), func() bool {
		cur, getErr = leases.Get(ctx, l.Name(), metav1.GetOptions{})
		return getErr != nil || cur.Annotations[kube.AnnotationHolder] == ""
	}, "the target lease still counts on its overdue holder lease")
	require.NoError(t, getErr)
	assert.Equal(t, "one", ptr.Deref(cur.Spec.HolderIdentity, ""))
	renewed := cur.Spec.RenewTime.Time
	assert.False(t, renewed.Before(t0.Add(d*3/4)), "written at the holder lease's renewal deadline (%s) or after: %s", t0.Add(d*3/4), renewed)
	assert.True(t, renewed.Before(t0.Add(d)), "written while the holder lease still stood (until %s): %s", t0.Add(d), renewed)

	clk.SetTime(t0.Add(d + time.Millisecond)) // the holder lease has expired
	other, err := kube.NewLease(kube.LeaseOptions{Client: client, Target: target, Identity: "two", Duration: d, Clock: clk})
	require.NoError(t, err)
	require.ErrorIs(t, other.Acquire(context.Background()), kube.ErrLeaseHeld, "the target is held by its own claim now")
	cancel()
	require.NoError(t, <-done)
}

// A claim with no successful renewal within three quarters of its duration is lost, and fn's
// context is cancelled, before anyone else may take the target.
func TestClaimNotRenewedByItsDeadlineIsLost(t *testing.T) {
	const d = 8 * time.Second
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(t0)
	client := fake.NewClientset()
	down, failed := failingUpdates(client, func(string) bool { return true })
	l, err := kube.NewLease(kube.LeaseOptions{Client: client, Target: canary.Target{Namespace: "ns", Name: "podinfo"},
		Identity: "one", Duration: d, Clock: clk})
	require.NoError(t, err)
	_, _, done := holdInBackground(l)
	down.Store(true)
	clk.SetTime(t0.Add(d / 2))
	eventually(t, func() bool { return failed.Load() > 0 }, "no renewal")
	var herr error
	// from the renewal deadline on, the clock short of the claim's expiry
	advanceUntil(t, clk, t0.Add(d*3/4), t0.Add(d-time.Millisecond), func() bool {
		select {
		case herr = <-done:
			return true
		default:
			return false
		}
	}, "the hold goes on past its renewal deadline")
	require.ErrorIs(t, herr, kube.ErrLeaseLost)
	assert.ErrorContains(t, herr, "etcd leader changed", "the last failure is said")
}

// A save of fn's that finds the lease gone makes Hold return ErrLeaseLost even when fn
// returns at once, before the renewals have ended the hold.
func TestHoldSaysLostWhenFnReturnsAtOnce(t *testing.T) {
	client := fake.NewClientset()
	target := canary.Target{Namespace: "ns", Name: "podinfo"}
	clk := clocktesting.NewFakeClock(time.Now())
	l, err := kube.NewLease(kube.LeaseOptions{Client: client, Target: target, Identity: "one", Duration: 8 * time.Second, Clock: clk})
	require.NoError(t, err)
	for range 20 {
		err = l.Hold(context.Background(), func(ctx context.Context) error {
			if err := client.CoordinationV1().Leases("ns").Delete(ctx, l.Name(), metav1.DeleteOptions{}); err != nil {
				return err
			}
			_, _ = l.Save(ctx, target, canary.Status{Phase: canary.PhaseProgressing})
			return nil
		})
		require.ErrorIs(t, err, kube.ErrLeaseLost)
	}
}

// A claim's duration is whole seconds (a Lease declares seconds: a fraction would be a claim
// shorter for the others than for its holder) and below the vouched claim's hour.
func TestLeaseDurationIsWholeSeconds(t *testing.T) {
	client := fake.NewClientset()
	target := canary.Target{Namespace: "ns", Name: "podinfo"}
	for _, d := range []time.Duration{1500 * time.Millisecond, 500 * time.Millisecond, -time.Second, time.Hour, 2 * time.Hour} {
		_, err := kube.NewLease(kube.LeaseOptions{Client: client, Target: target, Duration: d})
		require.ErrorContains(t, err, "LeaseOptions.Duration "+d.String(), d)
		_, err = kube.NewHolders(kube.HoldersOptions{Client: client, Duration: d})
		require.ErrorContains(t, err, "HoldersOptions.Duration "+d.String(), d)
	}
	for _, d := range []time.Duration{0, time.Second, 15 * time.Second, time.Hour - time.Second} {
		_, err := kube.NewLease(kube.LeaseOptions{Client: client, Target: target, Duration: d})
		require.NoError(t, err, d)
	}
}

// A panic in fn ends the renewals and gives the claim up (and its holder lease) before it
// goes on.
func TestPanicInHeldFnGivesTheClaimUp(t *testing.T) {
	client := fake.NewClientset()
	hs, l := vouchedFake(t, client, 8*time.Second, nil)
	var held context.Context
	recovered := func() (p any) {
		defer func() { p = recover() }()
		_ = l.Hold(context.Background(), func(ctx context.Context) error { held = ctx; panic("boom") })
		return nil
	}()
	require.Equal(t, "boom", recovered)
	require.Error(t, held.Err(), "the renewals ended")
	cur, err := client.CoordinationV1().Leases("ns").Get(context.Background(), l.Name(), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Nil(t, cur.Spec.HolderIdentity, "the claim is given up")
	assert.Empty(t, hs.Namespaces(), "no holder lease is kept for it")
}

// parkedHold holds a vouched lease on fakes from t0 (its holder lease renewed every 25
// minutes, so the fake clock may move half of VouchedLeaseDuration at once) until cancel, and
// returns once the lease's renewals have parked; done receives what Hold returned.
func parkedHold(t *testing.T) (t0 time.Time, clk *clocktesting.FakeClock, client *fake.Clientset, l *kube.Lease,
	ctx context.Context, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clk = clocktesting.NewFakeClock(t0)
	client = fake.NewClientset()
	_, l = vouchedFake(t, client, 50*time.Minute, clk)
	ctx, cancel, done = holdInBackground(l)
	eventually(t, func() bool { return kube.Parked(l) }, "a vouched claim with nothing to do waits in a goroutine")
	return t0, clk, client, l, ctx, cancel, done
}

// A vouched claim with nothing to do parks its renewals: no goroutine waits for them, and the
// wake-ups they would have waited for resume them. The renewal due every half of
// VouchedLeaseDuration is written, and the loop parks again; the end of the hold ends it.
func TestIdleVouchedClaimParksItsRenewals(t *testing.T) {
	t0, clk, client, l, _, cancel, done := parkedHold(t)

	renewals := func() int {
		n := 0
		for _, a := range client.Actions() {
			if u, ok := a.(k8stesting.UpdateAction); ok && u.GetObject().(*coordinationv1.Lease).Name == l.Name() {
				n++
			}
		}
		return n
	}
	before := renewals()
	clk.Step(kube.VouchedLeaseDuration / 2)
	eventually(t, func() bool { return renewals() == before+1 }, "the vouched renewal was not written")
	eventually(t, func() bool { return kube.Parked(l) }, "the renewals did not park again")
	cur, err := client.CoordinationV1().Leases("ns").Get(context.Background(), l.Name(), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, t0.Add(kube.VouchedLeaseDuration/2), cur.Spec.RenewTime.Time)
	assert.NotEmpty(t, cur.Annotations[kube.AnnotationHolder], "still vouched for")

	cancel()
	require.NoError(t, returned(t, done, "a parked hold did not end with its context"))
	assert.False(t, kube.Parked(l))
}

// A parked renewal woken when there is nothing to do parks again: a status save moved the
// renewal time on, so the wake-up set for the old one finds the next renewal still ahead (it
// used to wait for it in a goroutine, half an hour).
func TestParkedRenewalsWokenEarlyParkAgain(t *testing.T) {
	t0, clk, client, l, ctx, cancel, done := parkedHold(t)
	clk.Step(10 * time.Minute)
	_, err := l.Save(ctx, canary.Target{Namespace: "ns", Name: "podinfo"}, canary.Status{Phase: canary.PhaseProgressing})
	require.NoError(t, err)
	clk.Step(20 * time.Minute) // the wake-up set for t0+30m; the next renewal is due at t0+40m
	eventually(t, func() bool { return kube.Parked(l) && clk.HasWaiters() }, "woken early, the renewals wait in a goroutine")
	cur, err := client.CoordinationV1().Leases("ns").Get(ctx, l.Name(), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, t0.Add(10*time.Minute), cur.Spec.RenewTime.Time, "no renewal before it is due")
	cancel()
	require.NoError(t, returned(t, done, "the hold did not end"))
}

// A save that finds the claim taken while the renewals are parked nudges them, and they end
// the hold at once with ErrLeaseLost (not at the next renewal, half an hour later).
func TestParkedRenewalsEndTheHoldWhenASaveFindsTheClaimLost(t *testing.T) {
	_, _, client, l, ctx, cancel, done := parkedHold(t)
	defer cancel()
	leases := client.CoordinationV1().Leases("ns")
	cur, err := leases.Get(ctx, l.Name(), metav1.GetOptions{})
	require.NoError(t, err)
	cur.Spec.HolderIdentity = ptr.To("another-driver")
	_, err = leases.Update(ctx, cur, metav1.UpdateOptions{})
	require.NoError(t, err)
	// the API server refuses a write at the resourceVersion the driver last saw (the fake
	// clientset does not compare versions)
	client.PrependReactor("update", "leases", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if u := a.(k8stesting.UpdateAction).GetObject().(*coordinationv1.Lease); u.Name == l.Name() {
			return true, nil, apierrors.NewConflict(coordinationv1.Resource("leases"), u.Name, errors.New("the object has been modified"))
		}
		return false, nil, nil
	})
	_, err = l.Save(ctx, canary.Target{Namespace: "ns", Name: "podinfo"}, canary.Status{Phase: canary.PhaseProgressing})
	require.ErrorIs(t, err, kube.ErrLeaseLost)
	require.ErrorIs(t, returned(t, done, "a parked hold went on after its claim was found lost"), kube.ErrLeaseLost)
}
