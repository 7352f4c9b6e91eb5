package notify_test

import (
	"context"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/webhook/notify"
)

// BenchmarkOnEvent measures what an alert costs the Rollout's goroutine: classify and queue.
func BenchmarkOnEvent(b *testing.B) {
	d, err := notify.New(notify.Config{QueueSize: 1024, Routes: []notify.Route{{Notifier: notify.NotifierFunc(
		func(context.Context, notify.Notification) error { return nil })}}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = d.Run(ctx); close(done) }()
	h := d.OnEvent(canary.Spec{StepWeight: 10})
	e := canary.Event{Target: podinfo, Reason: canary.ReasonNewRevision, Phase: canary.PhaseProgressing}
	b.ReportAllocs()
	for b.Loop() {
		h(e)
	}
	b.StopTimer()
	cancel()
	<-done
	b.ReportMetric(float64(d.Stats().Dropped), "dropped")
}
