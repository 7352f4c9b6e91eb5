package mesh

import (
	"context"
	"errors"
	"fmt"

	"github.com/canarykit/canarykit/canary"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Removal of the route objects a router made for a target handed back to plain Kubernetes
// (kube/driver's Retire with Revert). Only objects the router manages for the target are
// deleted (labelled as the router's, and recording the target, or no target as objects made
// before routers recorded theirs); each delete has preconditions on the UID and the
// resourceVersion read, so an object created again or changed meanwhile is read and judged
// again. An object already gone, or a kind the server does not serve, is nothing to do.

// removeAttempts bounds the reads of an object that keeps changing while it is removed.
const removeAttempts = 3

// removeOwned deletes one object: read returns its metadata and, as owned, the error that
// refuses it (nil: it is the router's for the target); del deletes it with the preconditions
// given. An object that is not the router's for the target is left alone and logged. what
// names it in errors and logs.
func removeOwned(ctx context.Context, what string, log func(msg string, kv ...any),
	read func(context.Context) (meta *metav1.ObjectMeta, owned error, err error),
	del func(context.Context, metav1.DeleteOptions) error) error {
	for range removeAttempts {
		meta, owned, err := read(ctx)
		if apierrors.IsNotFound(err) {
			return nil // gone, or its kind is not served
		}
		if err != nil {
			return classify(err, "get "+what)
		}
		if owned != nil {
			log("route object not managed by the router for the target; left alone", "object", what, "reason", owned.Error())
			return nil
		}
		pre := &metav1.Preconditions{UID: &meta.UID}
		if meta.ResourceVersion != "" { // the API server always sets it
			pre.ResourceVersion = &meta.ResourceVersion
		}
		err = del(ctx, metav1.DeleteOptions{Preconditions: pre})
		switch {
		case err == nil:
			log("route object deleted", "object", what)
			return nil
		case apierrors.IsNotFound(err):
			return nil
		case !apierrors.IsConflict(err):
			return classify(err, "delete "+what)
		}
	}
	return fmt.Errorf("delete %s: it changed at each of %d attempts", what, removeAttempts)
}

// Remove deletes t's VirtualService and its primary's and canary's DestinationRules, those the
// router manages for t (labelled canary.LabelManagedBy with its ManagedBy, and annotated
// canary.AnnotationTarget with t's name or, made before routers recorded their target, with
// none); the VirtualService goes first, so no route points at a rule being deleted. Objects of
// the same names managed by someone else, or made for another target, are left alone, and a
// server without Istio's CRDs has nothing to remove.
// kube/driver's Retire uses it to hand a target back (its RouteRemover interface).
func (r *Istio) Remove(ctx context.Context, t canary.Target) error {
	if err := validTarget(t); err != nil {
		return err
	}
	if _, err := r.version(ctx); err != nil {
		if errors.Is(err, ErrCRDMissing) {
			return nil
		}
		return err
	}
	objects := []struct{ kind, name string }{
		{"VirtualService", t.ApexService()},
		{"DestinationRule", t.PrimaryService()},
		{"DestinationRule", t.CanaryService()},
	}
	for _, o := range objects {
		api, err := r.api(ctx, o.kind, t.Namespace)
		if err != nil {
			return err
		}
		what := fmt.Sprintf("%s %s/%s", o.kind, t.Namespace, o.name)
		err = removeOwned(ctx, what, r.log.Info,
			func(ctx context.Context) (*metav1.ObjectMeta, error, error) {
				cur, err := api.res.Get(ctx, o.name, metav1.GetOptions{})
				if err != nil {
					return nil, nil, err
				}
				meta := objectMeta(cur)
				meta.UID, meta.ResourceVersion = cur.GetUID(), cur.GetResourceVersion()
				return meta, r.own.check(o.kind, meta, t), nil
			},
			func(ctx context.Context, opts metav1.DeleteOptions) error { return api.res.Delete(ctx, o.name, opts) })
		if err != nil {
			return err
		}
	}
	return nil
}

// Remove deletes t's canary Ingress ("<ingress>-canary", CanaryIngressName) if the router
// manages it for t (labelled canary.LabelManagedBy with its ManagedBy, and annotated
// canary.AnnotationTarget with t's name or, made before routers recorded their target, with
// none and a backend naming t's canary Service). The user's Ingress is never touched, nor a
// canary Ingress managed by someone else or made for another target (targets whose ingressRef
// names the same Ingress share the canary Ingress's name). kube/driver's Retire uses it to
// hand a target back (its RouteRemover interface).
func (r *NGINX) Remove(ctx context.Context, t canary.Target) error {
	if err := validTarget(t); err != nil {
		return err
	}
	name := CanaryIngressName(t)
	ings := r.client.Ingresses(t.Namespace)
	return removeOwned(ctx, fmt.Sprintf("Ingress %s/%s", t.Namespace, name), r.log.Info,
		func(ctx context.Context) (*metav1.ObjectMeta, error, error) {
			cur, err := ings.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return nil, nil, err
			}
			return &cur.ObjectMeta, r.check(cur, t), nil
		},
		func(ctx context.Context, opts metav1.DeleteOptions) error { return ings.Delete(ctx, name, opts) })
}
