package mesh

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"net/http"
	"regexp"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	appsv1client "k8s.io/client-go/kubernetes/typed/apps/v1"

	"github.com/canarykit/canarykit/canary"
)

// Sentinel errors; test with errors.Is. All are returned marked with canary.Permanent, so a
// canary.Rollout stops instead of retrying.
var (
	// ErrCRDMissing: the API server does not serve the route kind (its CRD is not installed, or
	// not at a version the router can use).
	ErrCRDMissing = errors.New("route CRD not installed")
	// ErrNotOwned: a route object with the router's name exists but another controller manages
	// it, or the router made it for another target (canary.AnnotationTarget); the router
	// leaves it alone.
	ErrNotOwned = errors.New("route object is managed by someone else")
	// ErrRouteRejected: the mesh reports, in the route's status, that it does not apply the
	// route (Gateway API's Accepted or ResolvedRefs condition is False for its parent).
	ErrRouteRejected = errors.New("route rejected by the mesh")
)

// OwnerFunc returns the owner reference route objects for t get when a router creates them, or
// nil for none. It is called once per object a router creates, never on the weight-setting path.
type OwnerFunc func(ctx context.Context, t canary.Target) (*metav1.OwnerReference, error)

// DeploymentOwner returns an OwnerFunc that makes the target Deployment (apps/v1, named
// t.Name) the controller of the route objects, so deleting the Deployment garbage-collects
// them. It costs one GET of the Deployment per object created. BlockOwnerDeletion is left
// unset: setting it needs update permission on deployments/finalizers (where the
// OwnerReferencesPermissionEnforcement admission plugin runs) and buys nothing here, since
// nothing has to wait for a route to go before its Deployment does.
func DeploymentOwner(deployments appsv1client.DeploymentsGetter) OwnerFunc {
	return func(ctx context.Context, t canary.Target) (*metav1.OwnerReference, error) {
		d, err := deployments.Deployments(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
		if err != nil {
			return nil, classify(err, "get owner deployment "+t.Namespace+"/"+t.Name)
		}
		return &metav1.OwnerReference{
			APIVersion: "apps/v1",
			Kind:       "Deployment",
			Name:       d.Name,
			UID:        d.UID,
			Controller: ptrTo(true),
		}, nil
	}
}

// owners stamps and recognises the objects a router manages.
type owners struct {
	managedBy string
	owner     OwnerFunc
}

func newOwners(managedBy string, owner OwnerFunc) owners {
	if managedBy == "" {
		managedBy = canary.ManagedBy
	}
	return owners{managedBy: managedBy, owner: owner}
}

// stamp labels meta as managed by the router, records t as the target it is made for and
// sets its owner reference.
func (o owners) stamp(ctx context.Context, t canary.Target, meta *metav1.ObjectMeta) error {
	if meta.Labels == nil {
		meta.Labels = map[string]string{}
	}
	meta.Labels[canary.LabelManagedBy] = o.managedBy
	claim(meta, t)
	if o.owner == nil {
		return nil
	}
	ref, err := o.owner(ctx, t)
	if err != nil {
		return fmt.Errorf("owner of %s: %w", t, err)
	}
	if ref != nil {
		meta.OwnerReferences = append(meta.OwnerReferences, *ref)
	}
	return nil
}

// claim records t in meta as the target the object is made for (canary.AnnotationTarget).
func claim(meta *metav1.ObjectMeta, t canary.Target) {
	if meta.Annotations == nil {
		meta.Annotations = map[string]string{}
	}
	meta.Annotations[canary.AnnotationTarget] = t.Name
}

// claimed reports whether meta records t as the target the object is made for. An object the
// router owns that records none was made before routers recorded their target: it is taken as
// t's and claimed at the router's next write of it.
func claimed(meta *metav1.ObjectMeta, t canary.Target) bool {
	return meta.Annotations[canary.AnnotationTarget] == t.Name
}

// check returns nil when meta is managed by the router for t (or, recording no target, by the
// router), else a permanent error wrapping ErrNotOwned that names who manages it: another
// manager, or the router for another target.
func (o owners) check(kind string, meta *metav1.ObjectMeta, t canary.Target) error {
	got := meta.Labels[canary.LabelManagedBy]
	if got == o.managedBy {
		made := meta.Annotations[canary.AnnotationTarget]
		if made == "" || made == t.Name {
			return nil
		}
		return canary.Permanent(fmt.Errorf("%w: %s %s/%s is %s's for target %s (%s=%s), not for %s; two targets cannot share it: give one of them other route objects (another service name, or another Ingress)",
			ErrNotOwned, kind, meta.Namespace, meta.Name, o.managedBy, made, canary.AnnotationTarget, made, t.Name))
	}
	var who []string
	if got != "" {
		who = append(who, fmt.Sprintf("%s=%s", canary.LabelManagedBy, got))
	}
	if ref := metav1.GetControllerOfNoCopy(meta); ref != nil {
		who = append(who, fmt.Sprintf("controller %s %s", ref.Kind, ref.Name))
	}
	if len(who) == 0 {
		who = append(who, "no "+canary.LabelManagedBy+" label")
	}
	return canary.Permanent(fmt.Errorf("%w: %s %s/%s has %s, not %s=%s; delete it, or label it to hand it over",
		ErrNotOwned, kind, meta.Namespace, meta.Name, strings.Join(who, ", "), canary.LabelManagedBy, o.managedBy))
}

// testOwner is the JSON patch operations that make a patch fail unless the object is managed
// by the router and records t as its target: the server checks ownership and applies the
// change atomically. An object that records no target fails them too, and the router, having
// read it, claims it (or refuses it) on the slower path.
func (o owners) testOwner(t canary.Target) []patchOp {
	return []patchOp{
		{Op: "test", Path: "/metadata/labels/" + escapePointer(canary.LabelManagedBy), Value: o.managedBy},
		{Op: "test", Path: "/metadata/annotations/" + escapePointer(canary.AnnotationTarget), Value: t.Name},
	}
}

// patchOp is one RFC 6902 JSON patch operation.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

func marshalPatch(ops ...patchOp) []byte {
	b, err := json.Marshal(ops)
	if err != nil { // only plain values are marshalled
		panic(fmt.Sprintf("mesh: marshal patch: %v", err))
	}
	return b
}

// pointerEscaper escapes a JSON pointer token; built once (a Replacer builds its tables on
// first use, which per write was 2 % of a 1,000-target controller's allocations).
var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// escapePointer escapes s as one JSON pointer token (RFC 6901).
func escapePointer(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return pointerEscaper.Replace(s)
}

// crdMissing reports whether err says the API server does not serve the resource at all, as
// opposed to the object not existing: "the server could not find the requested resource"
// (what Linkerd ≥ 2.12 without the linkerd-smi extension answers for TrafficSplits).
func crdMissing(err error) bool {
	if !apierrors.IsNotFound(err) {
		return false
	}
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		if d := st.Status().Details; d != nil {
			for _, c := range d.Causes {
				if c.Type == metav1.CauseTypeUnexpectedServerResponse {
					return true
				}
			}
		}
	}
	return strings.Contains(err.Error(), "could not find the requested resource")
}

// objectMissing reports whether err says the object does not exist (its kind is served).
func objectMissing(err error) bool { return apierrors.IsNotFound(err) && !crdMissing(err) }

// patchRejected reports whether a JSON patch failed to apply, e.g. a test operation failed.
func patchRejected(err error) bool {
	var st apierrors.APIStatus
	if errors.As(err, &st) && st.Status().Code == http.StatusUnprocessableEntity {
		return true
	}
	// client-go's fake clientsets return the JSON patch library's error as is
	msg := err.Error()
	return apierrors.IsInvalid(err) || strings.Contains(msg, "testing value") || strings.Contains(msg, "operation does not apply")
}

// testFailed reports whether a JSON patch failed because one of its test operations did: the
// API server answers that with a bare 422 (no kind, no field causes), where a patched object
// that fails validation or an admission policy is a 422 naming the object and its invalid
// fields, which says nothing about the values tested.
func testFailed(err error) bool {
	var st apierrors.APIStatus
	if errors.As(err, &st) && st.Status().Code == http.StatusUnprocessableEntity {
		d := st.Status().Details
		return d == nil || (d.Kind == "" && len(d.Causes) == 0)
	}
	// client-go's fake clientsets return the JSON patch library's error as is
	msg := err.Error()
	return strings.Contains(msg, "testing value") || strings.Contains(msg, "test operation does not apply")
}

// classify wraps err with what failed, marking what retrying cannot fix as permanent: requests
// the server refused (forbidden, unauthorized, invalid, bad request, method not supported).
// Conflicts, timeouts, throttling and server errors stay transient.
func classify(err error, what string) error {
	if err == nil {
		return nil
	}
	err = fmt.Errorf("%s: %w", what, err)
	switch {
	case isPermanent(err):
		return err
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err), apierrors.IsInvalid(err),
		apierrors.IsBadRequest(err), apierrors.IsMethodNotSupported(err), apierrors.IsNotAcceptable(err),
		apierrors.IsUnsupportedMediaType(err):
		return canary.Permanent(err)
	}
	return err
}

// crdError is the permanent error for a route kind the server does not serve: what is missing
// and how to get it.
func crdError(what, hint string) error {
	msg := what
	if hint != "" {
		msg += "; " + hint
	}
	return canary.Permanent(fmt.Errorf("%w: %s", ErrCRDMissing, msg))
}

// percentages turns the relative weights of the primary and canary backends (any unit: SMI
// v1alpha1 quantities in milli-units, integers, Gateway API weights) into percentages. Weights
// summing to 100 come back unchanged; others are scaled to the share of their sum, the canary's
// rounded to the nearest percent (a tie goes to the primary) and the primary taking the rest.
// Negative weights, or no weight at all, are an error: such a route has no defined split.
func percentages(primary, canaryW *big.Int) (canary.Weights, error) {
	if primary.Sign() < 0 || canaryW.Sign() < 0 {
		return canary.Weights{}, fmt.Errorf("negative backend weight (primary %s, canary %s)", primary, canaryW)
	}
	sum := new(big.Int).Add(primary, canaryW)
	if sum.Sign() == 0 {
		return canary.Weights{}, errors.New("neither primary nor canary backend has weight")
	}
	// canary% = floor((200*c + sum - 1) / (2*sum)): round to nearest, ties down.
	num := new(big.Int).Mul(canaryW, big.NewInt(200))
	num.Add(num, sum).Sub(num, big.NewInt(1))
	c := num.Quo(num, sum.Mul(sum, big.NewInt(2))).Int64()
	return canary.Weights{Primary: 100 - int(c), Canary: int(c)}, nil
}

func validTarget(t canary.Target) error {
	if t.Namespace == "" || t.Name == "" {
		return canary.Permanent(fmt.Errorf("mesh: target needs a namespace and a name, got %q/%q", t.Namespace, t.Name))
	}
	return nil
}

func ptrTo[T any](v T) *T { return &v }

// headerRegex is a header condition as a regular expression that means the same whether the
// data plane requires the whole value to match (Envoy) or searches it (Rust's and Go's
// regex): exact "v" → ^v$, prefix "p" → ^p.*, suffix "s" → .*s$ (literals escaped with
// regexp.QuoteMeta), regex as given.
func headerRegex(m canary.StringMatch) string {
	switch {
	case m.Exact != "":
		return "^" + regexp.QuoteMeta(m.Exact) + "$"
	case m.Prefix != "":
		return "^" + regexp.QuoteMeta(m.Prefix) + ".*"
	case m.Suffix != "":
		return ".*" + regexp.QuoteMeta(m.Suffix) + "$"
	}
	return m.Regex
}

// validMatches checks match conditions the way canary.Spec validation does, for routers used
// without a Rollout: at least one header per match, each with exactly one condition, regexes
// that compile.
func validMatches(ms []canary.Match) error {
	var errs []error
	for i, m := range ms {
		if len(m.Headers) == 0 {
			errs = append(errs, fmt.Errorf("match[%d] has no header condition", i))
		}
		for _, name := range slices.Sorted(maps.Keys(m.Headers)) {
			sm, set := m.Headers[name], 0
			for _, v := range []string{sm.Exact, sm.Prefix, sm.Suffix, sm.Regex} {
				if v != "" {
					set++
				}
			}
			if name == "" || set != 1 {
				errs = append(errs, fmt.Errorf("match[%d] header %q must have a name and exactly one of exact, prefix, suffix, regex", i, name))
			}
			if _, err := regexp.Compile(sm.Regex); err != nil {
				errs = append(errs, fmt.Errorf("match[%d] header %q: %w", i, name, err))
			}
		}
	}
	if len(errs) > 0 {
		return canary.Permanent(fmt.Errorf("mesh: invalid match: %w", errors.Join(errs...)))
	}
	return nil
}

func isPermanent(err error) bool { return canary.IsPermanent(err) }
