package kube

import (
	"context"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes/fake"
)

// Control requests reach a driver through the Lease, with any client (the fake one included).
func TestControlsWithAFakeClient(t *testing.T) {
	client := fake.NewClientset()
	tg := canary.Target{Namespace: "ns", Name: "app"}
	l, err := NewLease(LeaseOptions{Client: client, Target: tg, Identity: "me"})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	require.NoError(t, l.Acquire(ctx))
	got := make(chan Control, 1)
	go l.Controls(ctx, func(c Control) { got <- c })
	require.NoError(t, RequestControl(ctx, client, tg, ControlAbort))
	select {
	case c := <-got:
		assert.Equal(t, ControlAbort, c)
	case <-beforeDeadline(t):
		t.Fatal("the request never reached the driver")
	}
}

// beforeDeadline fires shortly before the test binary's own deadline (go test -timeout), so a
// wait that never ends fails with a message instead of a dump of every goroutine; without a
// deadline it never fires. It sets no time limit of its own.
func beforeDeadline(t *testing.T) <-chan time.Time {
	d, ok := t.Deadline()
	if !ok {
		return nil
	}
	return time.After(time.Until(d) * 9 / 10)
}
