package kube

import (
	"hash/fnv"

	"github.com/canarykit/canarykit/canary"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
)

// EventsOptions configures Events. Zero fields mean "default".
type EventsOptions struct {
	// Component is the events' source. Default "canarykit".
	Component string
	// BurstSize is how many events per target pass client-go's spam filter at once; a release
	// emits about twenty. Default 200.
	BurstSize int
	// Writers is how many Events are written at once. The targets are spread over that many
	// client-go broadcasters by name, each with its own queue (client-go's, 1,000 events,
	// which drops what does not fit) and one writer. Default 1, client-go's (and Flagger's)
	// own: a thousand targets stepping in the same second emit a thousand Events, which one
	// writer cannot write before its queue overflows, so part of a burst is lost; more writers
	// keep the burst, but compete with the releases' own writes for the API server (at 1,000
	// targets starting at once on a 2-core test bed, 16 writers and the targets' Service
	// creations overloaded it).
	Writers int
}

// Events records a Rollout's events as Kubernetes Events on the target Deployment, through
// client-go's EventRecorder: `kubectl describe deployment podinfo` and `kubectl get events`
// show "Advance podinfo.test canary weight 10", with the engine's Reason ("Advanced", "Halted",
// "RollingBack", ...). Recording is asynchronous: one API request per event; a target's events
// are written in order by one of EventsOptions.Writers writers.
type Events struct {
	c      *Cluster
	shards []eventShard
}

// eventShard is one broadcaster and its recorder: the events of the targets hashed to it.
type eventShard struct {
	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder
}

// Events starts the event broadcasters writing to the API server. Call Shutdown when done.
func (c *Cluster) Events(opts EventsOptions) *Events {
	if opts.Component == "" {
		opts.Component = "canarykit"
	}
	if opts.BurstSize <= 0 {
		opts.BurstSize = 200
	}
	if opts.Writers <= 0 {
		opts.Writers = 1
	}
	e := &Events{c: c, shards: make([]eventShard, opts.Writers)}
	sink := &typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")}
	for i := range e.shards {
		// client-go's spam filter refills one event per 5 minutes by default; a long-lived
		// driver must keep recording: refill one per second per target and reason.
		b := record.NewBroadcaster(record.WithCorrelatorOptions(record.CorrelatorOptions{BurstSize: opts.BurstSize, QPS: 1}))
		b.StartRecordingToSink(sink)
		e.shards[i] = eventShard{broadcaster: b, recorder: b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: opts.Component})}
	}
	return e
}

// For returns the handler for t's events, for canary.Config.OnEvent.
func (e *Events) For(t canary.Target) func(canary.Event) {
	h := fnv.New32a()
	_, _ = h.Write([]byte(t.Namespace + "/" + t.Name))
	recorder := e.shards[h.Sum32()%uint32(len(e.shards))].recorder
	return func(ev canary.Event) {
		typ := corev1.EventTypeNormal
		if ev.Type == canary.EventWarning {
			typ = corev1.EventTypeWarning
		}
		recorder.Event(e.involved(t), typ, string(ev.Reason), ev.Message)
	}
}

// involved refers to the target Deployment, with its UID when the cache has it.
func (e *Events) involved(t canary.Target) *corev1.ObjectReference {
	ref := &corev1.ObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: t.Namespace, Name: t.Name}
	e.c.mu.Lock()
	nc := e.c.caches[t.Namespace]
	e.c.mu.Unlock()
	if nc != nil {
		if d, err := nc.deployment(t.Namespace, t.Name); err == nil {
			ref.UID, ref.ResourceVersion = d.UID, ""
		}
	}
	return ref
}

// Shutdown stops recording; events still queued may be dropped.
func (e *Events) Shutdown() {
	for _, sh := range e.shards {
		sh.broadcaster.Shutdown()
	}
}
