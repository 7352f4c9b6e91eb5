package mesh

import (
	"context"
	"errors"
	"fmt"

	"github.com/canarykit/canarykit/canary"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Removal of the route objects a router made, for a target handed back to plain Kubernetes
// (kube/driver's Retire with Revert). Only objects labelled as the router's are deleted, each
// with a precondition on the UID read, so an object created again meanwhile is kept; an object
// already gone, or a kind the server does not serve, is nothing to do.

// owns reports whether labels mark an object as the router's.
func (o owners) owns(labels map[string]string) bool {
	return labels[canary.LabelManagedBy] == o.managedBy
}

// removeOwned deletes one object: get reads it (its labels and UID), del deletes it with a
// UID precondition. what names it in errors and logs.
func (o owners) removeOwned(ctx context.Context, what string, log func(msg string, kv ...any),
	get func(context.Context) (map[string]string, types.UID, error),
	del func(context.Context, metav1.DeleteOptions) error) error {
	labels, uid, err := get(ctx)
	if apierrors.IsNotFound(err) {
		return nil // gone, or its kind is not served
	}
	if err != nil {
		return classify(err, "get "+what)
	}
	if !o.owns(labels) {
		log("route object not managed by the router; left alone", "object", what)
		return nil
	}
	err = del(ctx, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return classify(err, "delete "+what)
	}
	if err == nil {
		log("route object deleted", "object", what)
	}
	return nil
}

// Remove deletes t's VirtualService and its primary's and canary's DestinationRules, those the
// router manages (labelled canary.LabelManagedBy with its ManagedBy); the VirtualService goes
// first, so no route points at a rule being deleted. Objects of the same names managed by
// someone else are left alone, and a server without Istio's CRDs has nothing to remove.
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
		err = r.own.removeOwned(ctx, what, r.log.Info,
			func(ctx context.Context) (map[string]string, types.UID, error) {
				cur, err := api.res.Get(ctx, o.name, metav1.GetOptions{})
				if err != nil {
					return nil, "", err
				}
				return cur.GetLabels(), cur.GetUID(), nil
			},
			func(ctx context.Context, opts metav1.DeleteOptions) error { return api.res.Delete(ctx, o.name, opts) })
		if err != nil {
			return err
		}
	}
	return nil
}

// Remove deletes t's canary Ingress ("<ingress>-canary", CanaryIngressName) if the router
// manages it (labelled canary.LabelManagedBy with its ManagedBy). The user's Ingress is never
// touched, nor a canary Ingress managed by someone else. kube/driver's Retire uses it to hand a
// target back (its RouteRemover interface).
func (r *NGINX) Remove(ctx context.Context, t canary.Target) error {
	if err := validTarget(t); err != nil {
		return err
	}
	name := CanaryIngressName(t)
	ings := r.client.Ingresses(t.Namespace)
	return r.own.removeOwned(ctx, fmt.Sprintf("Ingress %s/%s", t.Namespace, name), r.log.Info,
		func(ctx context.Context) (map[string]string, types.UID, error) {
			cur, err := ings.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return nil, "", err
			}
			return cur.Labels, cur.UID, nil
		},
		func(ctx context.Context, opts metav1.DeleteOptions) error { return ings.Delete(ctx, name, opts) })
}
