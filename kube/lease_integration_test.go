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
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// A driver whose Lease is deleted under it stops with ErrLeaseLost instead of writing on.
func TestDeletedLeaseIsLost(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	l, err := kube.NewLease(kube.LeaseOptions{Client: b.client, Target: b.target, Identity: "one", Duration: 4 * time.Second})
	require.NoError(t, err)
	err = l.Hold(ctx, func(ctx context.Context) error {
		require.NoError(t, b.admin.CoordinationV1().Leases(b.ns).Delete(ctx, l.Name(), metav1.DeleteOptions{}))
		<-ctx.Done() // cancelled by the renewal that finds the lease gone
		return ctx.Err()
	})
	require.ErrorIs(t, err, kube.ErrLeaseLost)
}

// A second claim under the same identity (a process restarted under a stable identity takes
// its lease back at once) is the lease's: the first claim finds itself lost at its next write
// rather than writing over the new claim, whether that write is its own renewal or the one
// the namespace's Lease watch wakes when it sees the new claim. It used to write again on the
// fresh copy (the holder was its own name), and the watch, seeing an acquire time not its
// own after each of those writes, woke it again: a write per round trip, and two holders.
func TestSameIdentityClaimedAgainIsLost(t *testing.T) {
	b := newBed(t)
	ctx := t.Context()
	cluster := b.cluster(t)
	first, err := kube.NewLease(kube.LeaseOptions{Client: b.client, Target: b.target, Identity: "pod-a", Duration: 8 * time.Second})
	require.NoError(t, err)
	registered, done := make(chan struct{}), make(chan error, 1)
	go func() {
		done <- first.Hold(ctx, func(ctx context.Context) error {
			stop, err := cluster.Controls(ctx, first, func(kube.Control) {})
			if err != nil {
				close(registered)
				return err
			}
			defer stop()
			close(registered)
			<-ctx.Done()
			return ctx.Err()
		})
	}()
	<-registered
	again, err := kube.NewLease(kube.LeaseOptions{Client: b.client, Target: b.target, Identity: "pod-a", Duration: 8 * time.Second})
	require.NoError(t, err)
	require.NoError(t, again.Acquire(ctx), "the restarted process takes its lease back at once")
	claimed, err := b.admin.CoordinationV1().Leases(b.ns).Get(ctx, again.Name(), metav1.GetOptions{})
	require.NoError(t, err)

	select {
	case err := <-done:
		require.ErrorIs(t, err, kube.ErrLeaseLost)
		assert.ErrorContains(t, err, "claimed again")
	case <-time.After(time.Minute): // a renewal is due every few seconds
		t.Fatalf("the first claim still holds the lease the second took (held: %v)", first.Held())
	}
	assert.False(t, first.Held())
	assert.True(t, again.Held())
	now, err := b.admin.CoordinationV1().Leases(b.ns).Get(ctx, again.Name(), metav1.GetOptions{})
	require.NoError(t, err)
	assert.True(t, now.Spec.AcquireTime.Equal(claimed.Spec.AcquireTime), "the second claim stands: acquired %v, now %v",
		claimed.Spec.AcquireTime, now.Spec.AcquireTime)
	require.NoError(t, again.Release(ctx))
}

// Releasing works when a control request arrived after the driver's last write, and leaves
// the lease free at once for the next driver.
func TestReleaseWithAPendingRequest(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	l, err := kube.NewLease(kube.LeaseOptions{Client: b.client, Target: b.target, Identity: "one"})
	require.NoError(t, err)
	require.NoError(t, l.Acquire(ctx))
	require.NoError(t, kube.RequestControl(ctx, b.client, b.target, kube.ControlPause))
	require.NoError(t, l.Release(ctx))
	next, err := kube.NewLease(kube.LeaseOptions{Client: b.client, Target: b.target, Identity: "two"})
	require.NoError(t, err)
	require.NoError(t, next.Acquire(ctx), "free at once")
	lease, err := b.admin.CoordinationV1().Leases(b.ns).Get(ctx, l.Name(), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Contains(t, lease.Annotations[kube.AnnotationControl], "pause", "a request nobody applied stays for the next driver")
}

// A held lease keeps its object without managedFields (no reader uses them; at 1,000 targets
// they were a third of what the held leases took), and its writes from that copy leave the
// API server's managedFields as they were: the claim taken by a create and by an update, and
// given up by an update.
func TestHeldLeaseKeepsNoManagedFields(t *testing.T) {
	b := newBed(t)
	ctx := t.Context()
	first, err := kube.NewLease(kube.LeaseOptions{Client: b.client, Target: b.target, Identity: "one"})
	require.NoError(t, err)
	stored := func() *coordinationv1.Lease {
		lease, err := b.admin.CoordinationV1().Leases(b.ns).Get(ctx, first.Name(), metav1.GetOptions{})
		require.NoError(t, err)
		return lease
	}
	require.NoError(t, first.Acquire(ctx)) // a create
	require.NotEmpty(t, stored().ManagedFields, "the API server records who wrote the lease")
	require.NotNil(t, kube.HeldObject(first))
	assert.Empty(t, kube.HeldObject(first).ManagedFields, "created")
	require.NoError(t, first.Release(ctx))
	released := stored()
	assert.Nil(t, released.Spec.HolderIdentity, "given up from the kept copy")
	assert.NotEmpty(t, released.ManagedFields, "an update without managedFields leaves the server's")

	second, err := kube.NewLease(kube.LeaseOptions{Client: b.client, Target: b.target, Identity: "two"})
	require.NoError(t, err)
	require.NoError(t, second.Acquire(ctx)) // an update
	assert.Equal(t, "two", *stored().Spec.HolderIdentity)
	assert.Empty(t, kube.HeldObject(second).ManagedFields, "taken by an update")
	assert.NotEmpty(t, stored().ManagedFields)
	require.NoError(t, second.Release(ctx))
}

// An identity without a permission the caches need gets an error naming it, not a silent wait.
func TestMissingPermissionIsAClearError(t *testing.T) {
	b := newBed(t)
	b.createTarget(t, "podinfo:1")
	var role rbacv1.ClusterRole
	require.NoError(t, yaml.Unmarshal(kube.RBAC(), &role))
	var rules []rbacv1.PolicyRule
	for _, r := range role.Rules {
		if r.Resources[0] != "configmaps" { // drop configmaps and secrets
			rules = append(rules, r)
		}
	}
	user, cfg := b.env.NewUser(t)
	b.env.Grant(t, user, b.ns, rules...)
	client, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	cluster, err := kube.New(kube.Options{Client: client, SyncTimeout: 3 * time.Second})
	require.NoError(t, err)
	t.Cleanup(cluster.Close)
	w, err := cluster.Workload(kube.WorkloadOptions{Target: b.target, Port: 9898})
	require.NoError(t, err)
	err = w.Bootstrap(context.Background(), b.target)
	require.Error(t, err)
	assert.ErrorContains(t, err, "did not sync within 3s")
	assert.ErrorContains(t, err, "configmaps")
	assert.ErrorContains(t, err, "forbidden")
}

// Promote copies only the analysed revision.
func TestPromoteRefusesAnUnanalysedRevision(t *testing.T) {
	b := newBed(t)
	b.createTarget(t, "podinfo:1")
	d := b.driver(t, driverOptions{})
	d.mustRun(t)
	cluster := b.cluster(t)
	w, err := cluster.Workload(kube.WorkloadOptions{Target: b.target, Port: 9898})
	require.NoError(t, err)
	st, err := w.Observe(context.Background(), b.target)
	require.NoError(t, err)
	b.setImage(t, "podinfo:2")
	require.Eventually(t, func() bool {
		now, err := w.Observe(context.Background(), b.target)
		return err == nil && now.Revision != st.Revision
	}, 30*time.Second, 50*time.Millisecond)
	err = w.Promote(context.Background(), b.target, st.Revision)
	require.ErrorIs(t, err, canary.ErrRevisionChanged)
	assert.Equal(t, "podinfo:1", image(b.deployment(t, "podinfo-primary")), "nothing copied")
}
