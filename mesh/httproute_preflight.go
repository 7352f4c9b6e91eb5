package mesh

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/canarykit/canarykit/canary"
)

var _ canary.RoutePreflighter = (*HTTPRoute)(nil)

// preflightPort is the port a preflight's route names when the router has no Port and the
// apex Service, whose first port Reconcile takes, is not there yet (the workload's Bootstrap
// creates it): the CRD and admission check the rest of the route alike for any port.
const preflightPort = 80

// PreflightRoute asks the API server, in a dry run, whether it would accept t's HTTPRoute as
// Reconcile creates it (canary.RoutePreflighter): a route the CRD refuses, such as a CORS
// filter (spec.service.corsPolicy) on Gateway API's standard channel, is refused before the
// target's workload is touched, with Reconcile's error. It refuses what Reconcile refuses
// before any request too. The API server's refusal of the route (422 Invalid) is returned;
// any other answer (the route exists, an admission webhook that serves no dry run, a server
// not reached) leaves the verdict to Reconcile. One request; it writes nothing.
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
	if err := c.createDryRun(ctx, t.Namespace, route); apierrors.IsInvalid(err) {
		return r.apiError(err, "create", t)
	} else if err != nil {
		r.log.V(1).Info("HTTPRoute preflight inconclusive; Reconcile will tell", "target", t.String(), "error", err.Error())
	}
	return nil
}
