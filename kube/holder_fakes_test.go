package kube_test

// Helpers of the lease tests on fakes: a vouched Lease, a Hold in the background, a fake clock
// moved on until something happens, and lease updates that fail on demand.

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube"
	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
)

// vouchedFake is a Lease of identity "one" on ns/podinfo with Holders of identity "process",
// both of duration d, on client; clk nil is the real clock.
func vouchedFake(t *testing.T, client *fake.Clientset, d time.Duration, clk clock.Clock) (*kube.Holders, *kube.Lease) {
	t.Helper()
	hs, err := kube.NewHolders(kube.HoldersOptions{Client: client, Identity: "process", Duration: d, Clock: clk})
	require.NoError(t, err)
	l, err := kube.NewLease(kube.LeaseOptions{Client: client, Target: canary.Target{Namespace: "ns", Name: "podinfo"}, Identity: "one",
		Holders: hs, Duration: d, Clock: clk})
	require.NoError(t, err)
	return hs, l
}

// holdInBackground holds l until cancel is called, with a fn that waits for its context; it
// returns once fn runs, and done receives what Hold returned.
func holdInBackground(l *kube.Lease) (ctx context.Context, cancel context.CancelFunc, done <-chan error) {
	ctx, cancel = context.WithCancel(context.Background())
	started := make(chan struct{})
	out := make(chan error, 1)
	go func() {
		out <- l.Hold(ctx, func(ctx context.Context) error { close(started); <-ctx.Done(); return nil })
	}()
	<-started
	return ctx, cancel, out
}

// advanceUntil sets clk to from and polls cond every 50 ms like eventually, moving the fake
// clock on by 10 ms at each poll that finds cond false, never past limit. A goroutine that read
// the clock just before the test set it to from, and then started a timer, started it from the
// old time and would wait for a time the clock never reaches if it stayed at from; the small
// steps let such a timer fire, while limit keeps the clock short of what cond must precede.
func advanceUntil(t *testing.T, clk *clocktesting.FakeClock, from, limit time.Time, cond func() bool, msg string) {
	t.Helper()
	clk.SetTime(from)
	eventually(t, func() bool {
		if cond() {
			return true
		}
		if next := clk.Now().Add(10 * time.Millisecond); !next.After(limit) {
			clk.SetTime(next)
		}
		return false
	}, msg)
}

// returned waits for what a Hold running in the background returned (see eventually).
func returned(t *testing.T, done <-chan error, msg string) error {
	t.Helper()
	var err error
	eventually(t, func() bool {
		select {
		case err = <-done:
			return true
		default:
			return false
		}
	}, msg)
	return err
}

// failingUpdates makes updates of the leases whose names match fail while down is set, and
// counts them.
func failingUpdates(client *fake.Clientset, match func(string) bool) (down *atomic.Bool, failed *atomic.Int32) {
	down, failed = &atomic.Bool{}, &atomic.Int32{}
	client.PrependReactor("update", "leases", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if down.Load() && match(a.(k8stesting.UpdateAction).GetObject().(*coordinationv1.Lease).Name) {
			failed.Add(1)
			return true, nil, apierrors.NewServiceUnavailable("etcd leader changed")
		}
		return false, nil, nil
	})
	return down, failed
}
