package mesh

import (
	"context"
	"errors"

	"github.com/go-logr/logr"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/canarykit/canarykit/canary"
)

// Every router of this package is a canary.RoutePreflighter: before the Bootstrap of a target
// never initialized, a Rollout asks it whether the cluster would take the route objects
// Reconcile would create, so that a route the cluster refuses stops the release before the
// target's workload is touched.
var (
	_ canary.RoutePreflighter = (*HTTPRoute)(nil)
	_ canary.RoutePreflighter = (*TrafficSplit)(nil)
	_ canary.RoutePreflighter = (*Istio)(nil)
	_ canary.RoutePreflighter = (*NGINX)(nil)
)

// preflightPort is the port a preflight's route names when the router has no Port and the
// apex Service, whose first port Reconcile takes, is not there yet (the workload's Bootstrap
// creates it): the CRD and admission check the rest of the route alike for any port.
const preflightPort = 80

// dryRunVerdict is a preflight's verdict on the answer to one dry-run creation: the API
// server's refusal of the object (422 Invalid: its CRD's schema or validation rules, a
// ValidatingAdmissionPolicy; or an admission webhook's "denied the request", whatever its
// code, 400 when the webhook gives none) is refusal(err), the error Reconcile's creation would
// return. An object of that name already there is owned(), the
// check Reconcile makes before adopting it: someone else's is refused (ErrNotOwned) before
// the workload is touched. Any other answer (an admission webhook that serves no dry run, a
// server not reached, a Forbidden that may be RBAC's) says nothing of the object's content and
// leaves the verdict to Reconcile.
func dryRunVerdict(log logr.Logger, kind string, t canary.Target, err error, refusal func(error) error, owned func() error) error {
	switch {
	case err == nil:
		return nil
	case apierrors.IsInvalid(err), admissionDenied(err):
		return refusal(err)
	case apierrors.IsAlreadyExists(err):
		return owned()
	}
	log.V(1).Info(kind+" preflight inconclusive; Reconcile will tell", "target", t.String(), "error", err.Error())
	return nil
}

// ownedIfRead is an owned() of dryRunVerdict: check's verdict on the object get reads, or nil
// when it cannot be read (Reconcile reads it again).
func ownedIfRead[T any](get func() (T, error), check func(T) error) func() error {
	return func() error {
		cur, err := get()
		if err != nil {
			return nil
		}
		return check(cur)
	}
}

// dryRun are the create options of a preflight: validation and admission, nothing stored.
var dryRun = metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}

// PreflightRoute asks the API server, in a dry run, whether it would accept t's HTTPRoute as
// Reconcile creates it (canary.RoutePreflighter): a route the CRD refuses, such as a CORS
// filter (spec.service.corsPolicy) on Gateway API's standard channel, is refused before the
// target's workload is touched, with Reconcile's error. It refuses what Reconcile refuses
// before any request too. The API server's refusal of the route (422 Invalid) is returned;
// a route there already is refused if it is not the router's for t (ErrNotOwned, one more
// request); any other answer leaves the verdict to Reconcile (see dryRunVerdict). One request;
// it writes nothing.
func (r *HTTPRoute) PreflightRoute(ctx context.Context, t canary.Target) error {
	if err := r.valid(t); err != nil {
		return err
	}
	_, c, err := r.client(ctx)
	if err != nil {
		return err
	}
	port := r.port
	if port == 0 {
		port = preflightPort
	}
	route, err := r.newRoute(ctx, t, port, canary.AllPrimary())
	if err != nil {
		return err
	}
	return dryRunVerdict(r.log, "HTTPRoute", t, c.createDryRun(ctx, t.Namespace, route), func(err error) error {
		return r.apiError(err, "create", t)
	}, ownedIfRead(func() (*gwv1.HTTPRoute, error) { return c.get(ctx, t.Namespace, t.ApexService()) },
		func(cur *gwv1.HTTPRoute) error { return r.own.check("HTTPRoute", &cur.ObjectMeta, t) }))
}

// PreflightRoute asks the API server, in a dry run, whether it would accept t's TrafficSplit,
// and for a target with match conditions its HTTPRouteGroup, as Reconcile creates them
// (canary.RoutePreflighter). What Reconcile refuses before any request is refused here too,
// with the same error: a target the router cannot route, a TrafficSplit (or HTTPRouteGroup)
// CRD the API server does not serve, match conditions its served version cannot express.
// The API server's refusal of an object (422 Invalid) is Reconcile's error for it, and one
// there already that is not the router's for t is refused (ErrNotOwned); any other answer
// leaves the verdict to Reconcile (see dryRunVerdict). One request, two with match
// conditions; it writes nothing.
func (r *TrafficSplit) PreflightRoute(ctx context.Context, t canary.Target) error {
	if err := r.valid(t); err != nil {
		return err
	}
	p, err := r.plan(ctx, len(t.Match) > 0)
	if err != nil {
		return err
	}
	if len(t.Match) > 0 {
		g := r.group(t)
		if err := r.own.stamp(ctx, t, &g.meta); err != nil {
			return err
		}
		err := dryRunVerdict(r.log, "HTTPRouteGroup", t, p.group.createDryRun(ctx, t.Namespace, g), func(err error) error {
			return r.groupError(err, "create", t)
		}, ownedIfRead(func() (*routeGroup, error) { return p.group.get(ctx, t.Namespace, t.ApexService()) },
			func(cur *routeGroup) error { return r.own.check("HTTPRouteGroup", &cur.meta, t) }))
		if err != nil {
			return err
		}
	}
	s, err := r.newSplit(ctx, t, canary.AllPrimary())
	if err != nil {
		return err
	}
	return dryRunVerdict(r.log, "TrafficSplit", t, p.write.createDryRun(ctx, t.Namespace, s), func(err error) error {
		return r.apiError(err, "create TrafficSplit", t)
	}, ownedIfRead(func() (*split, error) { return p.read.get(ctx, t.Namespace, t.ApexService()) },
		func(cur *split) error { return r.own.check("TrafficSplit", &cur.meta, t) }))
}

// PreflightRoute asks the API server, in a dry run, whether it would accept t's two
// DestinationRules and its VirtualService as Reconcile creates them (canary.RoutePreflighter):
// the Istio CRDs' validation rules, a ValidatingAdmissionPolicy or istiod's validating webhook
// may refuse what the router's own checks let through. What Reconcile refuses before any
// request is refused here too, with the same error (a target or match the router cannot
// route, Istio's networking CRDs not served). The API server's refusal of an object (422
// Invalid) is Reconcile's error for it, and one there already that is not the router's for t
// is refused (ErrNotOwned); any other answer leaves the verdict to Reconcile (see
// dryRunVerdict). Three requests; it writes nothing.
func (r *Istio) PreflightRoute(ctx context.Context, t canary.Target) error {
	if err := r.valid(t); err != nil {
		return err
	}
	dr, err := r.api(ctx, "DestinationRule", t.Namespace)
	if err != nil {
		return err
	}
	vs, err := r.api(ctx, "VirtualService", t.Namespace)
	if err != nil {
		return err
	}
	type object struct {
		api  istioAPI
		name string
		spec any
	}
	var errs []error
	for _, o := range []object{
		{dr, t.PrimaryService(), r.ruleSpec(t.PrimaryService())},
		{dr, t.CanaryService(), r.ruleSpec(t.CanaryService())},
		{vs, t.ApexService(), r.vsSpec(t, canary.AllPrimary())},
	} {
		obj, err := r.object(ctx, t, o.api, o.name, o.spec)
		if err != nil {
			return err
		}
		_, err = o.api.res.Create(ctx, obj, dryRun)
		errs = append(errs, dryRunVerdict(r.log, o.api.kind, t, err, func(err error) error {
			return r.apiError(err, "create", o.api.kind, t.Namespace, o.name)
		}, ownedIfRead(func() (*unstructured.Unstructured, error) { return o.api.res.Get(ctx, o.name, metav1.GetOptions{}) },
			func(cur *unstructured.Unstructured) error { return r.own.check(o.api.kind, objectMeta(cur), t) })))
	}
	return errors.Join(errs...)
}

// PreflightRoute reads the user's Ingress (t.IngressName, a Flagger Canary's ingressRef) and
// asks the API server, in a dry run, whether it would accept the canary Ingress Reconcile
// would make from it (canary.RoutePreflighter): ingress-nginx's validating webhook or a
// cluster's admission policy may refuse it. What Reconcile refuses before it writes is
// returned here too, with the same error: match conditions ingress-nginx cannot express, a
// user's Ingress that is missing, that is itself a canary Ingress or that routes nothing to
// the apex Service. The API server's refusal of the canary Ingress (422 Invalid) is
// Reconcile's error for it, and one there already that is not the router's for t is refused
// (ErrNotOwned, or another target's canary Ingress); any other answer leaves the verdict to
// Reconcile (see dryRunVerdict). Two requests; it writes nothing.
func (r *NGINX) PreflightRoute(ctx context.Context, t canary.Target) error {
	if err := r.validate(t); err != nil {
		return err
	}
	ing, err := r.newIngress(ctx, t, canary.AllPrimary())
	if err != nil {
		return err
	}
	_, err = r.client.Ingresses(t.Namespace).Create(ctx, ing, dryRun)
	return dryRunVerdict(r.log, "Ingress", t, err, func(err error) error { return r.apiError(err, "create", ing.Name, t) },
		ownedIfRead(func() (*networkingv1.Ingress, error) {
			return r.client.Ingresses(t.Namespace).Get(ctx, ing.Name, metav1.GetOptions{})
		}, func(cur *networkingv1.Ingress) error { return r.check(cur, t) }))
}
