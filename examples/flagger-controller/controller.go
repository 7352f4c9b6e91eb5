package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/driver"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
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

// deleted handles a Canary gone from the API server (without finalizer, or after it): its
// Target stops and the traffic is left on the primary. So is the target of a Canary refused
// since it was last driven (its Target stopped where it was), unless another Canary has it.
func (c *Controller) deleted(ctx context.Context, obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	u, ok := obj.(*canaryObject)
	if !ok {
		return
	}
	key, uid := u.GetNamespace()+"/"+u.GetName(), u.GetUID()
	c.mu.Lock()
	var cn *flagger.Canary
	if l := c.last[key]; l.uid == uid {
		cn = l.cn
		delete(c.last, key)
	}
	_, moving := c.moving[key]
	if moving {
		c.moving[key] = nil // gone: the move retires the old target and starts no Target
	}
	handled := c.isEnding(key, uid) || moving // the finalizer's or the move's work retires it
	delete(c.warned, key)
	c.index(key, nil)
	shared := cn != nil && len(c.byApp[cn.Target.Namespace+"/"+cn.Target.Name]) > 0
	c.mu.Unlock()
	c.forgetRefused(key)
	running, done := c.targets.Forget(key)
	switch {
	case cn == nil || handled:
		return // never driven, or its deletion was handled with the finalizer
	case running == nil && shared:
		return // refused since it drove its target, which another Canary has now
	}
	// running, or refused since it drove its target (edited to a spec not driven, which
	// stopped its Target where it was): the target of the version last driven is retired
	if c.Forget != nil {
		c.Forget(cn.Target)
	}
	app := cn.Target.Namespace + "/" + cn.Target.Name
	c.async(ctx, "retire "+key, func(ctx context.Context) error {
		<-done // this replica's Target released the lease
		return c.Driver.Retire(ctx, cn, driver.Retirement{Due: func(ctx context.Context) (bool, error) {
			return c.retireDue(ctx, u, app)
		}})
	})
}

// retireDue reports whether the target app of u, a deleted Canary, is still to be retired now
// that its lease is held: not when u was created again (its Target drives the target), nor
// when another Canary drives it now (one that waited for the target and took its lease first:
// the retirement, waiting on the lease, would otherwise cut that Canary's release short).
func (c *Controller) retireDue(ctx context.Context, u *canaryObject, app string) (bool, error) {
	c.mu.Lock()
	taken := len(c.byApp[app]) > 0
	c.mu.Unlock()
	if taken {
		return false, nil
	}
	cur, err := c.Dynamic.Resource(Canaries).Namespace(u.GetNamespace()).Get(ctx, u.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	return err == nil && cur.GetUID() == u.GetUID(), err
}

// finalize handles the deletion of a Canary that holds the finalizer: the Target stops, the
// target is handed back (spec.revertOnDeletion) or left on the primary, and the finalizer is
// removed. Every replica does this; the target's Lease makes one of them do the work, and
// the others find the finalizer gone.
func (c *Controller) finalize(ctx context.Context, key string, u *canaryObject) {
	ns, name, uid := u.GetNamespace(), u.GetName(), u.GetUID()
	c.mu.Lock()
	if c.isEnding(key, uid) {
		c.mu.Unlock()
		return
	}
	c.ending[key] = uid // a finalization of an earlier object of this name, still under way, ends aside
	var cn *flagger.Canary
	if l := c.last[key]; l.uid == uid {
		cn = l.cn
	}
	c.index(key, nil)
	c.mu.Unlock()
	if loaded, err := loadCanary(u); err == nil {
		if c.Adjust != nil {
			c.Adjust(loaded)
		}
		cn = loaded
	}
	_, done := c.targets.Forget(key)
	if cn != nil && c.Forget != nil {
		c.Forget(cn.Target)
	}
	c.forgetRefused(key)
	// Flagger's Events on a Canary all have the reason Synced, the controller's as well
	c.Recorder.Eventf(canaryRef(u), corev1.EventTypeNormal, driver.CanaryEventReason, "Terminating canary %s.%s", name, ns)
	c.async(ctx, "finalize "+key, func(ctx context.Context) error {
		<-done
		if cn != nil {
			revert := cn.RevertOnDeletion
			retired := false // the last answer of Due: true when this replica did the work
			err := c.Driver.Retire(ctx, cn, driver.Retirement{Revert: revert, Due: func(ctx context.Context) (bool, error) {
				due, err := c.finalizeDue(ctx, u)
				retired = due && err == nil
				return due, err
			}})
			if err != nil {
				return err
			}
			if retired { // not when another replica did it
				c.Recorder.Eventf(canaryRef(u), corev1.EventTypeNormal, driver.CanaryEventReason, "Terminated canary %s.%s", name, ns)
			}
		}
		if err := c.removeFinalizer(ctx, ns, name, uid); err != nil {
			return err
		}
		if c.finalized != nil {
			c.finalized(uid)
		}
		c.mu.Lock()
		if c.isEnding(key, uid) { // not another object's of this name, created since
			delete(c.ending, key)
		}
		if c.last[key].uid == uid {
			delete(c.last, key)
		}
		c.mu.Unlock()
		return nil
	})
}

// isEnding reports whether the deletion of the Canary of key and uid is being handled; c.mu
// must be held.
func (c *Controller) isEnding(key string, uid types.UID) bool {
	e, ok := c.ending[key]
	return ok && e == uid
}

// finalizeDue reports whether the target app of u, a Canary being deleted with the finalizer,
// is still to be retired: while u exists with the finalizer (not removed by another replica
// that did the work, not created again under its name).
func (c *Controller) finalizeDue(ctx context.Context, u *canaryObject) (bool, error) {
	cur, err := c.Dynamic.Resource(Canaries).Namespace(u.GetNamespace()).Get(ctx, u.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil && cur.GetUID() == u.GetUID() && slices.Contains(cur.GetFinalizers(), Finalizer), err
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

// finalizer puts the finalizer on u, a Canary not being deleted, when cn, loaded from it,
// asks for spec.revertOnDeletion, and removes it when cn does not, as Flagger does for a Canary
// that opts out: the finalizer would otherwise keep such a Canary (and its namespace) from
// being deleted without the controller, for nothing.
func (c *Controller) finalizer(ctx context.Context, key string, u *canaryObject, cn *flagger.Canary) {
	has := slices.Contains(u.GetFinalizers(), Finalizer)
	switch {
	case cn.RevertOnDeletion && !has:
		c.async(ctx, "add the finalizer to "+key, func(ctx context.Context) error { return c.addFinalizer(ctx, u) })
	case !cn.RevertOnDeletion && has:
		c.async(ctx, "remove the finalizer from "+key, func(ctx context.Context) error { return c.optOut(ctx, u) })
	}
}

// optOut removes the finalizer from the Canary of u's uid, unless it is being deleted (its
// deletion is finalize's), asks for spec.revertOnDeletion again, lacks it, or is gone.
func (c *Controller) optOut(ctx context.Context, u *canaryObject) error {
	return c.editCanary(ctx, u.GetNamespace(), u.GetName(), u.GetUID(), false, func(cur *unstructured.Unstructured) bool {
		revert, _, _ := unstructured.NestedBool(cur.Object, "spec", "revertOnDeletion")
		if cur.GetDeletionTimestamp() != nil || revert || !slices.Contains(cur.GetFinalizers(), Finalizer) {
			return false
		}
		cur.SetFinalizers(slices.DeleteFunc(cur.GetFinalizers(), func(f string) bool { return f == Finalizer }))
		return true
	})
}

// addFinalizer puts the finalizer on the Canary of u's uid, unless it has it, is being
// deleted or is gone.
func (c *Controller) addFinalizer(ctx context.Context, u *canaryObject) error {
	return c.editCanary(ctx, u.GetNamespace(), u.GetName(), u.GetUID(), false, func(cur *unstructured.Unstructured) bool {
		if cur.GetDeletionTimestamp() != nil || slices.Contains(cur.GetFinalizers(), Finalizer) {
			return false
		}
		cur.SetFinalizers(append(cur.GetFinalizers(), Finalizer))
		return true
	})
}

// removeFinalizer removes the finalizer from the Canary of that uid, if it still has it.
func (c *Controller) removeFinalizer(ctx context.Context, ns, name string, uid types.UID) error {
	return c.editCanary(ctx, ns, name, uid, false, func(cur *unstructured.Unstructured) bool {
		if !slices.Contains(cur.GetFinalizers(), Finalizer) {
			return false
		}
		cur.SetFinalizers(slices.DeleteFunc(cur.GetFinalizers(), func(f string) bool { return f == Finalizer }))
		return true
	})
}

// editCanary changes the Canary ns/name of uid with edit, which returns false to leave it as
// it is, through its status subresource with status. A conflict reads it again; a Canary gone,
// or created again under its name (another uid), is left alone.
func (c *Controller) editCanary(ctx context.Context, ns, name string, uid types.UID, status bool, edit func(*unstructured.Unstructured) bool) error {
	res := c.Dynamic.Resource(Canaries).Namespace(ns)
	for {
		cur, err := res.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if cur.GetUID() != uid || !edit(cur) {
			return nil
		}
		if status {
			_, err = res.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		} else {
			_, err = res.Update(ctx, cur, metav1.UpdateOptions{})
		}
		switch {
		case apierrors.IsConflict(err):
			continue
		case apierrors.IsNotFound(err):
			return nil
		}
		return err
	}
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
	msg = shortened(msg, MaxWarning)
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

// shortened is s cut to at most n bytes on a rune boundary, ending in "…" when cut.
func shortened(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ellipsis = "…"
	n -= len(ellipsis)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + ellipsis
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
