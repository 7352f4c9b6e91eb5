package notify

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	"github.com/canarykit/canarykit/canary"
)

// Defaults of Config.
const (
	DefaultQueueSize = 100
	DefaultTimeout   = 5 * time.Second // Flagger's notification timeout
)

// Route sends notifications of at least MinSeverity to a Notifier: Flagger's alert severity
// routing (info receives everything, warn receives warn and error, error receives error).
type Route struct {
	// Name identifies the route in logs. Default "route-<index>".
	Name     string
	Notifier Notifier
	// MinSeverity is the lowest severity delivered. Default SeverityInfo (everything).
	MinSeverity Severity
}

// Config configures a Dispatcher. Zero fields mean "default"; New reports every problem.
type Config struct {
	// Routes are the destinations. At least one is required.
	Routes []Route
	// QueueSize bounds the notifications waiting for delivery. Default 100.
	QueueSize int
	// Timeout bounds each delivery to one route. Default 5s.
	Timeout time.Duration
	// Cluster, if set, is added to every notification as the field "Cluster" (Flagger's
	// -cluster-name).
	Cluster string
	// Kind, if set, is the kind of the target workload (spec.targetRef.kind: Deployment,
	// DaemonSet) that Flagger's alerts name: "New Deployment detected, initialization
	// completed." and the field Target "Deployment/podinfo.test". Empty: "New workload
	// detected, ..." and "podinfo.test".
	Kind string
	// Classify, if set, replaces Flagger's alert points: it decides which events become
	// notifications and at which severity, and the event's message is the text. EveryEvent
	// notifies everything.
	Classify func(canary.Event) (Severity, bool)
	// Logger receives drops and failed deliveries. Default: discard.
	Logger logr.Logger
}

// Stats counts what a Dispatcher did.
type Stats struct {
	// Queued counts notifications accepted for delivery.
	Queued uint64
	// Dropped counts notifications lost: the queue was full, or Run stopped before their turn.
	Dropped uint64
	// Delivered and Failed count deliveries to routes (one notification may go to several).
	Delivered uint64
	Failed    uint64
}

// Dispatcher delivers notifications to routes from one goroutine (Run), so that the Rollout,
// which calls OnEvent handlers synchronously between its steps, never waits for a chat
// service: OnEvent and Send only put the notification in a bounded queue, and drop it (counted
// in Stats, logged) when the queue is full. Deliveries to the routes of one notification run
// in parallel, each bounded by Timeout; notifications are delivered in order. Safe for
// concurrent use; one Dispatcher can serve many Rollouts.
type Dispatcher struct {
	routes   []Route
	queue    chan item
	timeout  time.Duration
	cluster  string
	kind     string
	classify func(canary.Event) (Severity, bool)
	log      logr.Logger

	running                            atomic.Bool
	queued, dropped, delivered, failed atomic.Uint64
}

// item is a notification, or a Flush marker.
type item struct {
	n     Notification
	flush chan struct{}
}

// New validates cfg and returns a Dispatcher. Call Run to deliver.
func New(cfg Config) (*Dispatcher, error) {
	var p problems
	if len(cfg.Routes) == 0 {
		p.add("Routes: at least one route is required")
	}
	routes := make([]Route, len(cfg.Routes))
	for i, r := range cfg.Routes {
		if r.Name == "" {
			r.Name = fmt.Sprintf("route-%d", i)
		}
		if r.Notifier == nil {
			p.add("Routes[%d].Notifier: required", i)
		}
		if r.MinSeverity < SeverityInfo || r.MinSeverity > SeverityError {
			p.add("Routes[%d].MinSeverity: unknown severity %d", i, int(r.MinSeverity))
		}
		routes[i] = r
	}
	if cfg.QueueSize < 0 {
		p.add("QueueSize: must not be negative, got %d", cfg.QueueSize)
	}
	if cfg.Timeout < 0 {
		p.add("Timeout: must not be negative, got %s", cfg.Timeout)
	}
	if err := p.err("dispatcher"); err != nil {
		return nil, err
	}
	d := &Dispatcher{routes: routes, timeout: cfg.Timeout, cluster: cfg.Cluster, kind: cfg.Kind, classify: cfg.Classify, log: cfg.Logger}
	size := cfg.QueueSize
	if size == 0 {
		size = DefaultQueueSize
	}
	d.queue = make(chan item, size)
	if d.timeout == 0 {
		d.timeout = DefaultTimeout
	}
	if d.log.GetSink() == nil {
		d.log = logr.Discard()
	}
	return d, nil
}

// OnEvent returns the handler for canary.Config.OnEvent of a Rollout with spec (its
// MuteAlert and SkipAnalysis settings and its fields shape the alerts). Use one handler per
// Rollout: it remembers what it announced. The handler never blocks.
func (d *Dispatcher) OnEvent(spec canary.Spec) func(canary.Event) {
	if d.classify != nil {
		return func(e canary.Event) {
			if sev, ok := d.classify(e); ok {
				var fs []Field
				if d.cluster != "" {
					fs = []Field{{Name: "Cluster", Value: d.cluster}}
				}
				d.Send(Notification{Severity: sev, Target: e.Target, Message: e.Message, Fields: fs, Event: e})
			}
		}
	}
	a := newAlerter(spec, d.cluster, d.kind)
	return func(e canary.Event) {
		if n, ok := a.alert(e); ok {
			d.Send(n)
		}
	}
}

// Send queues n without blocking. It reports false, and counts a drop, when the queue is full.
func (d *Dispatcher) Send(n Notification) bool {
	select {
	case d.queue <- item{n: n}:
		d.queued.Add(1)
		return true
	default:
		d.dropped.Add(1)
		d.log.Info("notification dropped: queue full", "target", n.Target.String(), "severity", n.Severity.String(),
			"message", n.Message, "dropped", d.dropped.Load())
		return false
	}
}

// Flush waits until every notification queued before it has been delivered (or has failed),
// or until ctx ends. It needs Run to be running.
func (d *Dispatcher) Flush(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case d.queue <- item{flush: done}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats returns the counts so far.
func (d *Dispatcher) Stats() Stats {
	return Stats{Queued: d.queued.Load(), Dropped: d.dropped.Load(), Delivered: d.delivered.Load(), Failed: d.failed.Load()}
}

// Run delivers queued notifications until ctx ends, then spends at most Timeout delivering
// what is still queued (the rest counts as dropped) and returns nil. It returns ErrRunning if
// another Run is in progress.
func (d *Dispatcher) Run(ctx context.Context) error {
	if !d.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer d.running.Store(false)
	// A delivery under way when ctx ends may finish within its own timeout.
	base := context.WithoutCancel(ctx)
	for {
		select {
		case it := <-d.queue:
			d.handle(base, it)
		case <-ctx.Done():
			d.drain(base)
			return nil
		}
	}
}

// drain delivers what is queued within one Timeout.
func (d *Dispatcher) drain(base context.Context) {
	ctx, cancel := context.WithTimeout(base, d.timeout)
	defer cancel()
	for {
		select {
		case it := <-d.queue:
			if ctx.Err() != nil && it.flush == nil {
				d.dropped.Add(1)
				continue
			}
			d.handle(ctx, it)
		default:
			return
		}
	}
}

// handle delivers one notification to its routes in parallel.
func (d *Dispatcher) handle(ctx context.Context, it item) {
	if it.flush != nil {
		close(it.flush)
		return
	}
	var wg sync.WaitGroup
	for _, r := range d.routes {
		if it.n.Severity < r.MinSeverity {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx, cancel := context.WithTimeout(ctx, d.timeout)
			defer cancel()
			if err := r.Notifier.Notify(rctx, it.n); err != nil {
				d.failed.Add(1)
				d.log.Error(err, "notification failed", "route", r.Name, "target", it.n.Target.String(),
					"message", it.n.Message)
				return
			}
			d.delivered.Add(1)
		}()
	}
	wg.Wait()
}
