package notify_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/webhook/notify"
)

var sampleSpec = canary.Spec{StepWeight: 10}

func start(t *testing.T, d *notify.Dispatcher) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	return func() {
		cancel()
		require.NoError(t, <-done)
	}
}

func TestRoutesByMinimumSeverity(t *testing.T) {
	all, warn, errs := &collector{}, &collector{}, &collector{}
	d, err := notify.New(notify.Config{Routes: []notify.Route{
		{Name: "all", Notifier: all},
		{Name: "warn", Notifier: warn, MinSeverity: notify.SeverityWarn},
		{Name: "error", Notifier: errs, MinSeverity: notify.SeverityError},
	}})
	require.NoError(t, err)
	stop := start(t, d)
	for _, s := range []notify.Severity{notify.SeverityInfo, notify.SeverityWarn, notify.SeverityError} {
		assert.True(t, d.Send(notify.Notification{Severity: s, Target: podinfo, Message: s.String()}))
	}
	require.NoError(t, d.Flush(context.Background()))
	stop()
	assert.Equal(t, []string{"info info", "warn warn", "error error"}, all.lines())
	assert.Equal(t, []string{"warn warn", "error error"}, warn.lines())
	assert.Equal(t, []string{"error error"}, errs.lines())
	assert.Equal(t, notify.Stats{Queued: 3, Delivered: 6}, d.Stats())
}

func TestAFullQueueDropsWithoutBlocking(t *testing.T) {
	var logged []string
	log := funcr.New(func(_, args string) { logged = append(logged, args) }, funcr.Options{})
	c := &collector{}
	d, err := notify.New(notify.Config{Routes: []notify.Route{{Notifier: c}}, QueueSize: 2, Logger: log})
	require.NoError(t, err)
	h := d.OnEvent(sampleSpec)
	// Nothing delivers yet: the first two alerts wait in the queue, the third is dropped, and
	// the handler returns at once every time.
	for range 3 {
		h(ev("NewRevision", "Progressing", ""))
	}
	assert.Equal(t, notify.Stats{Queued: 2, Dropped: 1}, d.Stats())
	require.Len(t, logged, 1)
	assert.Contains(t, logged[0], "notification dropped: queue full")

	stop := start(t, d)
	require.NoError(t, d.Flush(context.Background()))
	stop()
	assert.Len(t, c.all(), 2)
}

func TestRunDrainsWhenStopped(t *testing.T) {
	c := &collector{}
	d, err := notify.New(notify.Config{Routes: []notify.Route{{Notifier: c}}})
	require.NoError(t, err)
	for range 5 {
		d.Send(notify.Notification{Target: podinfo, Message: "m"})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Run starts after its context ended: it only drains
	require.NoError(t, d.Run(ctx))
	assert.Len(t, c.all(), 5)
}

func TestFailedDeliveriesAreCounted(t *testing.T) {
	ok := &collector{}
	failing := notify.NotifierFunc(func(context.Context, notify.Notification) error { return errors.New("slack: 500") })
	d, err := notify.New(notify.Config{Routes: []notify.Route{{Notifier: failing}, {Notifier: ok}}})
	require.NoError(t, err)
	stop := start(t, d)
	d.Send(notify.Notification{Target: podinfo})
	require.NoError(t, d.Flush(context.Background()))
	stop()
	assert.Equal(t, notify.Stats{Queued: 1, Delivered: 1, Failed: 1}, d.Stats())
}

func TestDeliveriesAreBoundedByTimeout(t *testing.T) {
	hang := notify.NotifierFunc(func(ctx context.Context, _ notify.Notification) error {
		<-ctx.Done()
		return ctx.Err()
	})
	d, err := notify.New(notify.Config{Routes: []notify.Route{{Notifier: hang}}, Timeout: 10 * time.Millisecond})
	require.NoError(t, err)
	stop := start(t, d)
	d.Send(notify.Notification{Target: podinfo})
	require.NoError(t, d.Flush(context.Background()))
	stop()
	assert.Equal(t, uint64(1), d.Stats().Failed)
}

func TestOneRunAtATime(t *testing.T) {
	d, err := notify.New(notify.Config{Routes: []notify.Route{{Notifier: &collector{}}}})
	require.NoError(t, err)
	stop := start(t, d)
	require.NoError(t, d.Flush(context.Background())) // Run is up
	assert.ErrorIs(t, d.Run(context.Background()), notify.ErrRunning)
	stop()
}

func TestFlushHonoursItsContext(t *testing.T) {
	d, err := notify.New(notify.Config{Routes: []notify.Route{{Notifier: &collector{}}}, QueueSize: 1})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, d.Flush(ctx), context.Canceled, "no Run: Flush gives up with its context")
}

func TestNewReportsEveryProblem(t *testing.T) {
	_, err := notify.New(notify.Config{})
	assert.ErrorContains(t, err, "Routes: at least one route")
	_, err = notify.New(notify.Config{Routes: []notify.Route{{MinSeverity: 7}}, QueueSize: -1, Timeout: -1})
	require.ErrorIs(t, err, notify.ErrInvalidConfig)
	for _, want := range []string{"Routes[0].Notifier", "Routes[0].MinSeverity", "QueueSize", "Timeout"} {
		assert.Contains(t, err.Error(), want)
	}
}
