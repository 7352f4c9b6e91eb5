package kube

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// Control requests reach the driver registered for the target, through the namespace's
// shared watch, with any client (the fake one included); the driver's next write clears the
// request and its label.
func TestControlsWithAFakeClient(t *testing.T) {
	client := fake.NewClientset()
	cluster, err := New(Options{Client: client})
	require.NoError(t, err)
	defer cluster.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := map[string]chan Control{}
	for _, name := range []string{"app", "other"} {
		l, err := NewLease(LeaseOptions{Client: client, Target: canary.Target{Namespace: "ns", Name: name}, Identity: "me"})
		require.NoError(t, err)
		require.NoError(t, l.Acquire(ctx))
		ch := make(chan Control, 4)
		got[name] = ch
		stop, err := cluster.Controls(ctx, l, func(c Control) { ch <- c })
		require.NoError(t, err)
		defer stop()
		if name == "app" {
			defer func() {
				// the next write clears the applied request and its label
				_, err := l.Save(ctx, l.opts.Target, canary.Status{Phase: canary.PhaseInitialized})
				assert.NoError(t, err)
				obj, err := client.CoordinationV1().Leases("ns").Get(ctx, "app-canarykit", metav1.GetOptions{})
				if assert.NoError(t, err) {
					assert.NotContains(t, obj.Annotations, AnnotationControl)
					assert.NotContains(t, obj.Labels, LabelControlRequested)
				}
			}()
		}
	}
	require.NoError(t, RequestControl(ctx, client, canary.Target{Namespace: "ns", Name: "app"}, ControlAbort))
	obj, err := client.CoordinationV1().Leases("ns").Get(ctx, "app-canarykit", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "true", obj.Labels[LabelControlRequested], "the request is labelled for the shared watch")
	select {
	case c := <-got["app"]:
		assert.Equal(t, ControlAbort, c)
	case <-beforeDeadline(t):
		t.Fatal("the request never reached the driver")
	}
	assert.Empty(t, got["other"], "the other target's driver got nothing")
}

// A registration that cannot take effect is an error: no apply, or the lease registered twice.
func TestControlsRegistrationErrors(t *testing.T) {
	client := fake.NewClientset()
	cluster, err := New(Options{Client: client})
	require.NoError(t, err)
	defer cluster.Close()
	l, err := NewLease(LeaseOptions{Client: client, Target: canary.Target{Namespace: "ns", Name: "app"}})
	require.NoError(t, err)
	ctx := context.Background()
	_, err = cluster.Controls(ctx, l, nil)
	assert.ErrorContains(t, err, "apply is nil")
	stop, err := cluster.Controls(ctx, l, func(Control) {})
	require.NoError(t, err)
	_, err = cluster.Controls(ctx, l, func(Control) {})
	assert.ErrorContains(t, err, "already registered")
	stop()
	stop, err = cluster.Controls(ctx, l, func(Control) {})
	assert.NoError(t, err, "registered again once stopped")
	stop()
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

// stop ends the registration only once a request being applied is done, so nothing is
// applied after it returns (the watch hands each lease its copies on a goroutine of its own).
func TestControlsStopWaitsForTheApplyUnderWay(t *testing.T) {
	client := fake.NewClientset()
	cluster, err := New(Options{Client: client})
	require.NoError(t, err)
	defer cluster.Close()
	target := canary.Target{Namespace: "ns", Name: "app"}
	l, err := NewLease(LeaseOptions{Client: client, Target: target, Identity: "me"})
	require.NoError(t, err)
	ctx := t.Context()
	require.NoError(t, l.Acquire(ctx))
	entered, release := make(chan struct{}), make(chan struct{})
	var applying atomic.Bool
	stop, err := cluster.Controls(ctx, l, func(Control) {
		applying.Store(true)
		close(entered)
		<-release
		applying.Store(false)
	})
	require.NoError(t, err)
	require.NoError(t, RequestControl(ctx, client, target, ControlPause))
	select {
	case <-entered:
	case <-beforeDeadline(t):
		t.Fatal("the request never reached the driver")
	}
	stopped := make(chan struct{})
	go func() {
		stop()
		close(stopped)
	}()
	go func() {
		time.Sleep(200 * time.Millisecond) // time for a stop that does not wait to return
		close(release)
	}()
	<-stopped
	assert.False(t, applying.Load(), "stop returned while the request was being applied")
}
