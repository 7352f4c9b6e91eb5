package mesh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/discovery"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"
	gatewayclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/apierr"
	"github.com/canarykit/canarykit/mesh/gatewayapi"
)

// HTTPRouteCRD names Gateway API's HTTPRoute CRD.
const HTTPRouteCRD = "httproutes." + gatewayapi.Group

// HTTPRouteOptions configure an HTTPRoute router. Zero fields mean "default".
type HTTPRouteOptions struct {
	// Client reaches gateway.networking.k8s.io. Required.
	Client gatewayclient.Interface
	// Discovery, when set, lets the router use v1beta1 where the server does not serve v1
	// (Gateway API before v1.0, as bundled with Linkerd 2.14). The router asks once and caches
	// the answer. Default: v1.
	Discovery discovery.DiscoveryInterface
	// Version pins the HTTPRoute version: "v1" or "v1beta1". Empty: v1, or with Discovery
	// the first of v1 and v1beta1 the server serves.
	Version string
	// Port is the service port of the backendRefs and of the apex Service parent. Default: the
	// apex Service's first port, read through Services whenever the route's shape is checked
	// (Reconcile) or created.
	Port int32
	// Services reads the apex Service's port. Required when Port is 0.
	Services corev1client.ServicesGetter
	// ManagedBy is the value of the app.kubernetes.io/managed-by label that marks the routes
	// this router manages. Default canary.ManagedBy.
	ManagedBy string
	// Owner gives the routes the router creates an owner reference (e.g. DeploymentOwner).
	// Default: none.
	Owner OwnerFunc
	// Logger receives a line per route created or reshaped. Default: discard.
	Logger logr.Logger
}

// HTTPRoute routes with a Gateway API HTTPRoute named after the apex service whose parent is
// the apex Service (GAMMA: group "core", kind Service), the way Linkerd ≥ 2.14 prefers, or
// the parents given with WithParents (Gateways for north-south traffic, Services):
// one rule with weighted backendRefs "<apex>-primary" and "<apex>-canary". With match
// conditions, the first rule holds them and the weighted backends, and a second rule sends
// every other request to the primary. Safe for concurrent use.
type HTTPRoute struct {
	versions map[string]versionClient[gwv1.HTTPRoute]
	served   *servedVersions
	pinned   string
	port     int32
	parents  []gwv1.ParentReference // nil: the apex Service
	hosts    []gwv1.Hostname        // the route's hostnames (WithHostnames); nil: none
	services corev1client.ServicesGetter
	own      owners
	log      logr.Logger

	meta     canary.Metadata        // the route's labels and annotations (WithMetadata)
	timeouts gwv1.HTTPRouteTimeouts // the rules' timeouts (WithTimeouts); none when empty
	svc      routeService           // the rules' service matches and filters (WithService)
}

var _ canary.WeightsReconciler = (*HTTPRoute)(nil)

// NewHTTPRoute validates o and returns a router. It makes no request.
func NewHTTPRoute(o HTTPRouteOptions) (*HTTPRoute, error) {
	var errs []error
	if o.Client == nil {
		errs = append(errs, errors.New("Client is required"))
	}
	if o.Port < 0 || o.Port > 65535 {
		errs = append(errs, fmt.Errorf("Port %d is not a port number", o.Port))
	}
	if o.Port == 0 && o.Services == nil {
		errs = append(errs, errors.New("Services is required when Port is 0"))
	}
	if o.Version != "" && o.Version != "v1" && o.Version != "v1beta1" {
		errs = append(errs, fmt.Errorf("Version %q is not v1 or v1beta1", o.Version))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("mesh: invalid HTTPRouteOptions: %w", errors.Join(errs...))
	}
	r := &HTTPRoute{
		versions: map[string]versionClient[gwv1.HTTPRoute]{
			"v1": typedClient[*gwv1.HTTPRoute, gwv1.HTTPRoute]{
				api:  func(ns string) typedAPI[*gwv1.HTTPRoute] { return o.Client.GatewayV1().HTTPRoutes(ns) },
				to:   func(o *gwv1.HTTPRoute) *gwv1.HTTPRoute { return o },
				from: func(o *gwv1.HTTPRoute) *gwv1.HTTPRoute { return o },
				rest: restOf(o.Client.GatewayV1()), resource: "httproutes",
			},
			"v1beta1": typedClient[*gwv1beta1.HTTPRoute, gwv1.HTTPRoute]{
				api:  func(ns string) typedAPI[*gwv1beta1.HTTPRoute] { return o.Client.GatewayV1beta1().HTTPRoutes(ns) },
				to:   func(o *gwv1beta1.HTTPRoute) *gwv1.HTTPRoute { return (*gwv1.HTTPRoute)(o) },
				from: func(o *gwv1.HTTPRoute) *gwv1beta1.HTTPRoute { return (*gwv1beta1.HTTPRoute)(o) },
				rest: restOf(o.Client.GatewayV1beta1()), resource: "httproutes",
			},
		},
		pinned:   o.Version,
		port:     o.Port,
		services: o.Services,
		own:      newOwners(o.ManagedBy, o.Owner),
		log:      o.Logger,
	}
	if o.Discovery != nil {
		r.served = &servedVersions{disc: o.Discovery}
	}
	if r.log.GetSink() == nil {
		r.log = logr.Discard()
	}
	return r, nil
}

// APIVersion returns the HTTPRoute version the router uses ("gateway.networking.k8s.io/v1"
// or ".../v1beta1"), detecting it on first use when the router has Discovery.
func (r *HTTPRoute) APIVersion(ctx context.Context) (string, error) {
	v, _, err := r.client(ctx)
	return gatewayapi.Group + "/" + v, err
}

// WithParents returns a router that shares r's clients and discovery but gives the routes
// it makes these parents instead of the apex Service, and port as the backends' service port
// (0: r's). It is how one router serves targets attached to different Gateways: parents
// are per target, clients are not. Each parent needs a name; Group, Kind and Namespace are
// set as the API server would default them (gateway.networking.k8s.io, Gateway, the route's
// namespace is left implicit when empty), so a stored route compares equal.
func (r *HTTPRoute) WithParents(port int32, parents ...gwv1.ParentReference) (*HTTPRoute, error) {
	var errs []error
	if port < 0 || port > 65535 {
		errs = append(errs, fmt.Errorf("port %d is not a port number", port))
	}
	if port == 0 && r.port == 0 && r.services == nil {
		errs = append(errs, errors.New("port is required: the router has no Services to read it from"))
	}
	out := make([]gwv1.ParentReference, 0, len(parents))
	for i, p := range parents {
		if p.Name == "" {
			errs = append(errs, fmt.Errorf("parents[%d].name is required", i))
		}
		if p.Port != nil && (*p.Port < 1 || *p.Port > 65535) {
			errs = append(errs, fmt.Errorf("parents[%d].port %d is not a port number", i, *p.Port))
		}
		p = *p.DeepCopy()
		if p.Group == nil {
			p.Group = ptrTo(gwv1.Group(gatewayapi.Group))
		}
		if p.Kind == nil {
			p.Kind = ptrTo(gwv1.Kind("Gateway"))
		}
		out = append(out, p)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("mesh: invalid HTTPRoute parents: %w", errors.Join(errs...))
	}
	c := *r
	if port != 0 {
		c.port = port
	}
	if len(out) > 0 {
		c.parents = out
	}
	return &c, nil
}

// WithHostnames returns a copy of r whose routes carry these hostnames (Flagger writes a
// Canary's spec.service.hosts there): the Gateways attach the route only for requests to
// them. A hostname is a DNS name, optionally under a "*." wildcard (no IP address, no port, no
// bare "*", as Gateway API's Hostname allows); none lets every hostname through.
func (r *HTTPRoute) WithHostnames(hosts ...string) (*HTTPRoute, error) {
	var errs []error
	var out []gwv1.Hostname
	for i, h := range hosts {
		name := strings.TrimPrefix(h, "*.")
		switch {
		case h == "" || h == "*":
			errs = append(errs, fmt.Errorf("hostnames[%d]: %q is not a hostname (a DNS name, or one under \"*.\")", i, h))
		case net.ParseIP(name) != nil:
			errs = append(errs, fmt.Errorf("hostnames[%d]: %q is an IP address; a route's hostnames are DNS names", i, h))
		case len(validation.IsDNS1123Subdomain(name)) > 0:
			errs = append(errs, fmt.Errorf("hostnames[%d]: %q is not a DNS name (lowercase RFC 1123, optionally under \"*.\")", i, h))
		case slices.Contains(out, gwv1.Hostname(h)):
			errs = append(errs, fmt.Errorf("hostnames[%d]: %q is listed twice", i, h))
		default:
			out = append(out, gwv1.Hostname(h))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("mesh: invalid HTTPRoute hostnames: %w", errors.Join(errs...))
	}
	c := *r
	c.hosts = out
	return &c, nil
}

// WithMetadata returns a copy of r that writes m's labels and annotations on its routes, as
// Flagger writes a Canary's spec.service.apex there (see the package documentation: keys
// removed from m are removed, others' are kept). m is checked (canary.Metadata.Problems) and
// copied.
func (r *HTTPRoute) WithMetadata(m canary.Metadata) (*HTTPRoute, error) {
	m, err := validMetadata(m)
	if err != nil {
		return nil, err
	}
	c := *r
	c.meta = m
	return &c, nil
}

// WithTimeouts returns a copy of r whose route rules carry timeouts.request and
// timeouts.backendRequest, as Flagger writes a Canary's spec.service.timeout and
// backendTimeout: the longest a gateway takes to answer a request, and the longest it waits
// for one request to a backend. Each is a Gateway API Duration (2s, 1m30s, 500ms) or "" for
// none; backendRequest may not be longer than request (Gateway API's rule, which the API
// server enforces).
func (r *HTTPRoute) WithTimeouts(request, backendRequest string) (*HTTPRoute, error) {
	var errs []error
	var t gwv1.HTTPRouteTimeouts
	for _, f := range []struct {
		name, value string
		to          **gwv1.Duration
	}{{"request", request, &t.Request}, {"backendRequest", backendRequest, &t.BackendRequest}} {
		if f.value == "" {
			continue
		}
		if why := gatewayapi.DurationProblem(f.value); why != "" {
			errs = append(errs, fmt.Errorf("%s: %s", f.name, why))
			continue
		}
		*f.to = ptrTo(gwv1.Duration(f.value))
	}
	if len(errs) == 0 && t.Request != nil && t.BackendRequest != nil {
		rq, _ := time.ParseDuration(request) // a Gateway API Duration is one of Go's
		bk, _ := time.ParseDuration(backendRequest)
		if rq != 0 && bk > rq {
			errs = append(errs, fmt.Errorf("backendRequest %s is longer than request %s", backendRequest, request))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("mesh: invalid HTTPRoute timeouts: %w", errors.Join(errs...))
	}
	c := *r
	c.timeouts = t
	return &c, nil
}

// Metadata returns a copy of the labels and annotations the router writes on its routes.
func (r *HTTPRoute) Metadata() canary.Metadata { return copyMetadata(r.meta) }

// Timeouts returns the rules' timeouts.request and backendRequest ("": none).
func (r *HTTPRoute) Timeouts() (request, backendRequest string) {
	return string(ptrValue(r.timeouts.Request, "")), string(ptrValue(r.timeouts.BackendRequest, ""))
}

// spec is t's route spec routing w, with the router's timeouts and service (WithTimeouts,
// WithService).
func (r *HTTPRoute) spec(t canary.Target, port int32, w canary.Weights) (gwv1.HTTPRouteSpec, error) {
	if err := r.validABMatches(t); err != nil {
		return gwv1.HTTPRouteSpec{}, err
	}
	return r.withService(t, r.withTimeouts(routeSpec(t, r.parents, r.hosts, port, w)))
}

// withTimeouts gives spec's rules the router's timeouts, if it has any.
func (r *HTTPRoute) withTimeouts(spec gwv1.HTTPRouteSpec) gwv1.HTTPRouteSpec {
	if r.timeouts.Request == nil && r.timeouts.BackendRequest == nil {
		return spec
	}
	for i := range spec.Rules {
		spec.Rules[i].Timeouts = r.timeouts.DeepCopy()
	}
	return spec
}

func (r *HTTPRoute) client(_ context.Context) (string, versionClient[gwv1.HTTPRoute], error) {
	if r.pinned != "" {
		return r.pinned, r.versions[r.pinned], nil
	}
	if r.served == nil {
		return "v1", r.versions["v1"], nil
	}
	served, err := r.served.of(gatewayapi.Group)
	if err != nil {
		return "", nil, err
	}
	v := firstServed(served, "v1", "v1beta1")
	if v == "" {
		return "", nil, crdError(fmt.Sprintf("%s v1 or v1beta1 is not served by the API server (served: %s)", HTTPRouteCRD, listOrNone(served)),
			"install Gateway API's standard CRDs")
	}
	return v, r.versions[v], nil
}

// Reconcile creates t's HTTPRoute at 100 % primary, or adopts the one the router created
// earlier for t: it fixes its parent, rules and backends if they drifted, keeping the weights.
// A route of the same name managed by someone else, or made for another target, is left alone
// (ErrNotOwned). It costs one GET when nothing needs changing (plus one for the apex Service
// when Port is 0).
func (r *HTTPRoute) Reconcile(ctx context.Context, t canary.Target) error {
	_, err := r.reconcile(ctx, t, false)
	return err
}

// ReconcileWeights is Reconcile returning the route's weights as it found (or made) them,
// with Weights' check that no parent rejects the route: adopting a route costs one read of it,
// not two (canary.WeightsReconciler).
func (r *HTTPRoute) ReconcileWeights(ctx context.Context, t canary.Target) (canary.Weights, error) {
	return r.reconcile(ctx, t, true)
}

// valid reports what the router refuses in t before any request.
func (r *HTTPRoute) valid(t canary.Target) error {
	if err := errors.Join(validTarget(t), validMatches(t.Match), validAffinity(t), r.mirrorConflicts(t)); err != nil {
		return err
	}
	return r.validABMatches(t)
}

func (r *HTTPRoute) reconcile(ctx context.Context, t canary.Target, checkStatus bool) (canary.Weights, error) {
	if err := r.valid(t); err != nil {
		return canary.Weights{}, err
	}
	_, c, err := r.client(ctx)
	if err != nil {
		return canary.Weights{}, err
	}
	port, err := r.portFor(ctx, t)
	if err != nil {
		return canary.Weights{}, err
	}
	cur, err := c.get(ctx, t.Namespace, t.ApexService())
	if objectMissing(err) {
		return canary.AllPrimary(), r.create(ctx, t, c, port, canary.AllPrimary())
	}
	if err != nil {
		return canary.Weights{}, r.apiError(err, "get", t)
	}
	if err := r.own.check("HTTPRoute", &cur.ObjectMeta, t); err != nil {
		return canary.Weights{}, err
	}
	reshaped, err := r.reshape(ctx, t, c, cur, port, nil)
	if err != nil {
		return canary.Weights{}, err
	}
	return r.accepted(cur, t, checkStatus && !reshaped) // a reshaped route's status speaks of its old spec
}

// accepted returns cur's weights, after checking, when checkStatus is set, that no controller
// rejects it for one of its parents.
func (r *HTTPRoute) accepted(cur *gwv1.HTTPRoute, t canary.Target, checkStatus bool) (canary.Weights, error) {
	if checkStatus {
		if err := routeRejected(cur, t, r.parents); err != nil {
			return canary.Weights{}, err
		}
	}
	w, err := routeWeights(cur, t)
	if err != nil {
		return canary.Weights{}, fmt.Errorf("HTTPRoute %s/%s: %w", t.Namespace, t.ApexService(), err)
	}
	return w, nil
}

// reshape updates cur to t's shape unless it has it, routing w, or keeping cur's weights when
// w is nil, and records t as its target if it does not yet. It reports whether it updated the
// route.
func (r *HTTPRoute) reshape(ctx context.Context, t canary.Target, c versionClient[gwv1.HTTPRoute], cur *gwv1.HTTPRoute,
	port int32, w *canary.Weights) (bool, error) {
	keep, err := routeWeights(cur, t)
	if err != nil {
		keep = canary.AllPrimary()
	}
	if t.Mirror == 0 || len(t.Match) > 0 {
		keep.Mirrored = false // a mirror on the route of a target that does not mirror is drift
	}
	if w == nil {
		w = &keep
	}
	want, err := r.spec(t, port, *w)
	if err != nil {
		return false, err
	}
	if sameShape(cur.Spec, want) && keep == *w && claimed(&cur.ObjectMeta, t) && !metadataDrift(&cur.ObjectMeta, r.meta) {
		return false, nil
	}
	cur.Spec = want
	applyMetadata(&cur.ObjectMeta, r.meta)
	r.own.claim(&cur.ObjectMeta, t)
	if _, err := c.update(ctx, t.Namespace, cur); err != nil {
		return false, r.apiError(err, "update", t)
	}
	r.log.Info("HTTPRoute reshaped", "target", t.String(), "weights", w.String())
	return true, nil
}

// SetWeights routes w with one request: a JSON patch of the first rule's two backend weights,
// which the API server applies only if the route is still labelled as managed by the router
// for t and the rule still lists primary then canary and has the weighted rule's matches (not
// a cookie rule's: checked in the same request). For a
// target with session affinity (Target.Affinity) the patch writes the rules whole (the cookie
// rules before the weighted one, see the package documentation), still one request checked
// for ownership. Otherwise
// the router reads the route and, if it is its own for t, puts it back in shape with w; a
// deleted route is created again with w.
func (r *HTTPRoute) SetWeights(ctx context.Context, t canary.Target, w canary.Weights) error {
	if err := w.ValidateFor(t); err != nil {
		return err
	}
	if err := errors.Join(validTarget(t), validMatches(t.Match), validAffinity(t), r.mirrorConflicts(t)); err != nil {
		return err
	}
	if err := r.validABMatches(t); err != nil {
		return err
	}
	_, c, err := r.client(ctx)
	if err != nil {
		return err
	}
	const rule = "/spec/rules/0/backendRefs/"
	ops := append(r.own.testOwner(t),
		patchOp{Op: "test", Path: rule + "0/name", Value: t.PrimaryService()},
		patchOp{Op: "test", Path: rule + "1/name", Value: t.CanaryService()},
		patchOp{Op: "replace", Path: rule + "0/weight", Value: w.Primary},
		patchOp{Op: "replace", Path: rule + "1/weight", Value: w.Canary},
	)
	if t.Affinity != nil {
		// session affinity's rules come and go with the weights and the cookies: the rules are
		// written whole, in the same single request
		port, perr := r.portFor(ctx, t) // a read of the apex Service only without Port
		if perr != nil {
			return perr
		}
		spec, serr := r.spec(t, port, w)
		if serr != nil {
			return serr
		}
		ops = append(r.own.testOwner(t), patchOp{Op: "add", Path: "/spec/rules", Value: spec.Rules})
	} else {
		// the first rule must be the weighted one, not a cookie rule left by session affinity
		// (a target whose Canary dropped it, or a retirement's, which knows no cookie): its
		// weights would be set while the weighted rule after it kept its own. Its matches,
		// which the API server always stores, say which it is (the port makes no match).
		spec, serr := r.spec(t, r.port, w)
		if serr != nil {
			return serr
		}
		ops = append(ops, patchOp{Op: "test", Path: "/spec/rules/0/matches", Value: spec.Rules[0].Matches})
	}
	if t.Affinity == nil && len(t.Match) == 0 {
		// the rule's filters, the service's (WithService: its mirrors and CORS filter too)
		// and a mirrored step's mirror: set, or removed
		// when there are none (the add makes the remove apply whether they are there or not,
		// so the patch stays one request), the mirror even for a target that does not
		// mirror (one whose Canary stopped mirroring, or a retirement's), so no mirror
		// outlives the step that set it
		const filters = "/spec/rules/0/filters"
		set := slices.Clone(r.svc.filters)
		if w.Mirrored {
			port, perr := r.portFor(ctx, t) // a read of the apex Service only without Port
			if perr != nil {
				return perr
			}
			set = append(set, mirrorFilters(t, port)...)
		}
		if len(set) > 0 {
			ops = append(ops, patchOp{Op: "add", Path: filters, Value: set})
		} else {
			ops = append(ops, patchOp{Op: "add", Path: filters, Value: []any{}}, patchOp{Op: "remove", Path: filters})
		}
	}
	_, err = c.patchGeneration(ctx, t.Namespace, t.ApexService(), marshalPatch(ops...))
	switch {
	case err == nil:
		return nil
	case objectMissing(err):
		port, perr := r.portFor(ctx, t)
		if perr != nil {
			return perr
		}
		r.log.Info("HTTPRoute missing; creating it again", "target", t.String())
		return r.create(ctx, t, c, port, w)
	case !patchRejected(err):
		return r.apiError(err, "patch", t)
	}
	cur, err := c.get(ctx, t.Namespace, t.ApexService())
	if err != nil {
		return r.apiError(err, "get", t)
	}
	if err := r.own.check("HTTPRoute", &cur.ObjectMeta, t); err != nil {
		return err
	}
	port, err := r.portFor(ctx, t)
	if err != nil {
		return err
	}
	_, err = r.reshape(ctx, t, c, cur, port, &w)
	return err
}

// Weights reads t's HTTPRoute and returns the primary's and the canary's share of the weighted
// rule's backend weights in percent (a backendRef without weight weighs 1, as in Gateway API).
// An HTTPRoute that is not the router's for t is refused as Reconcile refuses it (ErrNotOwned).
func (r *HTTPRoute) Weights(ctx context.Context, t canary.Target) (canary.Weights, error) {
	if err := validTarget(t); err != nil {
		return canary.Weights{}, err
	}
	_, c, err := r.client(ctx)
	if err != nil {
		return canary.Weights{}, err
	}
	cur, err := c.get(ctx, t.Namespace, t.ApexService())
	if err != nil {
		return canary.Weights{}, r.apiError(err, "get", t)
	}
	if err := r.own.check("HTTPRoute", &cur.ObjectMeta, t); err != nil {
		return canary.Weights{}, err
	}
	return r.accepted(cur, t, true)
}

func (r *HTTPRoute) create(ctx context.Context, t canary.Target, c versionClient[gwv1.HTTPRoute], port int32, w canary.Weights) error {
	route, err := r.newRoute(ctx, t, port, w)
	if err != nil {
		return err
	}
	if _, err := c.create(ctx, t.Namespace, route); err != nil {
		return r.apiError(err, "create", t)
	}
	r.log.Info("HTTPRoute created", "target", t.String(), "weights", w.String())
	return nil
}

// newRoute is t's HTTPRoute as the router creates it, routing w.
func (r *HTTPRoute) newRoute(ctx context.Context, t canary.Target, port int32, w canary.Weights) (*gwv1.HTTPRoute, error) {
	spec, err := r.spec(t, port, w)
	if err != nil {
		return nil, err
	}
	route := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: t.ApexService(), Namespace: t.Namespace}, Spec: spec}
	applyMetadata(&route.ObjectMeta, r.meta)
	if err := r.own.stamp(ctx, t, &route.ObjectMeta); err != nil {
		return nil, err
	}
	return route, nil
}

// portFor returns the router's Port, or the apex Service's first port.
func (r *HTTPRoute) portFor(ctx context.Context, t canary.Target) (int32, error) {
	if r.port != 0 {
		return r.port, nil
	}
	svc, err := r.services.Services(t.Namespace).Get(ctx, t.ApexService(), metav1.GetOptions{})
	if err != nil {
		return 0, classify(err, fmt.Sprintf("get apex service %s/%s for its port", t.Namespace, t.ApexService()))
	}
	if len(svc.Spec.Ports) == 0 {
		return 0, canary.Permanent(fmt.Errorf("apex service %s/%s has no port; set HTTPRouteOptions.Port", t.Namespace, t.ApexService()))
	}
	return svc.Spec.Ports[0].Port, nil
}

func (r *HTTPRoute) apiError(err error, verb string, t canary.Target) error {
	if apierr.ResourceMissing(err) {
		return crdError(HTTPRouteCRD+" is not served by the API server", "install Gateway API's standard CRDs (Linkerd ≥ 2.14 routes with them)")
	}
	if apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("%s HTTPRoute %s/%s: created concurrently, adopting at the next attempt: %w", verb, t.Namespace, t.ApexService(), err)
	}
	if apierrors.IsInvalid(err) && r.svc.given.CORS != nil && strings.Contains(err.Error(), `"`+string(gwv1.HTTPRouteFilterCORS)+`"`) {
		// the standard channel's filter types lack CORS
		return canary.Permanent(fmt.Errorf("%s HTTPRoute %s/%s: the HTTPRoute CRD refuses the CORS filter (a Canary's spec.service.corsPolicy): "+
			"Gateway API's standard channel has none, install the experimental channel's HTTPRoute CRD or leave corsPolicy out: %w", verb, t.Namespace, t.ApexService(), err))
	}
	return classify(err, fmt.Sprintf("%s HTTPRoute %s/%s", verb, t.Namespace, t.ApexService()))
}
