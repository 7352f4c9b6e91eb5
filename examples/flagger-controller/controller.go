package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/driver"
	"github.com/canarykit/canarykit/kube/flagger"
)

// Finalizer is the finalizer Flagger puts on Canaries with spec.revertOnDeletion; this
// controller uses the same, so either can finish a deletion the other started.
const Finalizer = "finalizer.flagger.app"

// Canaries is the resource of Flagger's Canary kind.
var Canaries = driver.CanaryGVR

// Controller drives every Flagger Canary of a namespace (or all) with one driver.Target per
// Canary. Replicas of it share the work with no leader: each runs the informer and a Target
// per Canary, and the target's Lease lets one replica at a time drive it.
type Controller struct {
	Driver *driver.Driver
	// Canaries lists and watches the Canary objects (a CanaryClient).
	Canaries rest.Interface
	// Dynamic reads and writes the Canary objects (finalizer, status of a moved Canary).
	Dynamic   dynamic.Interface
	Namespace string // "" watches every namespace
	Log       logr.Logger
	// Recorder records the Events on Canary objects. Required.
	Recorder record.EventRecorder
	// OnEvent, if set, gives each Canary's event handler (called again for an edited Canary).
	OnEvent func(*flagger.Canary) func(canary.Event)
	// Forget, if set, is told of every Canary deleted (its self-metrics go).
	Forget func(canary.Target)
	// Refuse, if set, is told of every Canary not driven, because it does not load or the
	// driver refuses it (its self-metrics count it, Failed, until it is fixed or deleted):
	// t.CanaryName() is the Canary, t.Name its spec.targetRef.name ("" if it cannot be read).
	// Forget is told when it is deleted.
	Refuse func(canary.Target)
	// Restore, if set, is given the status of every Canary version seen (the Canary's status
	// subresource, whichever replica wrote it): the self-metrics of every replica follow it.
	Restore func(canary.Target, canary.Status)
	// Adjust, if set, edits every Canary after it is loaded (before it is driven).
	Adjust func(*flagger.Canary)
	// RetryAfter is how long a failed deletion (or move) waits before it is tried again. Default 5s.
	RetryAfter time.Duration

	targets *driver.Targets
	// handling is held while a Canary is synced or its deletion handled: by the informer's
	// handlers and by what syncs a Canary again from another goroutine (Targets.Requeue, the
	// end of a move), so that a sync never runs beside another's, e.g. after its deletion
	handling sync.Mutex
	mu       sync.Mutex
	warned   map[string]string        // key → the problem last reported (uid/generation/message)
	byApp    map[string][]string      // target Deployment "ns/name" → Canary keys
	ending   map[string]types.UID     // key → the uid of the Canary whose deletion is being handled
	work     sync.WaitGroup           // deletions in flight
	last     map[string]loaded        // key → the last Canary loaded, for deletions
	moving   map[string]*canaryObject // keys moving to another target → the latest version (nil: deleted meanwhile)
	refused  map[string]canary.Target // key → the Canary not driven, as given to Refuse

	// finalized, set by tests only, is called with the uid of a deleted Canary once its
	// finalizer is removed, before the controller forgets it
	finalized func(types.UID)
}

// loaded is the Canary last driven under a key, and the uid of its object: the work of one
// object (its finalization, its deletion) never takes another's of the same name for its own.
type loaded struct {
	uid types.UID
	cn  *flagger.Canary
}

// Run watches Canaries until ctx ends, then stops every Target (releasing their leases) and
// returns.
func (c *Controller) Run(ctx context.Context) error {
	if c.Driver == nil || c.Canaries == nil || c.Dynamic == nil || c.Recorder == nil {
		return errors.New("controller: Driver, Canaries, Dynamic and Recorder are required")
	}
	if c.RetryAfter == 0 {
		c.RetryAfter = 5 * time.Second
	}
	c.init()

	canaries, err := canaryInformer(c.Canaries, c.Namespace)
	if err != nil {
		return err
	}
	// a second Canary of a target is refused (driver.ErrTargetTaken) until the first one's
	// Target stops; it is synced again then, from its latest version
	c.targets.Requeue = func(key string) {
		c.handling.Lock() // after the handlers of the events before it, before those after it
		defer c.handling.Unlock()
		if ctx.Err() != nil {
			return
		}
		if obj, ok, err := canaries.GetStore().GetByKey(key); err == nil && ok {
			c.sync(ctx, obj)
		}
	}
	if _, err := canaries.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { c.serially(func() { c.sync(ctx, obj) }) },
		UpdateFunc: func(old, obj any) {
			if !c.restored(old, obj) {
				c.serially(func() { c.sync(ctx, obj) })
			}
		},
		DeleteFunc: func(obj any) { c.serially(func() { c.deleted(ctx, obj) }) },
	}); err != nil {
		return err
	}
	// the target Deployments' events come from the driver's caches (its Targets read them),
	// so that each is decoded and cached once
	defer c.Driver.OnDeployment(c.kick)()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		canaries.RunWithContext(ctx)
	}()
	<-ctx.Done()
	<-stopped
	c.targets.StopAll()
	c.work.Wait()
	return nil
}

// init makes the Controller's Targets and its maps.
func (c *Controller) init() {
	c.targets = c.Driver.Targets(c.OnEvent)
	c.warned, c.byApp, c.ending, c.last = map[string]string{}, map[string][]string{}, map[string]types.UID{}, map[string]loaded{}
	c.moving, c.refused = map[string]*canaryObject{}, map[string]canary.Target{}
}

// serially runs fn holding c.handling.
func (c *Controller) serially(fn func()) {
	c.handling.Lock()
	defer c.handling.Unlock()
	fn()
}

// Keys returns the keys of the Canaries this replica runs a Target for (driving it, or
// waiting for its lease).
func (c *Controller) Keys() []string { return c.targets.Keys() }

// sync starts, updates or restarts a Canary's Target, or handles its deletion.
func (c *Controller) sync(ctx context.Context, obj any) {
	u, ok := obj.(*canaryObject)
	if !ok {
		return
	}
	key := u.GetNamespace() + "/" + u.GetName()
	if u.GetDeletionTimestamp() != nil {
		if slices.Contains(u.GetFinalizers(), Finalizer) {
			c.finalize(ctx, key, u)
		}
		return
	}
	cn, err := loadCanary(u)
	if err != nil {
		// not driven: the Target of an earlier version stops, leaving the target as it is
		c.targets.Stop(key)
		c.refuse(u)
		c.warn(u, "not driven: "+err.Error())
		return
	}
	if c.Adjust != nil {
		c.Adjust(cn)
	}
	c.finalizer(ctx, key, u, cn)
	c.mu.Lock()
	if _, moving := c.moving[key]; moving {
		c.moving[key] = u // applied once the move is done
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	if prev := c.targets.Canary(key); prev != nil && prev.Target.Name != cn.Target.Name {
		c.move(ctx, key, u, prev)
		return
	}
	applied, moved, err := c.targets.Apply(ctx, key, cn)
	if errors.Is(err, driver.ErrStopped) {
		return // the controller is stopping (a Requeue under way when it did)
	}
	if err != nil {
		c.targets.Stop(key) // as for a Canary that does not load
		c.refuse(u)
		c.warn(u, "not driven: "+err.Error())
		return
	}
	c.driven(key, u, cn)
	if applied != driver.Unchanged {
		c.Log.Info("canary "+string(applied), "canary", key, "target", cn.Target.String())
		for _, n := range cn.Notes { // conversions worth knowing, once per version driven
			c.Log.Info("canary note", "canary", key, "note", n)
		}
	}
	if u.Status.ok && c.Restore != nil {
		c.Restore(cn.Target, u.Status.st)
	}
	if moved != nil {
		// the Canary now targets another Deployment: the old one is left on its primary
		if c.Forget != nil {
			c.Forget(moved.Target)
		}
		c.async(ctx, "retire "+moved.Target.String(), func(ctx context.Context) error {
			return c.Driver.Retire(ctx, moved, driver.Retirement{})
		})
	}
}

// driven records that key's Target drives cn, loaded from u.
func (c *Controller) driven(key string, u *canaryObject, cn *flagger.Canary) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.warned, key)
	delete(c.refused, key) // driven: its self-metrics follow it (OnEvent)
	c.last[key] = loaded{uid: u.GetUID(), cn: cn}
	c.index(key, cn)
}

// move handles a Canary whose targetRef changed: its Target stops, the old target is left on
// its primary, the Canary's status (the old target's release) is cleared, and a Target for
// the new target starts from the latest version of the Canary, as for a new Canary.
func (c *Controller) move(ctx context.Context, key string, u *canaryObject, prev *flagger.Canary) {
	c.mu.Lock()
	c.moving[key] = u
	c.mu.Unlock()
	_, done := c.targets.Stop(key)
	if c.Forget != nil {
		c.Forget(prev.Target)
	}
	c.Log.Info("canary moved to another target; the old one is left on its primary", "canary", key, "from", prev.Target.String())
	c.async(ctx, "move "+key, func(ctx context.Context) error {
		<-done
		if err := c.Driver.Retire(ctx, prev, driver.Retirement{}); err != nil {
			return err
		}
		if err := c.clearStatus(ctx, u); err != nil {
			return err
		}
		c.mu.Lock()
		latest := c.moving[key]
		delete(c.moving, key)
		c.mu.Unlock()
		if latest == nil {
			return nil // deleted during the move
		}
		// the status latest holds, if any, is the old target's release, cleared above: the
		// new target's self-metrics do not start from it
		fresh := *latest
		fresh.Status = statusFields{}
		c.serially(func() { c.sync(ctx, &fresh) })
		return nil
	})
}

// clearStatus empties the status of the Canary of u's uid, if it still exists.
func (c *Controller) clearStatus(ctx context.Context, u *canaryObject) error {
	return c.editCanary(ctx, u.GetNamespace(), u.GetName(), u.GetUID(), true, func(cur *unstructured.Unstructured) bool {
		cur.Object["status"] = map[string]any{}
		return true
	})
}

// index records which Canary key targets which Deployment; c.mu must be held.
func (c *Controller) index(key string, cn *flagger.Canary) {
	for app, keys := range c.byApp {
		if i := slices.Index(keys, key); i >= 0 {
			keys = slices.Delete(keys, i, i+1)
			if len(keys) == 0 {
				delete(c.byApp, app)
			} else {
				c.byApp[app] = keys
			}
		}
	}
	if cn != nil {
		app := cn.Target.Namespace + "/" + cn.Target.Name
		c.byApp[app] = append(c.byApp[app], key)
	}
}

// kick tells the Targets of a changed Deployment to look at it now.
func (c *Controller) kick(namespace, name string) {
	c.mu.Lock()
	keys := slices.Clone(c.byApp[namespace+"/"+name])
	c.mu.Unlock()
	for _, k := range keys {
		c.targets.Kick(k)
	}
}

// async runs fn in the background until it succeeds or ctx ends, retrying after RetryAfter.
func (c *Controller) async(ctx context.Context, what string, fn func(context.Context) error) {
	c.work.Add(1)
	go func() {
		defer c.work.Done()
		for {
			err := fn(ctx)
			if err == nil || ctx.Err() != nil {
				return
			}
			c.Log.Error(err, "failed; retrying", "work", what, "in", c.RetryAfter)
			select {
			case <-ctx.Done():
				return
			case <-time.After(c.RetryAfter):
			}
		}
	}()
}

// refuse tells Refuse of a Canary not driven, named after its object and the targetRef.name
// its spec has, and remembers it for its deletion.
func (c *Controller) refuse(u *canaryObject) {
	if c.Refuse == nil {
		return
	}
	t := canary.Target{Namespace: u.GetNamespace(), Name: targetName(u.Spec)}
	if t.Name != u.GetName() {
		t.Canary = u.GetName()
	}
	c.mu.Lock()
	c.refused[u.GetNamespace()+"/"+u.GetName()] = t
	c.mu.Unlock()
	c.Refuse(t)
}

// forgetRefused tells Forget of a deleted Canary that was not driven.
func (c *Controller) forgetRefused(key string) {
	c.mu.Lock()
	t, ok := c.refused[key]
	delete(c.refused, key)
	c.mu.Unlock()
	if ok && c.Forget != nil {
		c.Forget(t)
	}
}

// targetName reads spec.targetRef.name from a Canary's spec as it came in: "" when it is not
// a string (the Canary does not load).
func targetName(spec json.RawMessage) string {
	var s struct {
		TargetRef struct {
			Name any `json:"name"`
		} `json:"targetRef"`
	}
	if json.Unmarshal(spec, &s) != nil {
		return ""
	}
	name, _ := s.TargetRef.Name.(string)
	return name
}

// MaxWarning bounds the problem a Canary not driven is told of, in bytes (as Kubernetes bounds
// an events.k8s.io Event's note).
const MaxWarning = 1024

// warn records a Warning Event on the Canary, once per problem and version of its spec.
func (c *Controller) warn(u *canaryObject, msg string) {
	msg = canary.CutText(msg, MaxWarning)
	key := u.GetNamespace() + "/" + u.GetName()
	seen := fmt.Sprintf("%s/%d/%s", u.GetUID(), u.GetGeneration(), msg)
	c.mu.Lock()
	dup := c.warned[key] == seen
	c.warned[key] = seen
	c.mu.Unlock()
	c.Log.Info("canary not driven", "canary", key, "problem", msg)
	if !dup {
		c.Recorder.Event(canaryRef(u), corev1.EventTypeWarning, driver.CanaryEventReason, msg)
	}
}

// canaryRef is the Event's involved object: the Canary.
func canaryRef(u *canaryObject) *corev1.ObjectReference {
	return &corev1.ObjectReference{APIVersion: "flagger.app/v1beta1", Kind: "Canary", Namespace: u.GetNamespace(), Name: u.GetName(),
		UID: u.GetUID(), ResourceVersion: u.GetResourceVersion()}
}

// loadCanary decodes a Canary with kube/flagger.
func loadCanary(u *canaryObject) (*flagger.Canary, error) {
	obj, err := u.object()
	if err != nil {
		return nil, err
	}
	return flagger.CanaryFromObject(obj)
}
