package kube_test

import (
	"context"
	"testing"
	"time"

	"github.com/canarykit/canarykit/kube"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// holderBed is a bed with a resting target lease of identity "one", whose holder leases last
// 2 s.
type holderBed struct {
	*bed
	holders *kube.Holders
	lease   *kube.Lease
}

func newHolderBed(t *testing.T) *holderBed {
	t.Helper()
	b := newBed(t)
	hs, err := kube.NewHolders(kube.HoldersOptions{Client: b.client, Identity: "one", Duration: 2 * time.Second})
	require.NoError(t, err)
	l, err := kube.NewLease(kube.LeaseOptions{Client: b.client, Target: b.target, Holders: hs, Duration: 2 * time.Second})
	require.NoError(t, err)
	assert.Equal(t, "one", l.Identity(), "the Holders' identity")
	ctx := context.Background()
	require.NoError(t, l.Acquire(ctx))
	require.NoError(t, l.Rest(ctx))
	require.True(t, l.Resting())
	return &holderBed{bed: b, holders: hs, lease: l}
}

func (b *bed) get(t *testing.T, name string) *coordinationv1.Lease {
	t.Helper()
	obj, err := b.admin.CoordinationV1().Leases(b.ns).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return obj
}

// waitPast waits until the real clock is past when, a lease time.
func waitPast(when time.Time) {
	time.Sleep(time.Until(when) + 200*time.Millisecond)
}

func expiryOf(l *coordinationv1.Lease) time.Time {
	return l.Spec.RenewTime.Add(time.Duration(ptr.Deref(l.Spec.LeaseDurationSeconds, 0)) * time.Second)
}

// A resting target lease is not renewed; the holder lease it names is, and keeps the target
// from another driver past the target lease's own expiry. Wake renews it again.
func TestRestingLeaseIsVouchedForByItsHolderLease(t *testing.T) {
	b := newHolderBed(t)
	ctx := context.Background()
	target := b.get(t, b.lease.Name())
	name := target.Annotations[kube.AnnotationHolder]
	require.Equal(t, map[string]string{b.ns: name}, b.holders.Namespaces(), "the annotation names the namespace's holder lease")
	holder := b.get(t, name)
	assert.Equal(t, "true", holder.Labels[kube.LabelHolder])
	assert.Equal(t, "one", ptr.Deref(holder.Spec.HolderIdentity, ""))

	waitPast(expiryOf(target))
	assert.Equal(t, target.ResourceVersion, b.get(t, b.lease.Name()).ResourceVersion, "a resting lease is not renewed")
	renewed := b.get(t, name)
	assert.True(t, renewed.Spec.RenewTime.After(holder.Spec.RenewTime.Time), "the holder lease is renewed")

	two, err := kube.NewLease(kube.LeaseOptions{Client: b.client, Target: b.target, Identity: "two"})
	require.NoError(t, err)
	err = two.Acquire(ctx)
	var held *kube.HeldError
	require.ErrorAs(t, err, &held, "the claim's own time has passed, the holder lease's has not")
	assert.Equal(t, "one", held.Holder)
	assert.True(t, held.Until.After(time.Now()), "held until the holder lease expires: %s", held.Until)
	who, until, err := two.Holder(ctx)
	require.NoError(t, err)
	assert.Equal(t, "one", who)
	assert.True(t, until.After(time.Now()))
	require.NoError(t, kube.RequestControl(ctx, b.client, b.target, kube.ControlPause), "a resting lease has a driver")

	require.NoError(t, b.lease.Wake(ctx))
	assert.False(t, b.lease.Resting())
	woken := b.get(t, b.lease.Name())
	assert.True(t, expiryOf(woken).After(time.Now()), "Wake renews the claim")
	assert.Contains(t, woken.Annotations[kube.AnnotationControl], "pause", "a request nobody applied stays")
	require.NoError(t, b.lease.Release(ctx))
}

// A process that stops renewing its holder lease (it died) loses its resting targets once the
// holder lease expires: another driver takes them, and a Wake then finds the lease lost.
func TestLapsedHolderLeaseFreesItsTargets(t *testing.T) {
	b := newHolderBed(t)
	ctx := context.Background()
	name := b.get(t, b.lease.Name()).Annotations[kube.AnnotationHolder]
	b.holders.Halt()
	waitPast(expiryOf(b.get(t, name)))
	waitPast(expiryOf(b.get(t, b.lease.Name())))

	two, err := kube.NewLease(kube.LeaseOptions{Client: b.client, Target: b.target, Identity: "two"})
	require.NoError(t, err)
	require.NoError(t, two.Acquire(ctx), "the holder lease has expired")
	require.ErrorIs(t, b.lease.Wake(ctx), kube.ErrLeaseLost)
}

// A holder lease taken by another identity no longer vouches: the resting lease renews itself
// at once and goes on, held, without resting again in this hold.
func TestTakenHolderLeaseMakesTheLeaseRenewItself(t *testing.T) {
	b := newBed(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hs, err := kube.NewHolders(kube.HoldersOptions{Client: b.client, Identity: "one", Duration: 2 * time.Second})
	require.NoError(t, err)
	l, err := kube.NewLease(kube.LeaseOptions{Client: b.client, Target: b.target, Holders: hs, Duration: 2 * time.Second})
	require.NoError(t, err)
	rested := make(chan error, 1)
	done := make(chan error, 1)
	go func() {
		done <- l.Hold(ctx, func(ctx context.Context) error {
			rested <- l.Rest(ctx)
			<-ctx.Done()
			return nil
		})
	}()
	require.NoError(t, <-rested)
	name := b.get(t, l.Name()).Annotations[kube.AnnotationHolder]
	require.NotEmpty(t, name)
	holder := b.get(t, name)
	holder.Spec.HolderIdentity = ptr.To("thief")
	_, err = b.admin.CoordinationV1().Leases(b.ns).Update(ctx, holder, metav1.UpdateOptions{})
	require.NoError(t, err)

	before := b.get(t, l.Name())
	for l.Resting() {
		time.Sleep(100 * time.Millisecond) // the next renewal (1 s) finds the holder lease taken
	}
	for b.get(t, l.Name()).ResourceVersion == before.ResourceVersion {
		time.Sleep(100 * time.Millisecond)
	}
	after := b.get(t, l.Name())
	assert.Equal(t, "one", ptr.Deref(after.Spec.HolderIdentity, ""), "renewed by its holder")
	assert.True(t, after.Spec.RenewTime.After(before.Spec.RenewTime.Time))
	require.NoError(t, l.Rest(ctx))
	assert.False(t, l.Resting(), "no holder lease vouches for it any more")
	cancel()
	require.NoError(t, <-done)
}

// A released holder lease is taken by the next process in the namespace instead of a new one
// being created, and by the same identity after a restart.
func TestHolderLeasesAreReused(t *testing.T) {
	b := newHolderBed(t)
	ctx := context.Background()
	name := b.get(t, b.lease.Name()).Annotations[kube.AnnotationHolder]
	require.NoError(t, b.lease.Release(ctx))
	for ptr.Deref(b.get(t, name).Spec.HolderIdentity, "") != "" {
		time.Sleep(50 * time.Millisecond) // given up after the last member left
	}

	hs, err := kube.NewHolders(kube.HoldersOptions{Client: b.client, Identity: "three", Duration: 2 * time.Second})
	require.NoError(t, err)
	l, err := kube.NewLease(kube.LeaseOptions{Client: b.client, Target: b.target, Holders: hs})
	require.NoError(t, err)
	require.NoError(t, l.Acquire(ctx))
	assert.Equal(t, name, b.get(t, l.Name()).Annotations[kube.AnnotationHolder], "the free holder lease is reused")
	assert.Equal(t, "three", ptr.Deref(b.get(t, name).Spec.HolderIdentity, ""))
	list, err := b.admin.CoordinationV1().Leases(b.ns).List(ctx, metav1.ListOptions{LabelSelector: kube.LabelHolder + "=true"})
	require.NoError(t, err)
	assert.Len(t, list.Items, 1)
	require.NoError(t, l.Release(ctx))
}

// A lease woken before half its duration passed since its last write is not written: nobody
// takes a claim before its own time has passed.
func TestEarlyWakeWritesNothing(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	hs, err := kube.NewHolders(kube.HoldersOptions{Client: b.client, Identity: "one"})
	require.NoError(t, err)
	l, err := kube.NewLease(kube.LeaseOptions{Client: b.client, Target: b.target, Holders: hs})
	require.NoError(t, err)
	require.NoError(t, l.Acquire(ctx))
	require.NoError(t, l.Rest(ctx))
	before := b.get(t, l.Name()).ResourceVersion
	require.NoError(t, l.Wake(ctx))
	assert.False(t, l.Resting())
	assert.Equal(t, before, b.get(t, l.Name()).ResourceVersion)
	require.NoError(t, l.Release(ctx))
}
