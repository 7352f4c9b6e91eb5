package main

// A Canary's deletion: its finalizer, put on and taken off with spec.revertOnDeletion, and
// the retirement of its target, with the finalizer or after the Canary is gone.

import (
	"context"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/canarykit/canarykit/kube/driver"
	"github.com/canarykit/canarykit/kube/flagger"
)

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
	// Flagger's Events on a Canary all have the reason Synced, the controller's as well;
	// Terminating and Terminated are recorded by the replica that does the work only
	var once sync.Once // once across the retries of the work
	terminating := func() {
		once.Do(func() {
			c.Recorder.Eventf(canaryRef(u), corev1.EventTypeNormal, driver.CanaryEventReason, "Terminating canary %s.%s", name, ns)
		})
	}
	if cn == nil {
		terminating() // nothing to retire: this replica is as good as any
	}
	c.async(ctx, "finalize "+key, func(ctx context.Context) error {
		<-done
		if cn != nil {
			revert := cn.RevertOnDeletion
			retired := false // true when this replica did the work
			err := c.Driver.Retire(ctx, cn, driver.Retirement{Revert: revert,
				Due:     func(ctx context.Context) (bool, error) { return c.finalizeDue(ctx, u) },
				Started: func() { retired = true; terminating() }})
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
