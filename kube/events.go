package kube

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/tools/record/util"

	"github.com/canarykit/canarykit/canary"
)

// EventsOptions configures Events. Zero fields mean "default".
type EventsOptions struct {
	// Component is the events' source. Default "canarykit".
	Component string
	// BurstSize is how many events per target pass the spam filter at once (client-go's
	// correlator, refilled one per second per target and event type); a release emits about
	// twenty. Default 200.
	BurstSize int
	// Writers is how many Events are written at once, each writer one request at a time. The
	// targets are spread over the writers by name, so a target's Events are written in order.
	// Default 16: a thousand targets stepping every 10 s emit over a hundred Events a second,
	// and an Event's creation took about a tenth of a second on a loaded API server (4
	// writers left the Events of 1,000 targets minutes behind their steps).
	Writers int
	// Queue is how many Events wait for each writer. An Event that finds its writer's queue
	// full is dropped, counted (Dropped) and logged. Default 2,500: 40,000 over the default
	// writers, a thousand targets' burst many times over.
	Queue int
	// Retry is the first wait before an Event is written again after the API server could not
	// be reached, asked to wait or failed (5xx); it doubles up to a minute, for eight tries in
	// all (about two minutes, while the writer's other targets wait). Any other refusal is
	// final. Default 1s.
	Retry time.Duration
	// Grace is how long Shutdown keeps writing the queued Events. Default 5s.
	Grace time.Duration
	// Record is which events are written: RecordAll (the default, "" too), RecordWarnings or
	// RecordNone. The events not written still reach everything else that receives them (the
	// Rollout's OnEvent: event webhooks, alerts, logs, self-metrics).
	Record EventRecord
}

// EventRecord says which of the releases' events become Kubernetes Events.
type EventRecord string

// The events recorded.
const (
	// RecordAll writes every event, as Flagger records them: a release of five weight steps
	// writes about ten (the new revision, the analysis' start, each step, the promotion), one
	// API request each: more than a third of its writes.
	RecordAll EventRecord = "all"
	// RecordWarnings writes the Warning events only: what went wrong or holds a release (a
	// workload not ready, a check halting a step, a hook failing, a rollback, an error). A
	// release that goes well writes none; the Canary's status says where it stands.
	RecordWarnings EventRecord = "warnings"
	// RecordNone writes no Event at all.
	RecordNone EventRecord = "none"
)

// writes reports whether r records an event of type typ (Normal or Warning).
func (r EventRecord) writes(typ string) bool {
	switch r {
	case RecordNone:
		return false
	case RecordWarnings:
		return typ == corev1.EventTypeWarning
	}
	return true
}

// ParseEventRecord reads s as an EventRecord: "all", "warnings" or "none" ("" is "all").
func ParseEventRecord(s string) (EventRecord, error) {
	switch r := EventRecord(s); r {
	case "", RecordAll, RecordWarnings, RecordNone:
		return r, nil
	}
	return "", fmt.Errorf("events to record %q: want %q, %q or %q", s, RecordAll, RecordWarnings, RecordNone)
}

// eventTries bounds the writes of one Event; eventMaxRetry its longest wait between two.
const (
	eventTries    = 8
	eventMaxRetry = time.Minute
)

// Events records a Rollout's events as Kubernetes Events on the target Deployment:
// `kubectl describe deployment podinfo` and `kubectl get events` show "Advance podinfo.test
// canary weight 10", with the engine's Reason ("Advanced", "Halted", "RollingBack", ...).
// ForObject records them on another object instead, under one reason: on a Flagger Canary,
// reason "Synced", as Flagger does (`kubectl describe canary podinfo`). Every Event keeps the
// engine's Reason in its action (`kubectl get events -o yaml`).
//
// Recording is asynchronous and never blocks a release: one API request per event, through
// client-go's event correlator (a repeated event becomes a count on the first one; a flood
// from one target is filtered). The correlator combines similar events: from the tenth Event
// of one object, type and engine Reason with distinct messages in ten minutes, they become one
// Event, "(combined from similar events): " and the latest message, counted. The engine's
// Reason, not the Event's, makes them similar, so that the Events of a release recorded under
// one reason on a Canary are written whole. (Flagger's recorder groups them by its one reason:
// from the tenth Event of a Canary and type in ten minutes, a release's later steps and its
// promotion or rollback show as one Event, its message replaced at each.)
//
// Each target's events go, in order, to one of EventsOptions.Writers writers, each with a
// queue of its own; what does not fit is dropped and counted, never silently (client-go's own
// recorder holds 1,000 events and drops the rest unseen, which a thousand targets stepping
// together overflow: about 2,000, its incoming queue and its writer's, each of 1,000).
//
// EventsOptions.Record leaves out the Normal events (RecordWarnings) or every event
// (RecordNone): a release's Events are most of its API requests, where what users need from
// them is in the Canary's status and the Warnings. An Analysed event (an analysis tick that changed nothing while
// the release waits for promotion approval) is never written, as Flagger writes none then.
type Events struct {
	c       *Cluster
	opts    EventsOptions
	writers []*eventWriter
	// correlator is shared by the writers (it locks its own state; a target's events all go to
	// one writer, in order), as client-go's recorder has one: its caches (client-go's 4,096
	// entries each) bound the memory of the whole driver, not of each writer
	correlator *record.EventCorrelator
	dropped    atomic.Int64
	lastLog    atomic.Int64 // unix nanoseconds of the last "dropped" log line
	lastStamp  atomic.Int64 // see stamp
	// stopping ends at Shutdown (no more waits between tries); sending at the end of its grace
	// period (requests in flight are abandoned)
	stopping, sending context.Context
	stop, abandon     context.CancelFunc
	wg                sync.WaitGroup

	mu     sync.RWMutex // guards closed against sends on the queues
	closed bool
}

// eventWriter writes the Events of the targets hashed to it, in order.
type eventWriter struct {
	queue chan *corev1.Event
}

// Events starts the event writers. Call Shutdown when done. It fails only on an unknown
// opts.Record.
func (c *Cluster) Events(opts EventsOptions) (*Events, error) {
	if _, err := ParseEventRecord(string(opts.Record)); err != nil {
		return nil, fmt.Errorf("EventsOptions.Record: %w", err)
	}
	if opts.Component == "" {
		opts.Component = "canarykit"
	}
	if opts.BurstSize <= 0 {
		opts.BurstSize = 200
	}
	if opts.Writers <= 0 {
		opts.Writers = 16
	}
	if opts.Queue <= 0 {
		opts.Queue = 2500
	}
	if opts.Retry <= 0 {
		opts.Retry = time.Second
	}
	if opts.Grace <= 0 {
		opts.Grace = 5 * time.Second
	}
	e := &Events{c: c, opts: opts, writers: make([]*eventWriter, opts.Writers),
		// the spam filter refills one event per second per target and event type (client-go's
		// default, one per 5 minutes, would silence a long-lived driver)
		correlator: record.NewEventCorrelatorWithOptions(record.CorrelatorOptions{BurstSize: opts.BurstSize, QPS: 1, KeyFunc: similar})}
	e.stopping, e.stop = context.WithCancel(context.Background())
	e.sending, e.abandon = context.WithCancel(context.Background())
	for i := range e.writers {
		w := &eventWriter{queue: make(chan *corev1.Event, opts.Queue)}
		e.writers[i] = w
		e.wg.Add(1)
		go e.run(w)
	}
	return e, nil
}

// For returns the handler for t's events, for canary.Config.OnEvent: each is recorded on the
// target Deployment under the engine's Reason.
func (e *Events) For(t canary.Target) func(canary.Event) {
	return e.handler(t, func() corev1.ObjectReference { return e.involved(t) }, "")
}

// ForObject returns the handler for t's events recorded on obj instead of the target
// Deployment, each under reason (its type and message unchanged): with obj a Flagger Canary
// and reason "Synced", as Flagger records a release's events. obj needs its apiVersion, kind,
// namespace (the Event's) and name; with its UID, the Events refer to that object only, as
// the API server's own do.
func (e *Events) ForObject(t canary.Target, obj corev1.ObjectReference, reason string) func(canary.Event) {
	return e.handler(t, func() corev1.ObjectReference { return obj }, reason)
}

// handler records t's events on the object involved returns, under reason ("" the engine's).
// A target's events all go to one writer, in order.
func (e *Events) handler(t canary.Target, involved func() corev1.ObjectReference, reason string) func(canary.Event) {
	h := fnv.New32a()
	_, _ = h.Write([]byte(t.Namespace + "/" + t.Name))
	w := e.writers[h.Sum32()%uint32(len(e.writers))]
	return func(ev canary.Event) {
		if ev.Reason == canary.ReasonAnalysed {
			return // a tick that changed nothing: Flagger records no Event
		}
		typ := corev1.EventTypeNormal
		if ev.Type == canary.EventWarning {
			typ = corev1.EventTypeWarning
		}
		if !e.opts.Record.writes(typ) {
			return
		}
		r := reason
		if r == "" {
			r = string(ev.Reason)
		}
		e.enqueue(w, e.event(involved(), typ, r, string(ev.Reason), ev.Message))
	}
}

// similar is the correlator's grouping of similar events: client-go's (source, involved
// object, type, reason) and the engine's Reason, kept in the action.
func similar(ev *corev1.Event) (key, message string) {
	key, message = record.EventAggregatorByReasonFunc(ev)
	return key + "\x00" + ev.Action, message
}

// Dropped returns how many events were not written: their writer's queue was full, they came
// after Shutdown or were still queued when its grace period ended, or their tries ran out.
// Events the API server refused (a 4xx answer) are logged, not counted.
func (e *Events) Dropped() int64 { return e.dropped.Load() }

// enqueue hands ev to w without waiting.
func (e *Events) enqueue(w *eventWriter, ev *corev1.Event) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if !e.closed {
		select {
		case w.queue <- ev:
			return
		default:
		}
	}
	n := e.dropped.Add(1)
	// one log line per 10 s at most, with the running count
	now := time.Now().UnixNano()
	last := e.lastLog.Load()
	if (last == 0 || now-last >= int64(10*time.Second)) && e.lastLog.CompareAndSwap(last, now) {
		e.c.log.Info("events dropped: the writers' queues are full or shut down", "dropped", n,
			"writers", len(e.writers), "queue", e.opts.Queue, "last", ev.Reason, "involvedObject", ev.InvolvedObject.Namespace+"/"+ev.InvolvedObject.Name)
	}
}

// event builds the Event on obj, as client-go's recorder does: named after the object and the
// time, counted once, from the Component; its action is the engine's Reason.
func (e *Events) event(obj corev1.ObjectReference, typ, reason, action, message string) *corev1.Event {
	now := metav1.Time{Time: e.c.clock.Now()}
	return &corev1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: util.GenerateEventName(obj.Name, e.stamp()), Namespace: obj.Namespace},
		InvolvedObject:      obj,
		Reason:              reason,
		Action:              action,
		Message:             message,
		FirstTimestamp:      now,
		LastTimestamp:       now,
		Count:               1,
		Type:                typ,
		Source:              corev1.EventSource{Component: e.opts.Component},
		ReportingController: e.opts.Component,
	}
}

// stamp is the time in nanoseconds for an Event's name: the real time (whatever the Cluster's
// clock says), moved on past the last stamp when it is not later, so that two Events of a
// target never share a name (a clock that stands still, two Events in one tick of a coarse
// clock).
func (e *Events) stamp() int64 {
	for {
		last := e.lastStamp.Load()
		now := max(time.Now().UnixNano(), last+1)
		if e.lastStamp.CompareAndSwap(last, now) {
			return now
		}
	}
}

// involved refers to the target, with its UID when the cache has it: the Deployment, or the
// DaemonSet of that name when the namespace's DaemonSets are cached (it has a DaemonSet
// target) and no Deployment has the name.
func (e *Events) involved(t canary.Target) corev1.ObjectReference {
	ref := corev1.ObjectReference{APIVersion: "apps/v1", Kind: KindDeployment, Namespace: t.Namespace, Name: t.Name}
	e.c.mu.Lock()
	nc := e.c.caches[t.Namespace]
	e.c.mu.Unlock()
	if nc != nil {
		if d, err := nc.deployment(t.Namespace, t.Name); err == nil {
			ref.UID = d.UID
		} else if ds, err := nc.daemonSet(t.Namespace, t.Name); err == nil {
			ref.Kind, ref.UID = KindDaemonSet, ds.UID
		}
	}
	return ref
}

// run writes w's queue until Shutdown closes it and it is empty, or its grace period ends.
func (e *Events) run(w *eventWriter) {
	defer e.wg.Done()
	for ev := range w.queue {
		if e.sending.Err() != nil {
			e.dropped.Add(1)
			continue
		}
		e.write(w, ev)
	}
}

// write correlates ev and writes it (a new Event, or a count on an earlier one), trying again
// while the API server cannot be reached or asks to wait, until Shutdown.
func (e *Events) write(w *eventWriter, ev *corev1.Event) {
	res, err := e.correlator.EventCorrelate(ev)
	if err != nil {
		e.c.log.V(1).Info("event correlation", "error", err.Error())
	}
	if res.Skip {
		return
	}
	if res.Event.Action == "" {
		// the correlator's combined Event keeps neither: both are the same for the events it
		// combines (similar keys on them)
		res.Event.Action, res.Event.ReportingController = ev.Action, ev.ReportingController
	}
	wait := e.opts.Retry
	for try := 1; ; try++ {
		err := e.send(w, res.Event, res.Patch)
		if err == nil {
			return
		}
		if !retryableEventError(err) {
			if !apierrors.IsAlreadyExists(err) && !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				e.c.log.Info("event refused by the API server; not written", "error", err.Error(),
					"reason", ev.Reason, "involvedObject", ev.InvolvedObject.Namespace+"/"+ev.InvolvedObject.Name)
			}
			return
		}
		if try == eventTries || e.stopping.Err() != nil {
			e.dropped.Add(1)
			e.c.log.Info("event not written", "error", err.Error(), "tries", try,
				"reason", ev.Reason, "involvedObject", ev.InvolvedObject.Namespace+"/"+ev.InvolvedObject.Name)
			return
		}
		d := wait
		if try == 1 { // writers that failed together do not come back together
			d = time.Duration(rand.Int64N(int64(wait)) + 1)
		}
		select {
		case <-e.stopping.Done():
		case <-time.After(d):
		}
		wait = min(2*wait, eventMaxRetry)
	}
}

// send writes ev: a patch of the earlier Event's count when the correlator made one (a create
// when that Event is gone), else a new Event. The correlator learns the written Event.
func (e *Events) send(w *eventWriter, ev *corev1.Event, patch []byte) error {
	api := e.c.client.CoreV1().Events(ev.Namespace)
	var out *corev1.Event
	var err error
	update := ev.Count > 1 && len(patch) > 0
	if update {
		out, err = api.Patch(e.sending, ev.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	}
	if !update || apierrors.IsNotFound(err) {
		ev.ResourceVersion = ""
		out, err = api.Create(e.sending, ev, metav1.CreateOptions{})
	}
	if err != nil {
		return err
	}
	e.correlator.UpdateState(out)
	return nil
}

// retryableEventError reports whether writing an Event again may succeed: the API server
// could not be reached, timed out, or asked to wait. Any other answer is final.
func retryableEventError(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return true // transport errors
	}
	return apierrors.IsTooManyRequests(err) || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) ||
		apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err) || apierrors.IsUnexpectedServerError(err)
}

// Shutdown stops recording: events given after it are dropped; those queued are written, once
// each, for up to EventsOptions.Grace, and the rest dropped. It returns when the writers have
// stopped.
func (e *Events) Shutdown() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		e.wg.Wait()
		return
	}
	e.closed = true
	for _, w := range e.writers {
		close(w.queue)
	}
	e.mu.Unlock()
	e.stop()
	grace := time.AfterFunc(e.opts.Grace, e.abandon)
	e.wg.Wait()
	grace.Stop()
	e.abandon()
}
