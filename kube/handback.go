package kube

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/canarykit/canarykit/canary"
)

// The hand-back of a target, in the order a controller runs it when a Flagger Canary with
// spec.revertOnDeletion is deleted: RestoreTarget, wait until Observe reports the target
// ready, HandBackApex, remove the route objects (the router's), then RemoveGenerated. Each
// step is idempotent, so a hand-back interrupted half-way is finished by running it again.

// RestoreTarget scales the target back up to serve on its own: to the primary's replicas when
// the primary exists (Flagger's finalizer does the same), else by ScaleUp's rule. It returns
// the replicas asked for. A target ScaledObject is resumed first (the pause annotation
// removed), as Flagger's finalizer does. A primary canarykit made for another Canary of the
// target is refused (a permanent error): the target is that Canary's. A DaemonSet target
// loses its ScaleToZeroNodeSelector (it returns 1: a DaemonSet has no replicas).
func (w *Workload) RestoreTarget(ctx context.Context, t canary.Target) (int32, error) {
	nc, d, err := w.lookup(ctx, t)
	if err != nil {
		return 0, err
	}
	if w.keda() {
		// as Flagger's finalizer: resumed, so the target is not held at zero by KEDA (a
		// ScaledObject deleted meanwhile has nothing to resume)
		if err := w.resumeScaledObject(ctx, nc, true); err != nil {
			return 0, err
		}
	}
	p, err := w.kind.cached(nc, t.Namespace, t.PrimaryName())
	switch {
	case apierrors.IsNotFound(err):
		if err := w.ScaleUp(ctx, t); err != nil {
			return 0, err
		}
		d, err = w.target(ctx, nc)
		if err != nil {
			return 0, err
		}
		return w.replicasOf(d), nil
	case err != nil:
		return 0, err
	}
	if err := w.checkOwned(p.ObjectMeta, w.kind.resource(), d); err != nil {
		return 0, err // another Canary's primary: the target is not this Canary's to hand back
	}
	n := w.replicasOf(p)
	if n < 1 {
		n = 1
	}
	if w.replicasOf(d) == n {
		return n, nil
	}
	return n, w.scale(ctx, n)
}

// HasPrimary reports, from the caches, whether the target has its primary and it is the
// Workload's (made for its target and Canary, or by Flagger for its Canary): whether the target
// was bootstrapped, whatever revision its primary records (a primary Flagger made records none
// until canarykit promotes it). A primary made for another Canary of the target counts as none.
func (w *Workload) HasPrimary(ctx context.Context, t canary.Target) (bool, error) {
	nc, d, err := w.lookup(ctx, t)
	if err != nil {
		return false, err
	}
	found, owned, err := w.primaryOwned(nc, d, t)
	return found && owned == nil, err
}

// primaryOwned looks the target's primary up in nc: found is false when it does not exist,
// and owned is why it is not the Workload's for target d (nil when it is).
func (w *Workload) primaryOwned(nc *nsCache, d app, t canary.Target) (found bool, owned, err error) {
	p, err := w.kind.cached(nc, t.Namespace, t.PrimaryName())
	switch {
	case apierrors.IsNotFound(err):
		return false, nil, nil
	case err != nil:
		return false, nil, err
	}
	return true, w.checkOwned(p.ObjectMeta, w.kind.resource(), d), nil
}

// OtherCanary returns, from the caches, the Canary the target's primary was made for when that
// is another Canary of the target than the Workload's (CanaryConflictError's Canary): the
// target is that Canary's, and nothing of it is this one's to retire. Without a primary, the
// apex Service tells: one canarykit made for the target's name and another Canary (the primary
// and Services of a Deployment target, when the Workload's target is a DaemonSet of the same
// name: the Services, route objects and Lease are named after the target's name alone) names
// that Canary. It is "" when the primary is the Workload's, Flagger's for its Canary, records
// no Canary, or when neither it nor such an apex Service exists.
func (w *Workload) OtherCanary(ctx context.Context, t canary.Target) (string, error) {
	nc, d, err := w.lookup(ctx, t)
	if err != nil {
		return "", err
	}
	found, owned, err := w.primaryOwned(nc, d, t)
	if err != nil {
		return "", err
	}
	if !found {
		if owned, err = w.apexOwned(nc, d, t); err != nil {
			return "", err
		}
	}
	var conflict *CanaryConflictError
	if !errors.As(owned, &conflict) {
		return "", nil
	}
	return conflict.Canary, nil
}

// apexOwned is why the target's apex Service, in nc, is not the Workload's for target d (nil
// when it is, or when it does not exist).
func (w *Workload) apexOwned(nc *nsCache, d app, t canary.Target) (owned, err error) {
	svc, err := nc.service(t.Namespace, t.ApexService())
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return w.checkOwned(svc, "service", d), nil
}

func (w *Workload) replicasOf(d app) int32 {
	r := w.kind.replicas(d)
	if r == nil {
		return 1
	}
	return *r
}

// HandBackApex points the apex Service at the target's own pods and removes canarykit's label
// and annotations from it, so it is the user's again (a later Canary adopts it as it adopts any
// unlabelled apex). An apex Service canarykit created also loses the labels and annotations
// ApexMetadata set, and the target's owner reference; one it adopted (see AnnotationAdopted)
// keeps every other label and annotation as it is, the user's. An apex Service that does not
// exist, or that canarykit does not manage for this target, is left alone.
func (w *Workload) HandBackApex(ctx context.Context, t canary.Target) error {
	nc, d, err := w.lookup(ctx, t)
	if err != nil {
		return err
	}
	key, value, err := selectorLabel(d)
	if err != nil {
		return err
	}
	name := t.ApexService()
	cur, err := nc.service(t.Namespace, name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if unlabelled(cur) && cur.Spec.Selector[key] == value && len(cur.Spec.Selector) == 1 {
		return nil // already handed back
	}
	if err := w.checkOwned(cur, "service", d); err != nil {
		w.log.Info("apex service not managed by canarykit for the target; left alone", "service", name, "reason", err.Error())
		return nil
	}
	adopted := w.adoptedApex(nc, cur, d)
	u := cur.DeepCopy()
	u.Spec.Selector = map[string]string{key: value}
	delete(u.Labels, canary.LabelManagedBy)
	delete(u.Annotations, AnnotationTarget)
	delete(u.Annotations, AnnotationCanary)
	delete(u.Annotations, AnnotationAdopted)
	if adopted {
		// the user's labels and annotations stay as they are; a record an earlier canarykit
		// wrote goes, not the keys it lists (which of them were the user's is not known)
		delete(u.Annotations, canary.AnnotationMetadata)
	} else {
		// the Canary's apex labels and annotations go with it (others' and unmanaged keys stay)
		u.Labels, u.Annotations, _ = canary.ApplyMetadata(u.Labels, u.Annotations, canary.Metadata{}, w.opts.UnmanagedMetadata)
		u.OwnerReferences = withoutOwner(u.OwnerReferences, d.Kind, d.Name)
	}
	// and every other key of canarykit's, such as the Kubernetes router's record of the
	// Deployment it routes to
	maps.DeleteFunc(u.Annotations, func(k, _ string) bool { return strings.HasPrefix(k, canary.ReservedPrefix) })
	maps.DeleteFunc(u.Labels, func(k, _ string) bool { return strings.HasPrefix(k, canary.ReservedPrefix) })
	if _, err := w.c.client.CoreV1().Services(t.Namespace).Update(ctx, u, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("hand back service %s/%s: %w", t.Namespace, name, err)
	}
	w.log.Info("apex service handed back to the target's pods", "service", name, "selector", key+"="+value)
	return nil
}

func withoutOwner(refs []metav1.OwnerReference, kind, name string) []metav1.OwnerReference {
	out := refs[:0:0]
	for _, r := range refs {
		if r.Kind != kind || r.Name != name {
			out = append(out, r)
		}
	}
	return out
}

// RemoveGenerated deletes what canarykit created for the target besides the route objects:
// the primary and canary Services, the primary Deployment, the primary's autoscaler (HPA or
// ScaledObject) and the
// primary copies of tracked configs. Only objects canarykit manages for this target are
// deleted (each delete is conditioned on the object's UID); absent ones are skipped. While an
// apex Service that is not canarykit's (HandBackApex leaves it alone: say, the copy a GitOps
// tool keeps in Git, put back over the one canarykit managed) selects the primary's pods, it
// deletes nothing and returns an error naming the Service: deleting the primary would leave
// the Service without endpoints.
func (w *Workload) RemoveGenerated(ctx context.Context, t canary.Target) error {
	nc, d, err := w.lookup(ctx, t)
	if err != nil {
		return err
	}
	if err := w.apexLeavesPrimary(nc, d, t); err != nil {
		return err
	}
	ns := t.Namespace
	core := w.c.client.CoreV1()
	var errs []string
	del := func(kind, name string, obj metav1.Object, getErr error, remove func(metav1.DeleteOptions) error) {
		if apierrors.IsNotFound(getErr) {
			return
		}
		if getErr == nil {
			if err := w.checkOwned(obj, kind, d); err != nil {
				w.log.Info("not removed: not managed by canarykit for the target", "kind", kind, "name", name)
				return
			}
			uid := obj.GetUID()
			getErr = remove(metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
			if getErr == nil {
				w.log.Info("removed", "kind", kind, "name", name)
			}
		}
		if getErr != nil && !apierrors.IsNotFound(getErr) {
			errs = append(errs, fmt.Sprintf("%s %s/%s: %v", kind, ns, name, getErr))
		}
	}
	for _, name := range []string{t.PrimaryService(), t.CanaryService()} {
		svc, err := nc.service(ns, name)
		del("service", name, svc, err, func(o metav1.DeleteOptions) error { return core.Services(ns).Delete(ctx, name, o) })
	}
	primary, err := w.kind.cached(nc, ns, t.PrimaryName())
	del(w.kind.resource(), t.PrimaryName(), primary.ObjectMeta, err, func(o metav1.DeleteOptions) error {
		return w.kind.remove(ctx, w.c.client, ns, t.PrimaryName(), o)
	})
	if w.keda() {
		name := w.opts.Autoscaler + "-primary"
		so, err := nc.scaledObject(name)
		del("scaledobject", name, so, err, func(o metav1.DeleteOptions) error {
			return w.c.dynamic.Resource(scaledObjectsGVR).Namespace(ns).Delete(ctx, name, o)
		})
	} else if w.opts.Autoscaler != "" {
		name := w.opts.Autoscaler + "-primary"
		h, err := nc.hpa(ns, name)
		del("horizontalpodautoscaler", name, h, err, func(o metav1.DeleteOptions) error {
			return w.c.client.AutoscalingV2().HorizontalPodAutoscalers(ns).Delete(ctx, name, o)
		})
	}
	managed := labels.SelectorFromSet(labels.Set{canary.LabelManagedBy: canary.ManagedBy})
	cms, err := nc.configMaps.ConfigMaps(ns).List(managed)
	if err != nil {
		return err
	}
	for _, cm := range cms {
		if isPrimaryCopy(cm.ObjectMeta, d.Name) {
			del("configmap", cm.Name, cm, nil, func(o metav1.DeleteOptions) error { return core.ConfigMaps(ns).Delete(ctx, cm.Name, o) })
		}
	}
	secrets, err := nc.secrets.Secrets(ns).List(managed)
	if err != nil {
		return err
	}
	for _, s := range secrets {
		if isPrimaryCopy(s.ObjectMeta, d.Name) {
			del("secret", s.Name, s, nil, func(o metav1.DeleteOptions) error { return core.Secrets(ns).Delete(ctx, s.Name, o) })
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("remove generated objects of %s: %s", t, strings.Join(errs, "; "))
	}
	return nil
}

// apexLeavesPrimary refuses the removal of the target's primary while an apex Service that
// is not canarykit's for the target (HandBackApex leaves it alone) routes to its pods: its
// selector, not empty, picks the pods of the primary's template. Only a primary
// RemoveGenerated would delete (the Workload's) counts; an apex Service of canarykit's is
// HandBackApex's to point at the target.
func (w *Workload) apexLeavesPrimary(nc *nsCache, d app, t canary.Target) error {
	p, err := w.kind.cached(nc, t.Namespace, t.PrimaryName())
	if err != nil || w.checkOwned(p.ObjectMeta, w.kind.resource(), d) != nil || p.Template == nil {
		return nil // no primary of the Workload's to delete (a read error is the deletes' to report)
	}
	name := t.ApexService()
	svc, err := nc.service(t.Namespace, name)
	if err != nil || len(svc.Spec.Selector) == 0 || w.checkOwned(svc, "service", d) == nil {
		return nil
	}
	sel := labels.Set(svc.Spec.Selector)
	if !labels.SelectorFromSet(sel).Matches(labels.Set(p.Template.Labels)) {
		return nil
	}
	key, value, err := selectorLabel(d)
	if err != nil {
		return err
	}
	return fmt.Errorf("service %s/%s selects the pods of the primary %s %s (%s) and is not managed by canarykit "+
		"(a copy kept in Git, say): the primary is kept until the Service's selector is pointed at the target's pods (%s=%s) "+
		"or the Service is deleted", t.Namespace, name, w.kind.resource(), t.PrimaryName(), sel, key, value)
}

// isPrimaryCopy reports whether a config is the primary copy canarykit made for target.
func isPrimaryCopy(m metav1.ObjectMeta, target string) bool {
	return strings.HasSuffix(m.Name, "-primary") && m.Annotations[AnnotationTarget] == target
}
