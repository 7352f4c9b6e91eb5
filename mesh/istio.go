package mesh

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/apierr"
	"github.com/canarykit/canarykit/mesh/istioapi"
)

// Istio's networking group and the CRDs the Istio router uses.
const (
	IstioGroup         = "networking.istio.io"
	VirtualServiceCRD  = "virtualservices." + IstioGroup
	DestinationRuleCRD = "destinationrules." + IstioGroup
)

const istioHint = "install Istio's CRDs (istioctl install, or the base Helm chart)"

// IstioOptions configure an Istio router. Zero fields mean "default".
type IstioOptions struct {
	// Client reaches networking.istio.io through the dynamic client. Required.
	Client dynamic.Interface
	// Discovery tells which versions of networking.istio.io the API server serves. Required
	// unless Version is set. The router asks once and caches the answer.
	Discovery discovery.DiscoveryInterface
	// Version pins the version: "v1" or "v1beta1". Empty: the first of v1 and v1beta1 the
	// server serves.
	Version string
	// ManagedBy is the value of the app.kubernetes.io/managed-by label that marks the objects
	// this router manages. Default canary.ManagedBy.
	ManagedBy string
	// Owner gives the objects the router creates an owner reference (e.g. DeploymentOwner).
	// Default: none.
	Owner OwnerFunc
	// Logger receives a line per object created or reshaped. Default: discard.
	Logger logr.Logger
}

// Istio routes with an Istio VirtualService named after the apex service, as Flagger's Istio
// router shapes it: hosts the apex service (and the hosts of the service given to
// WithService), gateways "mesh" (or the ones given), one HTTP route with weighted destinations
// "<apex>-primary" and "<apex>-canary" and the service's match conditions, rewrite, timeout,
// retries, CORS policy and header operations. With A/B match conditions, the first route
// holds them (merged with the service's) and the weighted destinations, and a second route
// sends every other request the service matches to the primary. Each of the primary and
// canary Services gets a DestinationRule of its name whose host is the Service, with the
// service's traffic policy. A TCP service (istioapi.Service.TCP) has one TCP route with the
// weighted destinations instead of HTTP routes. Safe for concurrent use.
type Istio struct {
	dyn    dynamic.Interface
	served *servedVersions
	pinned string
	svc    istioapi.Service
	port   uint32 // the destinations' port (WithDestinationPort); 0: none
	own    owners
	log    logr.Logger

	meta canary.Metadata // the VirtualService's labels and annotations (WithMetadata)
}

var _ canary.WeightsReconciler = (*Istio)(nil)

// NewIstio validates o and returns a router. It makes no request.
func NewIstio(o IstioOptions) (*Istio, error) {
	var errs []error
	if o.Client == nil {
		errs = append(errs, errors.New("Client is required"))
	}
	if o.Version == "" && o.Discovery == nil {
		errs = append(errs, errors.New("Discovery is required unless Version is set"))
	}
	if o.Version != "" && o.Version != "v1" && o.Version != "v1beta1" {
		errs = append(errs, fmt.Errorf("Version %q is not v1 or v1beta1", o.Version))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("mesh: invalid IstioOptions: %w", errors.Join(errs...))
	}
	r := &Istio{dyn: o.Client, pinned: o.Version, own: newOwners(o.ManagedBy, o.Owner), log: o.Logger}
	if o.Discovery != nil {
		r.served = &servedVersions{disc: o.Discovery}
	}
	if r.log.GetSink() == nil {
		r.log = logr.Discard()
	}
	return r, nil
}

// WithService returns a router that shares r's client and discovery but writes svc into the
// objects it makes: the VirtualService's hosts (the apex service is added unless listed or
// "*" is) and gateways (empty: "mesh", the sidecars; list "mesh" with Gateways to serve
// both), its HTTP routes' match conditions, rewrite, timeout, retries, CORS policy and
// header operations, and both DestinationRules' traffic policy, as Flagger's Istio router
// writes a Canary's spec.service. The service is per target, clients are not. svc is
// checked with its Validate (errors wrap canary.ErrInvalidSpec) and copied.
func (r *Istio) WithService(svc istioapi.Service) (*Istio, error) {
	if err := svc.Validate(); err != nil {
		return nil, fmt.Errorf("mesh: %w", err)
	}
	c := *r
	var err error
	if c.svc, err = cloneService(svc); err != nil {
		return nil, fmt.Errorf("mesh: copy the Istio service: %w", err)
	}
	return &c, nil
}

// WithDestinationPort returns a router that shares r's clients and service and routes
// the VirtualService's destinations to that port of the primary and canary Services, as
// Flagger does with spec.service.portDiscovery and Istio gateways (the Services then have
// several ports, and a gateway must be told which one serves the route). 0: no port (Istio
// picks a Service's only port).
func (r *Istio) WithDestinationPort(port int32) (*Istio, error) {
	if port < 0 || port > 65535 {
		return nil, fmt.Errorf("mesh: invalid Istio destination port %d: want 1..65535, or 0 for none", port)
	}
	c := *r
	c.port = uint32(port)
	return &c, nil
}

// WithMetadata returns a router that shares r's clients and service and writes m's labels
// and annotations on the VirtualService (not the DestinationRules), as Flagger writes a
// Canary's spec.service.apex there (see the package documentation: keys removed from m are
// removed, others' are kept). m is checked (canary.Metadata.Problems) and copied.
func (r *Istio) WithMetadata(m canary.Metadata) (*Istio, error) {
	m, err := validMetadata(m)
	if err != nil {
		return nil, err
	}
	c := *r
	c.meta = m
	return &c, nil
}

// Metadata returns a copy of the labels and annotations the router writes on the
// VirtualService.
func (r *Istio) Metadata() canary.Metadata { return copyMetadata(r.meta) }

// DestinationPort returns the port the VirtualService's destinations name (0: none).
func (r *Istio) DestinationPort() int32 { return int32(r.port) }

// vsSpec is t's VirtualService spec routing w, with the router's service and destination
// port.
func (r *Istio) vsSpec(t canary.Target, w canary.Weights) virtualServiceSpec {
	spec := virtualService(t, r.svc, w)
	if r.port != 0 {
		for i := range spec.HTTP {
			for j := range spec.HTTP[i].Route {
				spec.HTTP[i].Route[j].Destination.Port = &istioPort{Number: r.port}
			}
			if m := spec.HTTP[i].Mirror; m != nil {
				m.Port = &istioPort{Number: r.port}
			}
		}
		for i := range spec.TCP {
			for j := range spec.TCP[i].Route {
				spec.TCP[i].Route[j].Destination.Port = &istioPort{Number: r.port}
			}
		}
	}
	return spec
}

// APIVersion returns the networking.istio.io version the router uses ("networking.istio.io/v1"
// or ".../v1beta1"), detecting it on first use.
func (r *Istio) APIVersion(ctx context.Context) (string, error) {
	v, err := r.version(ctx)
	return IstioGroup + "/" + v, err
}

func (r *Istio) version(_ context.Context) (string, error) {
	if r.pinned != "" {
		return r.pinned, nil
	}
	served, err := r.served.of(IstioGroup)
	if err != nil {
		return "", err
	}
	v := firstServed(served, "v1", "v1beta1")
	if v == "" {
		return "", crdError(fmt.Sprintf("%s v1 or v1beta1 is not served by the API server (served: %s)", VirtualServiceCRD, listOrNone(served)), istioHint)
	}
	return v, nil
}

// istioAPI is one kind at the version in use, in a namespace.
type istioAPI struct {
	res     dynamic.ResourceInterface
	version string
	kind    string
}

func (r *Istio) api(ctx context.Context, kind, namespace string) (istioAPI, error) {
	v, err := r.version(ctx)
	if err != nil {
		return istioAPI{}, err
	}
	resource := "virtualservices"
	if kind == "DestinationRule" {
		resource = "destinationrules"
	}
	gvr := schema.GroupVersionResource{Group: IstioGroup, Version: v, Resource: resource}
	return istioAPI{res: r.dyn.Resource(gvr).Namespace(namespace), version: v, kind: kind}, nil
}

// Reconcile creates t's DestinationRules and VirtualService (at 100 % primary), or adopts the
// ones the router created earlier for t: it fixes what drifted, keeping the VirtualService's
// weights. An object of the same name managed by someone else, or made for another target, is
// left alone (ErrNotOwned). It costs three GETs when nothing needs changing.
func (r *Istio) Reconcile(ctx context.Context, t canary.Target) error {
	_, err := r.ReconcileWeights(ctx, t)
	return err
}

// ReconcileWeights is Reconcile returning the VirtualService's weights as it found (or made)
// them: adopting a route costs one read of it, not two (canary.WeightsReconciler).
func (r *Istio) ReconcileWeights(ctx context.Context, t canary.Target) (canary.Weights, error) {
	if err := r.valid(t); err != nil {
		return canary.Weights{}, err
	}
	if err := r.reconcileRules(ctx, t); err != nil {
		return canary.Weights{}, err
	}
	vs, err := r.api(ctx, "VirtualService", t.Namespace)
	if err != nil {
		return canary.Weights{}, err
	}
	cur, err := vs.res.Get(ctx, t.ApexService(), metav1.GetOptions{})
	if objectMissing(err) {
		return canary.AllPrimary(), r.createVirtualService(ctx, t, vs, canary.AllPrimary())
	}
	if err != nil {
		return canary.Weights{}, r.apiError(err, "get", vs.kind, t.Namespace, t.ApexService())
	}
	if err := r.own.check("VirtualService", objectMeta(cur), t); err != nil {
		return canary.Weights{}, err
	}
	w, err := r.reshape(ctx, t, vs, cur, nil)
	if err != nil {
		return canary.Weights{}, err
	}
	return w, nil
}

// valid is what Reconcile refuses of t before any request.
func (r *Istio) valid(t canary.Target) error {
	if err := errors.Join(validTarget(t), validMatches(t.Match), validAffinity(t), r.validTCP(t, canary.Weights{})); err != nil {
		return err
	}
	if p := r.svc.HostConflicts(t.Namespace, t.ApexService()); len(p) > 0 {
		return canary.Permanent(fmt.Errorf("mesh: %w", &canary.ValidationError{Subject: "Istio service of " + t.String(), Problems: p}))
	}
	return validABMatches(t, r.svc)
}

// ruleSpec is the spec of the DestinationRule of the Service name (t's primary or canary).
func (r *Istio) ruleSpec(name string) destinationRuleSpec {
	return destinationRuleSpec{Host: name, TrafficPolicy: r.svc.TrafficPolicy}
}

// reconcileRules creates or fixes the primary's and the canary's DestinationRules.
func (r *Istio) reconcileRules(ctx context.Context, t canary.Target) error {
	dr, err := r.api(ctx, "DestinationRule", t.Namespace)
	if err != nil {
		return err
	}
	for _, name := range []string{t.PrimaryService(), t.CanaryService()} {
		want := r.ruleSpec(name)
		cur, err := dr.res.Get(ctx, name, metav1.GetOptions{})
		if objectMissing(err) {
			if err := r.create(ctx, t, dr, name, want); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return r.apiError(err, "get", dr.kind, t.Namespace, name)
		}
		if err := r.own.check("DestinationRule", objectMeta(cur), t); err != nil {
			return err
		}
		if sameIstioSpec(cur, want) && claimed(objectMeta(cur), t) {
			continue
		}
		if err := r.update(ctx, t, dr, cur, want); err != nil {
			return r.apiError(err, "update", dr.kind, t.Namespace, name)
		}
		r.log.Info("DestinationRule reshaped", "target", t.String(), "name", name)
	}
	return nil
}

// reshape puts cur in t's shape with w, or with cur's weights when w is nil (weights that
// cannot be read: all on the primary), recording t as its target if it does not yet, and
// returns the weights the route has.
func (r *Istio) reshape(ctx context.Context, t canary.Target, vs istioAPI, cur *unstructured.Unstructured, w *canary.Weights) (canary.Weights, error) {
	var spec storedRoutes
	keep, err := canary.Weights{}, decodeSpec(cur, &spec)
	if err == nil {
		keep, err = virtualServiceWeights(spec.weighted(r.svc), t)
	}
	broken := err != nil // no weights to keep: the route is rewritten all on the primary
	if broken {
		keep = canary.AllPrimary()
	}
	if t.Mirror == 0 || len(t.Match) > 0 {
		keep.Mirrored = false // a mirror on the route of a target that does not mirror is drift
	}
	if w == nil {
		w = &keep
	}
	want := r.vsSpec(t, *w)
	if !broken && sameIstioSpec(cur, want) && keep == *w && claimed(objectMeta(cur), t) && !metadataDrift(objectMeta(cur), r.meta) {
		return keep, nil
	}
	if err := r.update(ctx, t, vs, cur, want); err != nil {
		return canary.Weights{}, r.apiError(err, "update", vs.kind, t.Namespace, t.ApexService())
	}
	r.log.Info("VirtualService reshaped", "target", t.String(), "weights", w.String())
	return *w, nil
}

// SetWeights routes w with one request: a JSON patch, which the API server applies only if the
// VirtualService is still labelled as managed by the router for t and its first route still
// lists primary then canary (checked in the same request), of the HTTP routes whole for a
// target without A/B match conditions (with session affinity the cookie routes before the
// weighted one, see the package documentation), else of the first HTTP route's (a TCP
// service's TCP route's) two destination weights, for an A/B target only if its second HTTP
// route is the A/B target's route to the primary (also checked in the same request: a cookie
// route an earlier release left first fails it). Otherwise the router reads
// the VirtualService and, if it is its own for t, puts it back in shape with w; a deleted one
// is created again with w (and its DestinationRules with it, if they went too).
func (r *Istio) SetWeights(ctx context.Context, t canary.Target, w canary.Weights) error {
	if err := w.ValidateFor(t); err != nil {
		return err
	}
	if err := errors.Join(validTarget(t), validMatches(t.Match), validAffinity(t), r.validTCP(t, w)); err != nil {
		return err
	}
	vs, err := r.api(ctx, "VirtualService", t.Namespace)
	if err != nil {
		return err
	}
	route := "/spec/http/0/route/"
	if r.svc.TCP {
		route = "/spec/tcp/0/route/"
	}
	ops := append(r.own.testOwner(t),
		patchOp{Op: "test", Path: route + "0/destination/host", Value: t.PrimaryService()},
		patchOp{Op: "test", Path: route + "1/destination/host", Value: t.CanaryService()},
	)
	if len(t.Match) == 0 && !r.svc.TCP {
		// the HTTP routes are written whole, in the same single request: session affinity's
		// routes come and go with the weights and the cookies, and a target without it (one
		// whose Canary dropped it, or a retirement's, which knows no cookie) must not leave a
		// cookie route first, whose weights a patch of the first route would set while the
		// weighted route after it kept its own; the weighted route's mirror is canarykit's
		// alone: unmirrored weights remove it even for a target that does not mirror, so no
		// mirror outlives the step that set it
		ops = append(ops, patchOp{Op: "add", Path: "/spec/http", Value: r.vsSpec(t, w).HTTP})
	} else {
		if !r.svc.TCP {
			// the first route is the A/B route only if the second is the A/B target's route to
			// the primary: an earlier release with session affinity left its cookie route
			// first, whose weights a patch of the first route would set while the weighted
			// route after it kept its own (the routes are then put in shape whole, below)
			ops = append(ops, patchOp{Op: "test", Path: "/spec/http/1/route", Value: r.abPrimaryRoute(t)})
		}
		ops = append(ops,
			// add, not replace: Istio's own clients leave a zero weight out
			patchOp{Op: "add", Path: route + "0/weight", Value: w.Primary},
			patchOp{Op: "add", Path: route + "1/weight", Value: w.Canary},
		)
	}
	_, err = vs.res.Patch(ctx, t.ApexService(), types.JSONPatchType, marshalPatch(ops...), metav1.PatchOptions{})
	switch {
	case err == nil:
		return nil
	case objectMissing(err):
		r.log.Info("VirtualService missing; creating it again", "target", t.String())
		if err := validABMatches(t, r.svc); err != nil {
			return err
		}
		if err := r.reconcileRules(ctx, t); err != nil {
			return err
		}
		return r.createVirtualService(ctx, t, vs, w)
	case !patchRejected(err):
		return r.apiError(err, "patch", vs.kind, t.Namespace, t.ApexService())
	}
	if err := validABMatches(t, r.svc); err != nil {
		return err
	}
	cur, err := vs.res.Get(ctx, t.ApexService(), metav1.GetOptions{})
	if err != nil {
		return r.apiError(err, "get", vs.kind, t.Namespace, t.ApexService())
	}
	if err := r.own.check("VirtualService", objectMeta(cur), t); err != nil {
		return err
	}
	_, err = r.reshape(ctx, t, vs, cur, &w)
	return err
}

// abPrimaryRoute is the destinations of the route that follows the A/B route of a target with
// match conditions (virtualService): all on the primary, at the router's destination port.
func (r *Istio) abPrimaryRoute(t canary.Target) []istioDestination {
	d := istioDestination{Destination: istioHost{Host: t.PrimaryService()}, Weight: ptrTo(int32(100))}
	if r.port != 0 {
		d.Destination.Port = &istioPort{Number: r.port}
	}
	return []istioDestination{d}
}

// Weights reads t's VirtualService and returns the primary's and the canary's share of the
// weighted route's destination weights in percent. A VirtualService that is not the router's
// for t is refused as Reconcile refuses it (ErrNotOwned).
func (r *Istio) Weights(ctx context.Context, t canary.Target) (canary.Weights, error) {
	if err := validTarget(t); err != nil {
		return canary.Weights{}, err
	}
	vs, err := r.api(ctx, "VirtualService", t.Namespace)
	if err != nil {
		return canary.Weights{}, err
	}
	cur, err := vs.res.Get(ctx, t.ApexService(), metav1.GetOptions{})
	if err != nil {
		return canary.Weights{}, r.apiError(err, "get", vs.kind, t.Namespace, t.ApexService())
	}
	if err := r.own.check("VirtualService", objectMeta(cur), t); err != nil {
		return canary.Weights{}, err
	}
	var spec storedRoutes
	if err := decodeSpec(cur, &spec); err != nil {
		return canary.Weights{}, fmt.Errorf("VirtualService %s/%s: %w", t.Namespace, t.ApexService(), err)
	}
	w, err := virtualServiceWeights(spec.weighted(r.svc), t)
	if err != nil {
		return canary.Weights{}, fmt.Errorf("VirtualService %s/%s: %w", t.Namespace, t.ApexService(), err)
	}
	return w, nil
}

// validTCP refuses, for a TCP service (istioapi.Service.TCP), what only HTTP routes do: A/B
// match conditions (canary.ErrMatchUnsupported), mirroring (canary.ErrMirrorUnsupported) and
// session affinity (canary.ErrSessionAffinityUnsupported). Flagger ignores them for a TCP
// service; its A/B test would then send all traffic to the canary.
func (r *Istio) validTCP(t canary.Target, w canary.Weights) error {
	if !r.svc.TCP {
		return nil
	}
	const kind = "Istio's TCP route (a service with appProtocol tcp)"
	var err error
	if len(t.Match) > 0 {
		err = canary.Permanent(fmt.Errorf("%w: %s matches ports only, not requests; A/B testing needs an HTTP service", canary.ErrMatchUnsupported, kind))
	}
	return errors.Join(err, noMirror(kind, t, w), noAffinity(kind, t))
}

func (r *Istio) createVirtualService(ctx context.Context, t canary.Target, vs istioAPI, w canary.Weights) error {
	if err := r.create(ctx, t, vs, t.ApexService(), r.vsSpec(t, w)); err != nil {
		return err
	}
	r.log.Info("VirtualService created", "target", t.String(), "weights", w.String())
	return nil
}

// object is the object name of api's kind with spec, labelled as the router's for t.
func (r *Istio) object(ctx context.Context, t canary.Target, api istioAPI, name string, spec any) (*unstructured.Unstructured, error) {
	meta := metav1.ObjectMeta{Name: name, Namespace: t.Namespace}
	if api.kind == "VirtualService" {
		applyMetadata(&meta, r.meta)
	}
	if err := r.own.stamp(ctx, t, &meta); err != nil {
		return nil, err
	}
	obj, err := toUnstructured(istioObject{APIVersion: IstioGroup + "/" + api.version, Kind: api.kind, Metadata: meta, Spec: spec})
	if err != nil {
		return nil, canary.Permanent(fmt.Errorf("encode %s %s/%s: %w", api.kind, t.Namespace, name, err))
	}
	return obj, nil
}

// create creates the object name of api's kind with spec, labelled as the router's for t.
func (r *Istio) create(ctx context.Context, t canary.Target, api istioAPI, name string, spec any) error {
	obj, err := r.object(ctx, t, api, name, spec)
	if err != nil {
		return err
	}
	if _, err := api.res.Create(ctx, obj, metav1.CreateOptions{}); err != nil {
		return r.apiError(err, "create", api.kind, t.Namespace, name)
	}
	if api.kind == "DestinationRule" {
		r.log.Info("DestinationRule created", "target", t.String(), "name", name)
	}
	return nil
}

// update replaces cur's spec with spec and records t as its target; cur's resourceVersion
// makes it fail on a concurrent change.
func (r *Istio) update(ctx context.Context, t canary.Target, api istioAPI, cur *unstructured.Unstructured, spec any) error {
	m, err := specMap(spec)
	if err != nil {
		return canary.Permanent(fmt.Errorf("encode %s spec: %w", api.kind, err))
	}
	obj := cur.DeepCopy()
	obj.Object["spec"] = m
	if api.kind == "VirtualService" {
		meta := metav1.ObjectMeta{Labels: obj.GetLabels(), Annotations: obj.GetAnnotations()}
		applyMetadata(&meta, r.meta)
		obj.SetLabels(meta.Labels)
		obj.SetAnnotations(meta.Annotations)
	}
	annotations := obj.GetAnnotations()
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[canary.AnnotationTarget] = t.Name
	obj.SetAnnotations(annotations)
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[canary.LabelManagedBy] = r.own.managedBy // an object Flagger made has no label yet
	obj.SetLabels(labels)
	_, err = api.res.Update(ctx, obj, metav1.UpdateOptions{})
	return err
}

func (r *Istio) apiError(err error, verb, kind, namespace, name string) error {
	if apierr.ResourceMissing(err) {
		crd := VirtualServiceCRD
		if kind == "DestinationRule" {
			crd = DestinationRuleCRD
		}
		return crdError(crd+" is not served by the API server at the version used", istioHint)
	}
	if apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("%s %s %s/%s: created concurrently, adopting at the next attempt: %w", verb, kind, namespace, name, err)
	}
	return classify(err, fmt.Sprintf("%s %s %s/%s", verb, kind, namespace, name))
}

// objectMeta is the part of an unstructured object's metadata the ownership check reads.
func objectMeta(u *unstructured.Unstructured) *metav1.ObjectMeta {
	return &metav1.ObjectMeta{Name: u.GetName(), Namespace: u.GetNamespace(), Labels: u.GetLabels(),
		Annotations: u.GetAnnotations(), OwnerReferences: u.GetOwnerReferences()}
}

// cloneService is a deep copy of svc, so that the router's objects do not change with the
// caller's values.
func cloneService(svc istioapi.Service) (istioapi.Service, error) {
	b, err := json.Marshal(svc)
	if err != nil {
		return istioapi.Service{}, err
	}
	var c istioapi.Service
	err = json.Unmarshal(b, &c)
	return c, err
}
