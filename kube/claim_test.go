package kube_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// A Claim holds the lease from Begin to End, renewing it meanwhile: End releases it, cancels
// the Claim's Context and returns what the work ended with; a second End changes nothing. A
// claim whose lease was lost meanwhile (deleted) ends with ErrLeaseLost joined to that.
func TestClaimHoldsTheLeaseFromBeginToEnd(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	target := canary.Target{Namespace: "test", Name: "podinfo"}
	lease, err := kube.NewLease(kube.LeaseOptions{Client: client, Target: target, Identity: "a", Duration: 15 * time.Second})
	require.NoError(t, err)
	holder := func() string {
		l, err := client.CoordinationV1().Leases("test").Get(ctx, "podinfo-canarykit", metav1.GetOptions{})
		require.NoError(t, err)
		return ptr.Deref(l.Spec.HolderIdentity, "")
	}

	c, err := lease.Begin(ctx)
	require.NoError(t, err)
	assert.True(t, lease.Held())
	assert.Equal(t, "a", holder())
	assert.NoError(t, c.Context().Err(), "held")
	boom := errors.New("boom")
	assert.Same(t, boom, c.End(boom), "End returns what the work ended with")
	assert.Error(t, c.Context().Err(), "ended")
	assert.False(t, lease.Held())
	assert.Empty(t, holder(), "released")
	assert.Nil(t, c.End(nil), "a second End changes nothing")

	c, err = lease.Begin(ctx)
	require.NoError(t, err, "claimed again")
	require.NoError(t, client.CoordinationV1().Leases("test").Delete(ctx, "podinfo-canarykit", metav1.DeleteOptions{}))
	_, err = lease.Save(ctx, target, canary.Status{Phase: canary.PhaseProgressing})
	require.ErrorIs(t, err, kube.ErrLeaseLost, "the save finds it gone")
	err = c.End(boom)
	assert.ErrorIs(t, err, kube.ErrLeaseLost)
	assert.ErrorIs(t, err, boom)
	_, err = client.CoordinationV1().Leases("test").Get(ctx, "podinfo-canarykit", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "End made no claim again: %v", err)
}
