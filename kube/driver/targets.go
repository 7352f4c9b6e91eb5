package driver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/mesh/istioapi"
)

// ErrRebind: a Canary given to Target.Update drives something else than the Target was built
// for (another target Deployment, Service, router or workload setting); it needs a new Target.
var ErrRebind = errors.New("canary binds the target differently")

// Update gives the Target a new version of its Canary (an edit of the object): the analysis,
// metrics, webhooks and alerts apply from the next release, as in Flagger; a release running
// keeps the spec it started with. spec.suspend applies at once: set, the running release is
// paused (as Pause does) and no release starts; cleared, the release is resumed. A Canary that
// binds the target differently (Bound is false) is refused with ErrRebind.
func (t *Target) Update(c *flagger.Canary) error {
	if !Bound(t.c.Load(), c) {
		return fmt.Errorf("%w: %s", ErrRebind, c.Target)
	}
	if prev := t.c.Swap(c); prev.Suspend != c.Suspend {
		t.mu.Lock()
		if r := t.running; r != nil {
			suspend(r, c.Suspend)
		}
		t.mu.Unlock()
		t.Kick()
	}
	return nil
}

// suspend pauses r for spec.suspend, or resumes it.
func suspend(r *canary.Rollout, on bool) {
	if on {
		r.Pause()
	} else {
		r.Resume()
	}
}

// Bound reports whether two versions of a Canary drive the same thing the same way: the same
// target and Services, router, gateway parents, routing service (hosts, Istio gateways and
// Istio fields: trafficPolicy, match, rewrite, timeout, retries, corsPolicy, headers), the
// HTTPRoute's backendTimeout and workload settings, the Services' metadata, headless and
// trafficDistribution among them (what the Target's router and workload are built from).
// Only their analysis may differ: a Target takes such an edit with Update; any other edit
// needs a new Target.
func Bound(a, b *flagger.Canary) bool {
	return binding(a) == binding(b)
}

func binding(c *flagger.Canary) string {
	b, _ := json.Marshal(struct {
		Target      canary.Target
		Workload    flagger.Workload
		Router      flagger.Router
		GatewayRefs []flagger.ParentRef
		Service     istioapi.Service
		Timeout     string
		TimeoutOff  bool
	}{c.Target, c.Workload, c.Router, c.GatewayRefs, c.Service, c.BackendTimeout, c.RequestTimeoutOff})
	return string(b)
}

// ErrTargetTaken: a Canary given to Targets.Apply targets a Deployment that another key's
// Target drives. A target Deployment has one Canary.
var ErrTargetTaken = errors.New("the target Deployment has another Canary")

// ErrStopped: Apply was called after Targets.StopAll (a Requeue under way when it was called,
// say). Nothing is started.
var ErrStopped = errors.New("the Targets were stopped (StopAll)")

// Targets runs one Target per key (a Canary object, an annotated Deployment) for a controller:
// Apply starts a key's Target, hands an edit to it, or replaces it when the edit binds the
// target differently (the old Target releases the lease before the new one starts); Stop ends
// it. Its methods never block on a Target, so they can be called from informer handlers.
//
// A target Deployment has one Canary: Apply refuses a key whose target another key's Target
// drives (ErrTargetTaken), and Requeue is told of the key once that Target has stopped. The
// Canary the target's objects were made for (kube.AnnotationCanary) keeps the target whatever
// the order of Apply: a Target those objects refuse (kube.CanaryConflictError) gives way to
// that Canary when it is applied, and Requeue is told of both.
type Targets struct {
	d       *Driver
	onEvent func(*flagger.Canary) func(canary.Event)
	// Requeue, if set (before the first Apply), is called on a goroutine of its own with a key
	// whose Apply is to be made again with its latest Canary: a key refused with
	// ErrTargetTaken whose target was freed, or one whose Target gave way.
	Requeue func(key string)

	mu      sync.Mutex
	by      map[string]*runningTarget
	waiting map[string]map[string]string // target Deployment "ns/name" → refused keys → Canary name
	closed  bool                         // StopAll was called: nothing is requeued
	all     sync.WaitGroup
}

// runningTarget is one key's Target and how to stop it.
type runningTarget struct {
	target  *Target
	canary  *flagger.Canary
	handler atomic.Pointer[func(canary.Event)] // the current Canary's event handler
	cancel  context.CancelFunc
	done    chan struct{}          // closed when Start has returned (the lease released)
	refused atomic.Pointer[string] // the Canary the target's objects were made for, once they refused this one
}

// deployment is the "namespace/name" of c's target Deployment.
func deployment(c *flagger.Canary) string { return c.Target.Namespace + "/" + c.Target.Name }

// targetTaken is ErrTargetTaken for c, whose target app is the target of other's Canary (key
// k). Targets of two kinds count as one when they share a name: the Services, route objects
// and Lease are named after it.
func targetTaken(c, other *flagger.Canary, app, k string) error {
	kind, otherKind := kindOf(c), kindOf(other)
	if kind == otherKind {
		return fmt.Errorf("spec.targetRef: %w: %s %s is the target of %s (a %s has one Canary)", ErrTargetTaken, kind, app, k, kind)
	}
	return fmt.Errorf("spec.targetRef: %w: %s %s is the target of %s, and this %s of the same name would share its Services, routes and Lease (named after the target); name one of them apart",
		ErrTargetTaken, otherKind, app, k, kind)
}

// kindOf is c's target kind, Deployment when unset.
func kindOf(c *flagger.Canary) string {
	if c.Workload.Kind == "" {
		return "Deployment"
	}
	return c.Workload.Kind
}

func (r *runningTarget) onEvent(e canary.Event) {
	if h := r.handler.Load(); h != nil && *h != nil {
		(*h)(e)
	}
}

// Targets returns an empty set of Targets on d. onEvent, if set, is asked for the event
// handler of each Canary given to Apply (a new Target, or an edit of a running one: the
// events go to the handler of the latest version).
func (d *Driver) Targets(onEvent func(*flagger.Canary) func(canary.Event)) *Targets {
	return &Targets{d: d, onEvent: onEvent, by: map[string]*runningTarget{}, waiting: map[string]map[string]string{}}
}

// claim refuses c under key when another key's Target drives c's target, unless that Target
// was refused by the objects made for c's Canary: it is stopped then, to be applied again once
// it has (Requeue). ts.mu must be held.
func (ts *Targets) claim(key string, c *flagger.Canary) error {
	app := deployment(c)
	ts.unwait(key, app) // an edited targetRef: it waits for this target only
	for k, r := range ts.by {
		if k == key || deployment(r.canary) != app {
			continue
		}
		if by := r.refused.Load(); by == nil || *by != c.Target.CanaryName() {
			ts.wait(app, key, c.Target.CanaryName())
			return targetTaken(c, r.canary, app, k)
		}
		delete(ts.by, k) // it gives way to the Canary the target's objects were made for
		r.cancel()
		ts.d.opts.Logger.Info("target given to the Canary its objects were made for", "target", app, "from", k, "to", key)
		ts.wait(app, k, r.canary.Target.CanaryName())
		ts.requeue(r.done, app)
	}
	ts.unwait(key, "")
	return nil
}

// wait records key (Canary name) as refused for app. ts.mu must be held.
func (ts *Targets) wait(app, key, name string) {
	if ts.waiting[app] == nil {
		ts.waiting[app] = map[string]string{}
	}
	ts.waiting[app][key] = name
}

// requeue tells Requeue of the keys waiting for app once done is closed (the Target that
// drove app has stopped and released the lease).
func (ts *Targets) requeue(done <-chan struct{}, app string) {
	if ts.Requeue == nil {
		return
	}
	go func() {
		<-done
		ts.mu.Lock()
		if ts.closed {
			ts.mu.Unlock()
			return
		}
		keys := make([]string, 0, len(ts.waiting[app]))
		for k := range ts.waiting[app] {
			keys = append(keys, k)
		}
		delete(ts.waiting, app)
		ts.mu.Unlock()
		sort.Strings(keys)
		for _, k := range keys {
			ts.Requeue(k)
		}
	}()
}

// refusedBy records that the objects of r's target were made for Canary name, and has the key
// waiting for the target under that name, if any, applied again: r gives way to it.
func (ts *Targets) refusedBy(r *runningTarget, name string) {
	if prev := r.refused.Swap(&name); prev != nil && *prev == name {
		return // told already
	}
	ts.mu.Lock()
	var key string
	for k, n := range ts.waiting[deployment(r.canary)] {
		if n == name {
			key = k
		}
	}
	closed := ts.closed
	ts.mu.Unlock()
	if key != "" && ts.Requeue != nil && !closed {
		go ts.Requeue(key)
	}
}

func (ts *Targets) handler(c *flagger.Canary) *func(canary.Event) {
	var h func(canary.Event)
	if ts.onEvent != nil {
		h = ts.onEvent(c)
	}
	return &h
}

// Applied says what Apply did.
type Applied string

const (
	Started   Applied = "started"   // a new Target
	Updated   Applied = "updated"   // the running Target takes the edit from its next release
	Restarted Applied = "restarted" // the old Target stops; a new one starts once it has
	Unchanged Applied = "unchanged" // the same Canary again: the Target was kicked
)

// Apply drives c under key until ctx ends or Stop(key). With a Target already running for key,
// an edit of the analysis goes to it (Target.Update), an edit that binds the target
// differently restarts it. The previous Canary is returned when the edit moved the Target to
// another target Deployment: that one is no longer driven, and the caller decides what to do
// with it (Driver.Retire). A Canary the driver cannot drive is an error naming its field, and
// the key's running Target, if any, is left as it is.
func (ts *Targets) Apply(ctx context.Context, key string, c *flagger.Canary) (Applied, *flagger.Canary, error) {
	ts.mu.Lock()
	cur := ts.by[key]
	ts.mu.Unlock()
	if cur != nil {
		if binding(cur.canary) == binding(c) {
			if same(cur.canary, c) {
				cur.target.Kick()
				return Unchanged, nil, nil
			}
			if err := cur.target.Update(c); err != nil {
				return "", nil, err
			}
			ts.mu.Lock()
			cur.canary = c
			ts.mu.Unlock()
			cur.handler.Store(ts.handler(c))
			cur.target.Kick()
			return Updated, nil, nil
		}
	}
	r := &runningTarget{canary: c, done: make(chan struct{})}
	tg, err := ts.d.Target(c, r.onEvent)
	if err != nil {
		return "", nil, err
	}
	r.target = tg
	tg.conflict = func(name string) { ts.refusedBy(r, name) }
	r.handler.Store(ts.handler(c))
	var prev *runningTarget
	ts.mu.Lock()
	if ts.closed {
		ts.mu.Unlock()
		return "", nil, ErrStopped
	}
	if err := ts.claim(key, c); err != nil {
		ts.mu.Unlock()
		return "", nil, err
	}
	if cur = ts.by[key]; cur != nil {
		prev = cur
		cur.cancel()
		if deployment(cur.canary) != deployment(c) {
			ts.requeue(cur.done, deployment(cur.canary)) // its old target is free
		}
	}
	tctx, cancel := context.WithCancel(ctx)
	r.cancel = cancel
	ts.by[key] = r
	ts.all.Add(1)
	ts.mu.Unlock()
	// the Target waits without a goroutine between releases; release errors are its own to log
	// and retry
	finished := func() {
		close(r.done)
		ts.all.Done()
	}
	start := func() {
		if err := tg.start(tctx, finished); err != nil { // a new Target: it starts
			finished()
		}
	}
	if prev == nil {
		start()
	} else {
		go func() {
			<-prev.done // the old Target releases the lease first
			start()
		}()
	}
	if prev == nil {
		return Started, nil, nil
	}
	var moved *flagger.Canary
	if prev.canary.Target.Namespace != c.Target.Namespace || prev.canary.Target.Name != c.Target.Name {
		moved = prev.canary
	}
	return Restarted, moved, nil
}

// same reports whether two versions of a Canary are the same in every field the driver uses.
func same(a, b *flagger.Canary) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

// Kick asks key's Target, if any, to look for a new revision now.
func (ts *Targets) Kick(key string) {
	ts.mu.Lock()
	r := ts.by[key]
	ts.mu.Unlock()
	if r != nil {
		r.target.Kick()
	}
}

// Stop stops key's Target without waiting and returns the Canary it drove (nil when none) and
// a channel closed once the Target has stopped and released the target's lease.
func (ts *Targets) Stop(key string) (*flagger.Canary, <-chan struct{}) {
	ts.mu.Lock()
	r := ts.by[key]
	delete(ts.by, key)
	if r != nil {
		ts.requeue(r.done, deployment(r.canary))
	}
	ts.mu.Unlock()
	if r == nil {
		done := make(chan struct{})
		close(done)
		return nil, done
	}
	r.cancel()
	return r.canary, r.done
}

// Forget is Stop for a Canary that is gone (deleted): key no longer waits for a target either,
// so Requeue is not told of it when that target frees up.
func (ts *Targets) Forget(key string) (*flagger.Canary, <-chan struct{}) {
	ts.mu.Lock()
	ts.unwait(key, "")
	ts.mu.Unlock()
	return ts.Stop(key)
}

// unwait removes key from the keys waiting for a target other than except. ts.mu must be held.
func (ts *Targets) unwait(key, except string) {
	for app, w := range ts.waiting {
		if _, ok := w[key]; ok && app != except {
			delete(w, key)
			if len(w) == 0 {
				delete(ts.waiting, app)
			}
		}
	}
}

// Canary returns the Canary key's Target drives, or nil.
func (ts *Targets) Canary(key string) *flagger.Canary {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if r := ts.by[key]; r != nil {
		return r.canary
	}
	return nil
}

// Target returns key's Target, or nil.
func (ts *Targets) Target(key string) *Target {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if r := ts.by[key]; r != nil {
		return r.target
	}
	return nil
}

// Keys returns the keys of the Targets running, sorted.
func (ts *Targets) Keys() []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	out := make([]string, 0, len(ts.by))
	for k := range ts.by {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// StopAll stops every Target and waits until all have returned (their leases released); no key
// is requeued after it, and Apply starts nothing (ErrStopped).
func (ts *Targets) StopAll() {
	ts.mu.Lock()
	ts.closed = true
	ts.mu.Unlock()
	for _, k := range ts.Keys() {
		ts.Stop(k)
	}
	ts.all.Wait()
}
