package kube

import (
	"context"
	"fmt"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// A request that times out (its error wraps context.DeadlineExceeded, as a client's request
// timeout does) is an error, not a success: client-go's RetryOnConflict alone returns nil.
func TestRequestControlReportsATimedOutRequest(t *testing.T) {
	client := fake.NewClientset()
	timedOut := fmt.Errorf("no answer within 100ms: %w", context.DeadlineExceeded)
	client.PrependReactor("get", "leases", func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, timedOut })
	err := RequestControl(context.Background(), client, canary.Target{Namespace: "ns", Name: "app"}, ControlPromote)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "no answer within 100ms")
}

func TestRetryOnConflictKeepsTheLastError(t *testing.T) {
	calls := 0
	err := retryOnConflict(func() error { calls++; return fmt.Errorf("cancelled: %w", context.Canceled) })
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 1, calls, "not a conflict: not retried")
	assert.NoError(t, retryOnConflict(func() error { return nil }))
}
