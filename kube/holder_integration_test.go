package kube_test

import (
	"context"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

// holderDuration is the holder and target leases' duration in these tests.
const holderDuration = 2 * time.Second

func (b *bed) get(t *testing.T, name string) *coordinationv1.Lease {
	t.Helper()
	obj, err := b.admin.CoordinationV1().Leases(b.ns).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return obj
}

func (b *bed) holders(t *testing.T, identity string) *kube.Holders {
	t.Helper()
	hs, err := kube.NewHolders(kube.HoldersOptions{Client: b.client, Identity: identity, Duration: holderDuration})
	require.NoError(t, err)
	return hs
}

func (b *bed) lease(t *testing.T, identity string, hs *kube.Holders, target canary.Target) *kube.Lease {
	t.Helper()
	l, err := kube.NewLease(kube.LeaseOptions{Client: b.client, Target: target, Identity: identity, Holders: hs, Duration: holderDuration})
	require.NoError(t, err)
	return l
}

// holding is a Hold running in the background until stopped.
type holding struct {
	started chan context.Context // fn's context, once fn runs
	ctx     context.Context      // fn's context, once wait returned
	stop    context.CancelFunc
	done    chan error
}

// vouched is the bed's target lease of identity "one" with Holders of identity "process-one".
func (b *bed) vouched(t *testing.T) (*kube.Holders, *kube.Lease) {
	t.Helper()
	hs := b.holders(t, "process-one")
	return hs, b.lease(t, "one", hs, b.target)
}

// holding is vouched, held in the background until the test ends it.
func (b *bed) holding(t *testing.T) (*kube.Holders, *kube.Lease, *holding) {
	t.Helper()
	hs, l := b.vouched(t)
	h := hold(l)
	h.wait(t)
	return hs, l, h
}

func hold(l *kube.Lease) *holding {
	ctx, cancel := context.WithCancel(context.Background())
	h := &holding{started: make(chan context.Context, 1), stop: cancel, done: make(chan error, 1)}
	go func() {
		h.done <- l.Hold(ctx, func(ctx context.Context) error {
			h.started <- ctx
			<-ctx.Done()
			return nil
		})
	}()
	return h
}

// wait waits for fn to start, or fails if Hold returns first.
func (h *holding) wait(t *testing.T) context.Context {
	t.Helper()
	select {
	case ctx := <-h.started:
		h.ctx = ctx
		return ctx
	case err := <-h.done:
		require.FailNow(t, "Hold returned before fn ran", "%v", err)
		return nil
	}
}

func (h *holding) end(t *testing.T) {
	t.Helper()
	h.stop()
	require.NoError(t, <-h.done)
}

// waitPast waits until the real clock is past when, a lease time.
func waitPast(when time.Time) {
	time.Sleep(time.Until(when) + 200*time.Millisecond)
}

func expiryOf(l *coordinationv1.Lease) time.Time {
	return l.Spec.RenewTime.Add(time.Duration(ptr.Deref(l.Spec.LeaseDurationSeconds, 0)) * time.Second)
}

// eventually polls cond every 50 ms until it holds, for at most 30 s.
func eventually(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			require.FailNow(t, msg)
		}
	}
}

// A lease held with Holders is not renewed at all: the holder lease it names is, every half
// of its duration, and keeps the target from any other driver past the target lease's own
// renewal time plus duration. Releasing frees both at once.
func TestHeldLeaseIsVouchedForByItsHolderLease(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	hs, l, h := b.holding(t)

	target := b.get(t, l.Name())
	name := target.Annotations[kube.AnnotationHolder]
	require.Equal(t, map[string]string{b.ns: name}, hs.Namespaces(), "the annotation names the namespace's holder lease")
	holder := b.get(t, name)
	assert.Equal(t, "true", holder.Labels[kube.LabelHolder])
	assert.Equal(t, "process-one", ptr.Deref(holder.Spec.HolderIdentity, ""))
	assert.Equal(t, holder.Annotations[kube.AnnotationHolderClaim], target.Annotations[kube.AnnotationHolderClaim], "the claim token")
	assert.Len(t, target.Annotations[kube.AnnotationHolderClaim], 16)
	assert.Equal(t, int32(kube.VouchedLeaseDuration.Seconds()), ptr.Deref(target.Spec.LeaseDurationSeconds, 0),
		"an older driver sees the claim held for the vouched duration")

	waitPast(target.Spec.RenewTime.Add(2 * holderDuration))
	assert.Equal(t, target.ResourceVersion, b.get(t, l.Name()).ResourceVersion, "the target lease is not renewed")
	renewed := b.get(t, name)
	assert.True(t, renewed.Spec.RenewTime.After(holder.Spec.RenewTime.Time), "the holder lease is renewed")

	two := b.lease(t, "two", nil, b.target)
	err := two.Acquire(ctx)
	var held *kube.HeldError
	require.ErrorAs(t, err, &held, "vouched for past twice its duration")
	assert.Equal(t, "one", held.Holder)
	assert.True(t, held.Until.Before(time.Now().Add(holderDuration+time.Second)), "held until the holder lease's expiry, not the hour declared: %s", held.Until)
	who, until, err := two.Holder(ctx)
	require.NoError(t, err)
	assert.Equal(t, "one", who)
	assert.True(t, until.After(time.Now()))
	require.NoError(t, kube.RequestControl(ctx, b.client, b.target, kube.ControlPause), "a vouched lease has a driver")

	h.end(t)
	freed := b.get(t, l.Name())
	assert.Empty(t, ptr.Deref(freed.Spec.HolderIdentity, ""), "released")
	assert.NotContains(t, freed.Annotations, kube.AnnotationHolder)
	assert.Contains(t, freed.Annotations[kube.AnnotationControl], "pause", "a request nobody applied stays")
	eventually(t, func() bool { return ptr.Deref(b.get(t, name).Spec.HolderIdentity, "") == "" }, "the holder lease is given up after its last member left")
	require.NoError(t, two.Acquire(ctx), "free at once")
	require.NoError(t, two.Release(ctx))
}

// One holder lease renews every target a process holds in a namespace.
func TestOneHolderLeasePerNamespace(t *testing.T) {
	b := newBed(t)
	hs := b.holders(t, "process-one")
	var hs3 []*holding
	names := map[string]bool{}
	for _, name := range []string{"a", "b", "c"} {
		l := b.lease(t, "one", hs, canary.Target{Namespace: b.ns, Name: name})
		h := hold(l)
		h.wait(t)
		hs3 = append(hs3, h)
		names[b.get(t, l.Name()).Annotations[kube.AnnotationHolder]] = true
	}
	assert.Len(t, names, 1, "one holder lease: %v", names)
	list, err := b.admin.CoordinationV1().Leases(b.ns).List(context.Background(), metav1.ListOptions{LabelSelector: kube.LabelHolder + "=true"})
	require.NoError(t, err)
	assert.Len(t, list.Items, 1)
	for _, h := range hs3 {
		h.end(t)
	}
}

// A process that stops renewing its holder lease (it died) loses its targets once the holder
// lease expires: another driver takes them though the target lease declares an hour.
func TestLapsedHolderLeaseFreesItsTargets(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	hs, l, h := b.holding(t)
	name := b.get(t, l.Name()).Annotations[kube.AnnotationHolder]
	hs.Halt()
	waitPast(expiryOf(b.get(t, name)))

	two := b.lease(t, "two", nil, b.target)
	require.NoError(t, two.Acquire(ctx), "the holder lease has expired")
	h.end(t) // its release finds the lease taken, and leaves it
	assert.Equal(t, "two", ptr.Deref(b.get(t, l.Name()).Spec.HolderIdentity, ""))
	require.NoError(t, two.Release(ctx))
}

// A process restarted under the same identity does not inherit its previous run's claims:
// the holder lease it takes carries a new claim token, and the old claims are free.
func TestRestartDoesNotInheritVouchedClaims(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	first := b.holders(t, "pod-0")
	h := hold(b.lease(t, "pod-0", first, b.target))
	h.wait(t)
	name := b.get(t, "podinfo-canarykit").Annotations[kube.AnnotationHolder]
	first.Halt() // the process died
	waitPast(expiryOf(b.get(t, name)))

	restarted := b.holders(t, "pod-0")
	other := canary.Target{Namespace: b.ns, Name: "other"}
	h2 := hold(b.lease(t, "pod-0", restarted, other))
	h2.wait(t)
	require.Equal(t, name, b.get(t, "other-canarykit").Annotations[kube.AnnotationHolder], "the expired holder lease is reused")
	assert.Equal(t, "pod-0", ptr.Deref(b.get(t, name).Spec.HolderIdentity, ""))

	two := b.lease(t, "two", nil, b.target)
	require.NoError(t, two.Acquire(ctx), "the old claim's token is not the holder lease's any more")
	require.NoError(t, two.Release(ctx))
	h2.end(t)
	h.stop()
	<-h.done
}

// A holder lease another process took makes its leases renew themselves at once, without
// the vouch, and their Hold goes on.
func TestTakenHolderLeaseMakesTheLeaseRenewItself(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	_, l, h := b.holding(t)
	fnCtx := h.ctx
	name := b.get(t, l.Name()).Annotations[kube.AnnotationHolder]
	stolen := b.get(t, name)
	stolen.Annotations[kube.AnnotationHolderClaim] = "0123456789abcdef"
	stolen.Spec.HolderIdentity = ptr.To("thief")
	_, err := b.admin.CoordinationV1().Leases(b.ns).Update(ctx, stolen, metav1.UpdateOptions{})
	require.NoError(t, err)

	eventually(t, func() bool { _, ok := b.get(t, l.Name()).Annotations[kube.AnnotationHolder]; return !ok },
		"the target lease drops the vouch at the holder lease's next renewal")
	own := b.get(t, l.Name())
	assert.Equal(t, "one", ptr.Deref(own.Spec.HolderIdentity, ""))
	assert.Equal(t, int32(holderDuration.Seconds()), ptr.Deref(own.Spec.LeaseDurationSeconds, 0))
	eventually(t, func() bool { return b.get(t, l.Name()).ResourceVersion != own.ResourceVersion }, "it renews itself")
	assert.NoError(t, fnCtx.Err(), "the hold goes on")
	h.end(t)
	kept := b.get(t, name) // the process's holder lease is over: the thief's claim stands
	assert.Equal(t, "thief", ptr.Deref(kept.Spec.HolderIdentity, ""))
	assert.Equal(t, "0123456789abcdef", kept.Annotations[kube.AnnotationHolderClaim])
}

// Two Leases of one target that share Holders never hold it at once, though they have the same
// identity (a stable one, as a pod name): the second waits for the first to release it.
func TestLeasesSharingHoldersTakeTurns(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	hs := b.holders(t, "pod-0")
	first := hold(b.lease(t, "pod-0", hs, b.target))
	first.wait(t)

	now, err := kube.NewLease(kube.LeaseOptions{Client: b.client, Target: b.target, Identity: "pod-0", Holders: hs})
	require.NoError(t, err)
	var held *kube.HeldError
	require.ErrorAs(t, now.Acquire(ctx), &held, "the same identity does not make it its own")
	assert.Contains(t, held.Holder, "this process")

	waiting, err := kube.NewLease(kube.LeaseOptions{Client: b.client, Target: b.target, Identity: "pod-0", Holders: hs, Duration: holderDuration, Wait: true})
	require.NoError(t, err)
	second := hold(waiting)
	select {
	case <-second.started:
		require.FailNow(t, "the second Lease holds the target while the first does")
	case <-time.After(3 * time.Second):
	}
	first.end(t)
	second.wait(t)
	assert.Equal(t, "pod-0", ptr.Deref(b.get(t, "podinfo-canarykit").Spec.HolderIdentity, ""))
	second.end(t)
}

// A control request applied by a vouched lease is cleared by a write made at once (a vouched
// lease makes no renewal that would clear it).
func TestAppliedRequestIsClearedAtOnce(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	cluster, err := kube.New(kube.Options{Client: b.client})
	require.NoError(t, err)
	defer cluster.Close()
	_, l := b.vouched(t)
	applied := make(chan kube.Control, 1)
	done := make(chan error, 1)
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	registered := make(chan error, 1)
	go func() {
		done <- l.Hold(hctx, func(ctx context.Context) error {
			stop, err := cluster.Controls(ctx, l, func(c kube.Control) { applied <- c })
			registered <- err
			if err != nil {
				return err
			}
			defer stop()
			<-ctx.Done()
			return nil
		})
	}()
	require.NoError(t, <-registered)
	require.NoError(t, kube.RequestControl(ctx, b.client, b.target, kube.ControlPause))
	select {
	case c := <-applied:
		assert.Equal(t, kube.ControlPause, c)
	case <-time.After(30 * time.Second):
		require.FailNow(t, "the request was not applied")
	}
	eventually(t, func() bool {
		cur := b.get(t, l.Name())
		_, labelled := cur.Labels[kube.LabelControlRequested]
		return cur.Annotations[kube.AnnotationControl] == "" && !labelled
	}, "the applied request is cleared")
	assert.NotEmpty(t, b.get(t, l.Name()).Annotations[kube.AnnotationHolder], "and the lease stays vouched for")
	cancel()
	require.NoError(t, <-done)
	select {
	case c := <-applied:
		require.FailNow(t, "applied twice", "%s", c)
	default:
	}
}

// A lease deleted while held (Retire deletes it) is released at once: the API server answers
// the release with a conflict on the object's UID, which is not retried, and the holder lease
// is given up as its last member leaves.
func TestDeletedLeaseLeavesItsHolderLease(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	hs, l := b.vouched(t)
	var name string
	require.NoError(t, l.Hold(ctx, func(ctx context.Context) error {
		name = b.get(t, l.Name()).Annotations[kube.AnnotationHolder]
		return b.admin.CoordinationV1().Leases(b.ns).Delete(ctx, l.Name(), metav1.DeleteOptions{})
	}))
	require.NotEmpty(t, name)
	eventually(t, func() bool { return ptr.Deref(b.get(t, name).Spec.HolderIdentity, "") == "" }, "the holder lease is given up")
	assert.Empty(t, hs.Namespaces())
}

// holdRegistered holds l in the background with l registered for control requests, as the
// driver's Targets and Releases hold theirs; apply (if not nil) is given the requests.
func holdRegistered(t *testing.T, cluster *kube.Cluster, l *kube.Lease, apply func(kube.Control)) *holding {
	t.Helper()
	if apply == nil {
		apply = func(kube.Control) {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &holding{started: make(chan context.Context, 1), stop: cancel, done: make(chan error, 1)}
	go func() {
		h.done <- l.Hold(ctx, func(ctx context.Context) error {
			stop, err := cluster.Controls(ctx, l, apply)
			if err != nil {
				return err
			}
			defer stop()
			h.started <- ctx
			<-ctx.Done()
			return nil
		})
	}()
	h.wait(t)
	return h
}

// A vouched lease writes only every half hour, but the shared lease watch finds it deleted or
// taken at once: its hold ends with ErrLeaseLost, before another driver could drive the target
// for long.
func TestVouchedLeaseDeletedOrTakenEndsItsHoldAtOnce(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(b *bed, t *testing.T, name string)
	}{
		{"deleted", func(b *bed, t *testing.T, name string) {
			require.NoError(t, b.admin.CoordinationV1().Leases(b.ns).Delete(context.Background(), name, metav1.DeleteOptions{}))
		}},
		{"taken", func(b *bed, t *testing.T, name string) {
			cur := b.get(t, name)
			cur.Spec.HolderIdentity = ptr.To("intruder")
			cur.Spec.AcquireTime = ptr.To(metav1.NowMicro())
			_, err := b.admin.CoordinationV1().Leases(b.ns).Update(context.Background(), cur, metav1.UpdateOptions{})
			require.NoError(t, err)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := newBed(t)
			cluster, err := kube.New(kube.Options{Client: b.client})
			require.NoError(t, err)
			defer cluster.Close()
			_, l := b.vouched(t)
			h := holdRegistered(t, cluster, l, nil)
			require.NotEmpty(t, b.get(t, l.Name()).Annotations[kube.AnnotationHolder], "vouched: no renewal of its own for half an hour")
			c.change(b, t, l.Name())
			err2 := returned(t, h.done, "the hold goes on after its lease was "+c.name)
			require.ErrorIs(t, err2, kube.ErrLeaseLost)
			require.Error(t, h.ctx.Err(), "fn's context was cancelled")
		})
	}
}

// A holder lease deleted or taken is found by the shared Lease watch, not at its next renewal
// (half its duration later): its target leases write their own claims at once and their holds
// go on. Both clocks stand still here, so no renewal is ever due, and only the watch can tell.
func TestHolderLeaseDeletedOrTakenIsFoundAtOnce(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(b *bed, t *testing.T, name string)
	}{
		{"deleted", func(b *bed, t *testing.T, name string) {
			require.NoError(t, b.admin.CoordinationV1().Leases(b.ns).Delete(context.Background(), name, metav1.DeleteOptions{}))
		}},
		{"taken", func(b *bed, t *testing.T, name string) {
			cur := b.get(t, name)
			cur.Annotations[kube.AnnotationHolderClaim] = "0123456789abcdef"
			cur.Spec.HolderIdentity = ptr.To("thief")
			_, err := b.admin.CoordinationV1().Leases(b.ns).Update(context.Background(), cur, metav1.UpdateOptions{})
			require.NoError(t, err)
		}},
		{"claimed again by a process of the same identity", func(b *bed, t *testing.T, name string) {
			cur := b.get(t, name)
			cur.Annotations[kube.AnnotationHolderClaim] = "0123456789abcdef" // only the token differs
			_, err := b.admin.CoordinationV1().Leases(b.ns).Update(context.Background(), cur, metav1.UpdateOptions{})
			require.NoError(t, err)
		}},
		{"unlabelled", func(b *bed, t *testing.T, name string) {
			cur := b.get(t, name)
			delete(cur.Labels, kube.LabelHolder) // its vouch no longer counts for the others
			_, err := b.admin.CoordinationV1().Leases(b.ns).Update(context.Background(), cur, metav1.UpdateOptions{})
			require.NoError(t, err)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := newBed(t)
			// another process's holder lease in the namespace, written while ours is held:
			// the watch hands it over too, and it must not cost ours a write
			other, err := b.admin.CoordinationV1().Leases(b.ns).Create(context.Background(), &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: "canarykit-holder-0000000000",
					Labels:      map[string]string{kube.LabelHolder: "true", canary.LabelManagedBy: canary.ManagedBy},
					Annotations: map[string]string{kube.AnnotationHolderClaim: "fedcba9876543210"}},
				Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("process-two"), LeaseDurationSeconds: ptr.To(int32(60)),
					RenewTime: ptr.To(metav1.NowMicro())}}, metav1.CreateOptions{})
			require.NoError(t, err)
			cluster, err := kube.New(kube.Options{Client: b.client})
			require.NoError(t, err)
			defer cluster.Close()
			clk := clocktesting.NewFakeClock(time.Now())
			const d = time.Minute
			hs, err := kube.NewHolders(kube.HoldersOptions{Client: b.client, Identity: "process-one", Duration: d, Clock: clk})
			require.NoError(t, err)
			l, err := kube.NewLease(kube.LeaseOptions{Client: b.client, Target: b.target, Identity: "one", Holders: hs, Duration: d, Clock: clk})
			require.NoError(t, err)
			applied := make(chan kube.Control, 1)
			h := holdRegistered(t, cluster, l, func(c kube.Control) {
				select {
				case applied <- c:
				default:
				}
			})
			vouched := b.get(t, l.Name())
			holder := vouched.Annotations[kube.AnnotationHolder]
			require.NotEmpty(t, holder)
			require.Equal(t, int32(kube.VouchedLeaseDuration.Seconds()), ptr.Deref(vouched.Spec.LeaseDurationSeconds, 0))
			ours := b.get(t, holder).ResourceVersion
			other.Spec.RenewTime = ptr.To(metav1.NowMicro())
			other, err = b.admin.CoordinationV1().Leases(b.ns).Update(context.Background(), other, metav1.UpdateOptions{})
			require.NoError(t, err)
			// a request on the target's lease goes through the same watch after the other
			// holder lease's write: once it is applied, that write was delivered too
			require.NoError(t, kube.RequestControl(context.Background(), b.admin, b.target, kube.ControlPause))
			select {
			case <-applied:
			case err := <-h.done:
				require.FailNow(t, "the hold ended", "%v", err)
			}
			assert.Equal(t, ours, b.get(t, holder).ResourceVersion, "another process's holder lease wakes nothing of ours")

			c.change(b, t, holder)
			eventually(t, func() bool { _, ok := b.get(t, l.Name()).Annotations[kube.AnnotationHolder]; return !ok },
				"the target lease writes its own claim once the watch delivers its holder lease "+c.name)
			own := b.get(t, l.Name())
			assert.Equal(t, "one", ptr.Deref(own.Spec.HolderIdentity, ""))
			assert.Equal(t, int32(d.Seconds()), ptr.Deref(own.Spec.LeaseDurationSeconds, 0))
			assert.NoError(t, h.ctx.Err(), "the hold goes on")
			assert.Empty(t, hs.Namespaces(), "the lost holder lease vouches for nothing more")
			h.end(t)
		})
	}
}
