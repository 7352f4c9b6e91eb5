package mesh

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"strconv"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	networkingv1 "k8s.io/api/networking/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	networkingv1client "k8s.io/client-go/kubernetes/typed/networking/v1"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/textcut"
)

// NGINXAnnotationPrefix is ingress-nginx's default annotation prefix.
const NGINXAnnotationPrefix = "nginx.ingress.kubernetes.io"

// The ingress-nginx canary annotations the NGINX router writes, without their prefix.
const (
	nginxCanary              = "canary"
	nginxWeight              = "canary-weight"
	nginxWeightTotal         = "canary-weight-total"
	nginxByHeader            = "canary-by-header"
	nginxByHeaderValue       = "canary-by-header-value"
	nginxByHeaderPattern     = "canary-by-header-pattern"
	nginxByCookie            = "canary-by-cookie"
	lastAppliedConfiguration = "kubectl.kubernetes.io/last-applied-configuration"
)

// nginxMatchKeys are the A/B annotations, written or removed by every weight change.
var nginxMatchKeys = []string{nginxByHeader, nginxByHeaderValue, nginxByHeaderPattern, nginxByCookie}

// NGINXOptions configure an NGINX ingress router. Zero fields mean "default".
type NGINXOptions struct {
	// Client reaches networking.k8s.io/v1 Ingresses. Required.
	Client networkingv1client.IngressesGetter
	// AnnotationPrefix is the prefix of the canary annotations, as the controller's
	// --annotations-prefix sets it. Default NGINXAnnotationPrefix.
	AnnotationPrefix string
	// ManagedBy is the value of the app.kubernetes.io/managed-by label that marks the canary
	// Ingresses this router manages. Default canary.ManagedBy.
	ManagedBy string
	// Owner gives the canary Ingresses the router creates an owner reference (e.g.
	// DeploymentOwner). Default: none.
	Owner OwnerFunc
	// Logger receives a line per canary Ingress created or reshaped, and one per edit of the
	// user's Ingress that the canary Ingress cannot follow (with a Cache). Default: discard.
	Logger logr.Logger
	// Cache, if set, holds the Ingresses as a watch of their namespace sees them (the kube
	// driver gives its kube.Cluster). SetWeights then compares the canary Ingress with the
	// user's there and, when the user's Ingress changed (its rules, TLS, backends, labels or
	// annotations), reshapes the canary Ingress to it with the new weights, as Flagger copies
	// the user's Ingress on every tick; with nothing changed it still makes one request.
	// Without a Cache the canary Ingress follows the user's at Reconcile only (a release's
	// start).
	Cache IngressCache
}

// NGINX routes through ingress-nginx's canary Ingresses, as Flagger does: it copies the
// Ingress in front of the target (canary.Target.IngressName, a Flagger Canary's ingressRef) to
// "<ingress>-canary", with every backend that names the apex Service pointed at
// "<apex>-canary", and the annotations canary: "true" and canary-weight: the canary's
// percentage. For A/B testing (canary.Target.Match) it writes canary-by-header with
// canary-by-header-value (exact) or canary-by-header-pattern (prefix, suffix, regex), and
// canary-by-cookie, while the canary's weight is above 0; canary-weight stays "0", so requests
// that do not match go to the primary. It only reads the user's Ingress. Safe for concurrent
// use.
type NGINX struct {
	client networkingv1client.IngressesGetter
	cache  IngressCache // nil: none
	prefix string
	own    owners
	log    logr.Logger

	mu sync.Mutex
	// refused holds, by target, the resourceVersion of the user's Ingress last logged as one
	// the canary Ingress cannot follow, so that a step logs a refusal once per edit, not once
	// per step; emptied when it reaches maxRefused targets.
	refused map[string]string
}

var _ canary.WeightsReconciler = (*NGINX)(nil)

// NewNGINX validates o and returns a router. It makes no request.
func NewNGINX(o NGINXOptions) (*NGINX, error) {
	var errs []error
	if o.Client == nil {
		errs = append(errs, errors.New("Client is required"))
	}
	prefix := o.AnnotationPrefix
	if prefix == "" {
		prefix = NGINXAnnotationPrefix
	}
	if len(validation.IsDNS1123Subdomain(prefix)) > 0 {
		errs = append(errs, fmt.Errorf("AnnotationPrefix %q is not a DNS subdomain", o.AnnotationPrefix))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("mesh: invalid NGINXOptions: %w", errors.Join(errs...))
	}
	r := &NGINX{client: o.Client, cache: o.Cache, prefix: prefix, own: newOwners(o.ManagedBy, o.Owner), log: o.Logger}
	if r.log.GetSink() == nil {
		r.log = logr.Discard()
	}
	return r, nil
}

// CanaryIngressName is the name of the Ingress the router writes for t: "<ingress>-canary".
func CanaryIngressName(t canary.Target) string { return t.IngressName() + "-canary" }

func (r *NGINX) key(name string) string { return r.prefix + "/" + name }

// Reconcile creates t's canary Ingress with all traffic on the primary, or adopts the one the
// router created earlier for t, bringing it back in line with the user's Ingress (spec, labels
// and annotations) and with t's match conditions, keeping its weights. One managed by someone
// else, or made for another target whose ingressRef names the same Ingress, is left alone
// (ErrNotOwned). It costs two GETs (the
// user's Ingress and the canary Ingress) when nothing needs changing.
func (r *NGINX) Reconcile(ctx context.Context, t canary.Target) error {
	_, err := r.reconcile(ctx, t)
	return err
}

// ReconcileWeights is Reconcile returning the canary Ingress's weights as it found (or made)
// them (canary.WeightsReconciler).
func (r *NGINX) ReconcileWeights(ctx context.Context, t canary.Target) (canary.Weights, error) {
	return r.reconcile(ctx, t)
}

func (r *NGINX) reconcile(ctx context.Context, t canary.Target) (canary.Weights, error) {
	if err := r.validate(t); err != nil {
		return canary.Weights{}, err
	}
	cur, err := r.client.Ingresses(t.Namespace).Get(ctx, CanaryIngressName(t), metav1.GetOptions{})
	if objectMissing(err) {
		return canary.AllPrimary(), r.create(ctx, t, canary.AllPrimary())
	}
	if err != nil {
		return canary.Weights{}, r.apiError(err, "get", CanaryIngressName(t), t)
	}
	if err := r.check(cur, t); err != nil {
		return canary.Weights{}, err
	}
	w, err := r.weights(cur, t)
	switch {
	case err != nil:
		w = canary.AllPrimary() // unreadable weights: reshaped to the primary
	case len(t.Match) > 0 && w.Canary > 0:
		w = canary.AllCanary() // what the A/B annotations route
	}
	if err := r.reshape(ctx, t, cur, w); err != nil {
		return canary.Weights{}, err
	}
	return w, nil
}

// check returns nil when the canary Ingress cur is the router's for t, else a permanent error
// wrapping ErrNotOwned. Targets whose ingressRef names the same Ingress share the name of the
// canary Ingress; one made before routers recorded their target is taken as t's only if one
// of its backends is t's canary Service.
func (r *NGINX) check(cur *networkingv1.Ingress, t canary.Target) error {
	if err := r.own.check("Ingress", &cur.ObjectMeta, t); err != nil {
		return err
	}
	if cur.Annotations[canary.AnnotationTarget] == "" && !routesTo(cur, t.CanaryService()) {
		return canary.Permanent(fmt.Errorf("%w: Ingress %s/%s records no target (%s) and routes nothing to %s: it is another target's; targets with the same ingressRef cannot share it",
			ErrNotOwned, cur.Namespace, cur.Name, canary.AnnotationTarget, t.CanaryService()))
	}
	return nil
}

// routesTo reports whether one of ing's backends (the default one, or a rule's path) names
// service.
func routesTo(ing *networkingv1.Ingress, service string) bool {
	names := func(b *networkingv1.IngressBackend) bool {
		return b != nil && b.Service != nil && b.Service.Name == service
	}
	if names(ing.Spec.DefaultBackend) {
		return true
	}
	for _, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		for i := range rule.HTTP.Paths {
			if names(&rule.HTTP.Paths[i].Backend) {
				return true
			}
		}
	}
	return false
}

// validate checks t and that its match conditions are ones ingress-nginx can express.
func (r *NGINX) validate(t canary.Target) error {
	if err := errors.Join(validTarget(t), validMatches(t.Match), noMirror("an ingress-nginx canary Ingress", t, canary.Weights{}), noAffinity("an ingress-nginx canary Ingress", t)); err != nil {
		return err
	}
	_, err := nginxMatch(t.Match)
	return err
}

// desired builds t's canary Ingress from the user's Ingress, routing w, and returns with it
// what it copied of the user's Ingress's labels and annotations (canary.ApplyMetadata records
// them, so that what the user removes is removed from the canary Ingress at its next reshape).
func (r *NGINX) desired(ctx context.Context, t canary.Target, w canary.Weights) (*networkingv1.Ingress, canary.Metadata, error) {
	apex, err := r.client.Ingresses(t.Namespace).Get(ctx, t.IngressName(), metav1.GetOptions{})
	if err != nil {
		return nil, canary.Metadata{}, r.apiError(err, "get", t.IngressName(), t)
	}
	return r.desiredFrom(t, apex, w)
}

// desiredFrom is desired with the user's Ingress apex already read.
func (r *NGINX) desiredFrom(t canary.Target, apex *networkingv1.Ingress, w canary.Weights) (*networkingv1.Ingress, canary.Metadata, error) {
	if v, ok := apex.Annotations[r.key(nginxCanary)]; ok {
		// ingress-nginx reads the annotation as Go's ParseBool does: "True" and "1" mark a
		// canary Ingress as "true" does
		if on, err := strconv.ParseBool(v); err == nil && on {
			return nil, canary.Metadata{}, canary.Permanent(fmt.Errorf("Ingress %s/%s is itself a canary Ingress (%s: %s); name the Ingress that routes to service %s",
				t.Namespace, apex.Name, r.key(nginxCanary), quoteCut(v), t.ApexService()))
		}
	}
	spec := *apex.Spec.DeepCopy()
	found := retarget(spec.DefaultBackend, t)
	for i := range spec.Rules {
		if spec.Rules[i].HTTP == nil {
			continue
		}
		for j := range spec.Rules[i].HTTP.Paths {
			if retarget(&spec.Rules[i].HTTP.Paths[j].Backend, t) {
				found = true
			}
		}
	}
	if !found {
		return nil, canary.Metadata{}, canary.Permanent(fmt.Errorf("Ingress %s/%s has no backend for service %s: the canary Ingress would route nothing to %s",
			t.Namespace, apex.Name, t.ApexService(), t.CanaryService()))
	}
	copied := canary.Metadata{Labels: map[string]string{}, Annotations: map[string]string{}}
	for k, v := range apex.Labels {
		if !canary.GitOpsMark(k) {
			copied.Labels[k] = v
		}
	}
	for k, v := range apex.Annotations {
		if !strings.HasPrefix(k, r.key(nginxCanary)) && k != lastAppliedConfiguration && !canary.GitOpsMark(k) {
			copied.Annotations[k] = v
		}
	}
	copied = copied.Writable()
	labels, annotations, _ := canary.ApplyMetadata(nil, nil, copied, canary.MetadataKeys{})
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: CanaryIngressName(t), Namespace: t.Namespace, Labels: labels, Annotations: annotations},
		Spec:       spec,
	}
	if ing.Annotations == nil {
		ing.Annotations = map[string]string{}
	}
	maps.Copy(ing.Annotations, r.state(t, w))
	return ing, copied, nil
}

// retarget points b at the canary Service if it names the apex Service, and reports whether it
// did.
func retarget(b *networkingv1.IngressBackend, t canary.Target) bool {
	if b == nil || b.Service == nil || b.Service.Name != t.ApexService() {
		return false
	}
	b.Service.Name = t.CanaryService()
	return true
}

// abRoute is what an A/B target's match conditions become in ingress-nginx's annotations.
type abRoute struct{ header, value, pattern, cookie string }

// nginxMatch translates match conditions into ingress-nginx's: one header condition
// (canary-by-header with -value for exact, -pattern for prefix, suffix and regex) and one
// cookie (canary-by-cookie: a "cookie" condition's exact value is the cookie's name, and
// requests whose cookie of that name is "always" match, as Flagger writes it). Each match
// entry holds one condition, and no other field than headers (canary.HeadersOnly). Anything
// else wraps canary.ErrMatchUnsupported.
func nginxMatch(ms []canary.Match) (abRoute, error) {
	if err := canary.HeadersOnly("an ingress-nginx canary Ingress", ms); err != nil {
		return abRoute{}, canary.Permanent(err)
	}
	var ab abRoute
	var errs []string
	for i, m := range ms {
		if len(m.Headers) != 1 {
			errs = append(errs, fmt.Sprintf("match[%d] has %d header conditions; ingress-nginx matches one header or one cookie per entry", i, len(m.Headers)))
			continue
		}
		for name, sm := range m.Headers {
			switch {
			case strings.EqualFold(name, "cookie"):
				switch {
				case sm.Exact == "":
					errs = append(errs, fmt.Sprintf("match[%d] cookie: ingress-nginx matches a cookie by name; write cookie: exact: <name> (requests whose cookie <name> is \"always\" match)", i))
				case ab.cookie != "":
					errs = append(errs, fmt.Sprintf("match[%d] cookie: ingress-nginx matches one cookie, %q is the other", i, ab.cookie))
				default:
					ab.cookie = sm.Exact
				}
			case ab.header != "":
				errs = append(errs, fmt.Sprintf("match[%d] header %q: ingress-nginx matches one header, %q is the other", i, name, ab.header))
			case sm.Exact != "":
				ab.header, ab.value = name, sm.Exact
			default:
				ab.header, ab.pattern = name, sm.AsRegex()
			}
		}
	}
	if len(errs) > 0 {
		return abRoute{}, canary.Permanent(fmt.Errorf("%w: %s", canary.ErrMatchUnsupported, strings.Join(errs, "; ")))
	}
	return ab, nil
}

// state is the canary annotations routing w for t: canary "true", canary-weight, and the A/B
// annotations while an A/B target's canary weight is above 0. An annotation absent from the
// map is one the router removes.
func (r *NGINX) state(t canary.Target, w canary.Weights) map[string]string {
	s := map[string]string{r.key(nginxCanary): "true", r.key(nginxWeight): strconv.Itoa(w.Canary)}
	if len(t.Match) == 0 {
		return s
	}
	s[r.key(nginxWeight)] = "0"
	if w.Canary == 0 {
		return s
	}
	ab, _ := nginxMatch(t.Match) // validated before
	for k, v := range map[string]string{nginxByHeader: ab.header, nginxByHeaderValue: ab.value,
		nginxByHeaderPattern: ab.pattern, nginxByCookie: ab.cookie} {
		if v != "" {
			s[r.key(k)] = v
		}
	}
	return s
}

// newIngress is t's canary Ingress routing w, stamped as the router's for t.
func (r *NGINX) newIngress(ctx context.Context, t canary.Target, w canary.Weights) (*networkingv1.Ingress, error) {
	ing, _, err := r.desired(ctx, t, w)
	if err != nil {
		return nil, err
	}
	if err := r.own.stamp(ctx, t, &ing.ObjectMeta); err != nil {
		return nil, err
	}
	return ing, nil
}

func (r *NGINX) create(ctx context.Context, t canary.Target, w canary.Weights) error {
	ing, err := r.newIngress(ctx, t, w)
	if err != nil {
		return err
	}
	if _, err := r.client.Ingresses(t.Namespace).Create(ctx, ing, metav1.CreateOptions{}); err != nil {
		return r.apiError(err, "create", ing.Name, t)
	}
	r.log.Info("canary Ingress created", "target", t.String(), "ingress", ing.Name, "weights", w.String())
	return nil
}

// reshape updates cur to the user's Ingress and t's shape routing w, recording t as its
// target, unless it has it. The labels and annotations copied from the user's Ingress follow
// it (one the user removed is removed, canary.ApplyMetadata's record); those others added to
// the canary Ingress are kept, owner references too.
func (r *NGINX) reshape(ctx context.Context, t canary.Target, cur *networkingv1.Ingress, w canary.Weights) error {
	want, copied, err := r.desired(ctx, t, w)
	if err != nil {
		return err
	}
	next := r.next(t, cur, want, copied, w)
	if apiequality.Semantic.DeepEqual(cur.Spec, next.Spec) && maps.Equal(cur.Labels, next.Labels) && maps.Equal(cur.Annotations, next.Annotations) {
		return nil
	}
	if _, err := r.client.Ingresses(t.Namespace).Update(ctx, next, metav1.UpdateOptions{}); err != nil {
		return r.apiError(err, "update", next.Name, t)
	}
	r.log.Info("canary Ingress reshaped", "target", t.String(), "ingress", next.Name, "weights", w.String())
	return nil
}

// next is cur reshaped to want (desired's, with what it copied of the user's Ingress) routing
// w, recorded as t's.
func (r *NGINX) next(t canary.Target, cur, want *networkingv1.Ingress, copied canary.Metadata, w canary.Weights) *networkingv1.Ingress {
	next := cur.DeepCopy()
	annotations := maps.Clone(cur.Annotations)
	maps.DeleteFunc(annotations, func(k, _ string) bool { return strings.HasPrefix(k, r.key(nginxCanary)) }) // the state is want's
	next.Labels, next.Annotations, _ = canary.ApplyMetadata(cur.Labels, annotations, copied, canary.MetadataKeys{})
	if next.Labels == nil {
		next.Labels = map[string]string{}
	}
	if next.Annotations == nil {
		next.Annotations = map[string]string{}
	}
	next.Labels[canary.LabelManagedBy] = r.own.managedBy
	maps.Copy(next.Annotations, r.state(t, w))
	r.own.claim(&next.ObjectMeta, t)
	next.Spec = want.Spec
	return next
}

// SetWeights routes w with one request: a JSON patch of the canary Ingress's annotations,
// which the API server applies only if the Ingress is still labelled as managed by the router
// for t (checked in the same request). A/B annotations that w does not call for are removed (each
// as an add then a remove, which applies whether or not it is there). If the patch cannot
// apply, the router reads the canary Ingress and, if it is its own for t, reshapes it with w; a
// deleted canary Ingress is created again with w. With a Cache that shows the user's Ingress
// changed since the canary Ingress was copied from it, SetWeights reads the canary Ingress and
// reshapes it to the user's with w instead (two reads and an update, as Reconcile).
//
// For an A/B target, ingress-nginx sends a matching request all to the canary or all to the
// primary: any canary weight above 0 sends matching requests to the canary (as Flagger does),
// and Weights then reads back 100.
func (r *NGINX) SetWeights(ctx context.Context, t canary.Target, w canary.Weights) error {
	if err := errors.Join(w.Validate(), noMirror("an ingress-nginx canary Ingress", t, w), noAffinity("an ingress-nginx canary Ingress", t)); err != nil {
		return err
	}
	if err := r.validate(t); err != nil {
		return err
	}
	name := CanaryIngressName(t)
	if r.cache != nil && r.userChanged(t, w) {
		cur, err := r.client.Ingresses(t.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return r.apiError(err, "get", name, t)
		}
		if err := r.check(cur, t); err != nil {
			return err
		}
		r.log.Info("the user's Ingress changed; reshaping the canary Ingress to it", "target", t.String(), "ingress", t.IngressName())
		return r.reshape(ctx, t, cur, w)
	}
	state := r.state(t, w)
	ops := r.own.testOwner(t)
	for _, k := range append([]string{nginxCanary, nginxWeight, nginxWeightTotal}, nginxMatchKeys...) {
		path := "/metadata/annotations/" + escapePointer(r.key(k))
		if v, ok := state[r.key(k)]; ok {
			ops = append(ops, patchOp{Op: "add", Path: path, Value: v})
			continue
		}
		ops = append(ops, patchOp{Op: "add", Path: path, Value: ""}, patchOp{Op: "remove", Path: path})
	}
	_, err := r.client.Ingresses(t.Namespace).Patch(ctx, name, types.JSONPatchType, marshalPatch(ops...), metav1.PatchOptions{})
	switch {
	case err == nil:
		return nil
	case objectMissing(err):
		r.log.Info("canary Ingress missing; creating it again", "target", t.String(), "ingress", name)
		return r.create(ctx, t, w)
	case !patchRejected(err):
		return r.apiError(err, "patch", name, t)
	}
	cur, err := r.client.Ingresses(t.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return r.apiError(err, "get", name, t)
	}
	if err := r.check(cur, t); err != nil {
		return err
	}
	return r.reshape(ctx, t, cur, w)
}

// Weights reads t's canary Ingress: for an A/B target with canary-by-header or
// canary-by-cookie, all matching requests go to the canary (100); otherwise the canary's
// share is canary-weight out of canary-weight-total (default 100; a missing weight is 0). A
// canary Ingress that is not the router's for t is refused as Reconcile refuses it
// (ErrNotOwned).
func (r *NGINX) Weights(ctx context.Context, t canary.Target) (canary.Weights, error) {
	if err := validTarget(t); err != nil {
		return canary.Weights{}, err
	}
	cur, err := r.client.Ingresses(t.Namespace).Get(ctx, CanaryIngressName(t), metav1.GetOptions{})
	if err != nil {
		return canary.Weights{}, r.apiError(err, "get", CanaryIngressName(t), t)
	}
	if err := r.check(cur, t); err != nil {
		return canary.Weights{}, err
	}
	return r.weights(cur, t)
}

func (r *NGINX) weights(ing *networkingv1.Ingress, t canary.Target) (canary.Weights, error) {
	fail := func(format string, args ...any) (canary.Weights, error) {
		return canary.Weights{}, fmt.Errorf("Ingress %s/%s: %s", ing.Namespace, ing.Name, fmt.Sprintf(format, args...))
	}
	a := ing.Annotations
	if a[r.key(nginxCanary)] != "true" {
		return fail("annotation %s is %s, not \"true\": ingress-nginx does not treat it as a canary", r.key(nginxCanary), quoteCut(a[r.key(nginxCanary)]))
	}
	if len(t.Match) > 0 && (a[r.key(nginxByHeader)] != "" || a[r.key(nginxByCookie)] != "") {
		return canary.AllCanary(), nil
	}
	parse := func(k string, def int64) (int64, error) {
		v, ok := a[r.key(k)]
		if !ok {
			return def, nil
		}
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("annotation %s: %s is not a non-negative integer", r.key(k), quoteCut(v))
		}
		return n, nil
	}
	weight, err := parse(nginxWeight, 0)
	if err != nil {
		return fail("%v", err)
	}
	total, err := parse(nginxWeightTotal, 100)
	if err != nil {
		return fail("%v", err)
	}
	if total == 0 || weight > total {
		return fail("canary weight %d out of a total of %d", weight, total)
	}
	return percentages(big.NewInt(total-weight), big.NewInt(weight))
}

// quoteCut quotes an annotation's value for a message, cut to 64 bytes: annotations are
// anyone's to write.
func quoteCut(s string) string { return textcut.Quote(s, 64) }

func (r *NGINX) apiError(err error, verb, name string, t canary.Target) error {
	if apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("%s Ingress %s/%s: created concurrently, adopting at the next attempt: %w", verb, t.Namespace, name, err)
	}
	return classify(err, fmt.Sprintf("%s Ingress %s/%s", verb, t.Namespace, name))
}
