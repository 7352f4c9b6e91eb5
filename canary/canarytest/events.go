package canarytest

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/progress"
)

// Recorder collects a Rollout's events (pass its Handle as Config.OnEvent), like client-go's
// record.FakeRecorder. The zero value is ready to use; safe for concurrent use.
type Recorder struct {
	// Then, if set, is called with each event after it is recorded (from the Rollout's
	// goroutine): the place to script reactions such as a new revision at a given step.
	Then func(canary.Event)
	// Print, if set, receives one progress.Line per event as it happens, its elapsed time
	// measured from the first event printed.
	Print io.Writer

	mu      sync.Mutex
	events  []canary.Event
	printed time.Time // the first printed event's time
}

// Handle records e.
func (r *Recorder) Handle(e canary.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	line := ""
	if r.Print != nil {
		if r.printed.IsZero() {
			r.printed = e.Time
		}
		line = progress.Line(e.Time.Sub(r.printed), e)
	}
	r.mu.Unlock()
	if line != "" {
		fmt.Fprintln(r.Print, line)
	}
	if r.Then != nil {
		r.Then(e)
	}
}

// Events returns every event recorded.
func (r *Recorder) Events() []canary.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]canary.Event(nil), r.events...)
}

// Messages returns every event's message, in order.
func (r *Recorder) Messages() []string {
	var out []string
	for _, e := range r.Events() {
		out = append(out, e.Message)
	}
	return out
}

// Reasons returns every event's reason, in order.
func (r *Recorder) Reasons() []canary.Reason {
	var out []canary.Reason
	for _, e := range r.Events() {
		out = append(out, e.Reason)
	}
	return out
}

// Count returns how many events had reason.
func (r *Recorder) Count(reason canary.Reason) int {
	n := 0
	for _, e := range r.Events() {
		if e.Reason == reason {
			n++
		}
	}
	return n
}
