package mesh

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/go-logr/logr"
	specsclient "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/specs/clientset/versioned"
	splitclient "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/split/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/apierr"
)

// SMI API groups and the names of the CRDs serving them.
const (
	SplitGroup        = "split.smi-spec.io"
	SpecsGroup        = "specs.smi-spec.io"
	TrafficSplitCRD   = "trafficsplits." + SplitGroup
	HTTPRouteGroupCRD = "httproutegroups." + SpecsGroup
)

const linkerdSMIHint = "Linkerd ≥ 2.12 serves TrafficSplit only with the linkerd-smi extension installed"

// TrafficSplitOptions configure a TrafficSplit router. Zero fields mean "default".
type TrafficSplitOptions struct {
	// Client reaches split.smi-spec.io. Required.
	Client splitclient.Interface
	// Specs reaches specs.smi-spec.io, where targets with match conditions (A/B) get their
	// HTTPRouteGroup. Required for such targets only.
	Specs specsclient.Interface
	// Discovery tells which versions the API server serves. Required unless Version is set.
	// The router asks once and caches the answer.
	Discovery discovery.DiscoveryInterface
	// Version pins the TrafficSplit version: v1alpha1, v1alpha2, v1alpha3 or v1alpha4 (then
	// HTTPRouteGroups use the same version). Empty: detect (see the package doc).
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

// TrafficSplit routes with an SMI TrafficSplit named after the apex service: backends
// "<apex>-canary" and "<apex>-primary", weights in percent. Targets with match conditions
// get an HTTPRouteGroup of the same name that the TrafficSplit's matches refer to (v1alpha3
// and later); requests that do not match go to the apex service, which selects the primary.
// Safe for concurrent use.
type TrafficSplit struct {
	versions map[string]splitVersion
	groups   map[string]versionClient[routeGroup]
	pinned   string
	served   *servedVersions
	own      owners
	log      logr.Logger
}

var _ canary.WeightsReconciler = (*TrafficSplit)(nil)

// NewTrafficSplit validates o and returns a router. It makes no request.
func NewTrafficSplit(o TrafficSplitOptions) (*TrafficSplit, error) {
	var errs []error
	if o.Client == nil {
		errs = append(errs, errors.New("Client is required"))
	}
	if o.Version == "" && o.Discovery == nil {
		errs = append(errs, errors.New("Discovery is required unless Version is set"))
	}
	if o.Version != "" && !slices.Contains([]string{"v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4"}, o.Version) {
		errs = append(errs, fmt.Errorf("Version %q is not one of v1alpha1, v1alpha2, v1alpha3, v1alpha4", o.Version))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("mesh: invalid TrafficSplitOptions: %w", errors.Join(errs...))
	}
	r := &TrafficSplit{
		versions: splitVersions(o.Client),
		pinned:   o.Version,
		own:      newOwners(o.ManagedBy, o.Owner),
		log:      o.Logger,
	}
	if o.Specs != nil {
		r.groups = groupVersions(o.Specs)
	}
	if o.Discovery != nil {
		r.served = &servedVersions{disc: o.Discovery}
	}
	if r.log.GetSink() == nil {
		r.log = logr.Discard()
	}
	return r, nil
}

// smiPlan is the versions used for one target.
type smiPlan struct {
	write splitVersion // creates, updates and weight patches
	read  splitVersion // reads; differs from write only for linkerd-smi (see choose)
	group versionClient[routeGroup]
}

// APIVersion returns the TrafficSplit version ("split.smi-spec.io/v1alpha2", ...) the router
// writes t's route with, detecting it on first use.
func (r *TrafficSplit) APIVersion(ctx context.Context, t canary.Target) (string, error) {
	p, err := r.plan(ctx, len(t.Match) > 0)
	if err != nil {
		return "", err
	}
	return SplitGroup + "/" + p.write.name, nil
}

// plan picks the versions for a target with (match) or without match conditions.
func (r *TrafficSplit) plan(_ context.Context, match bool) (smiPlan, error) {
	var (
		write, read, group string
		specs              []string
	)
	if r.pinned != "" {
		write, read, group = r.pinned, r.pinned, r.pinned
	} else {
		served, err := r.served.of(SplitGroup)
		if err != nil {
			return smiPlan{}, err
		}
		if write, read = chooseSplitVersion(served); write == "" {
			return smiPlan{}, crdError(TrafficSplitCRD+" is not served by the API server (no version of "+SplitGroup+")", linkerdSMIHint)
		}
		if match {
			if specs, err = r.served.of(SpecsGroup); err != nil {
				return smiPlan{}, err
			}
			group = firstServed(specs, write, "v1alpha4", "v1alpha3")
		}
		if match && r.versions[write].matches && group == "" {
			return smiPlan{}, crdError(fmt.Sprintf("%s v1alpha3 or v1alpha4 is not served (served: %s), and A/B routing with TrafficSplit needs it",
				HTTPRouteGroupCRD, listOrNone(specs)), "install the SMI HTTPRouteGroup CRD, or route with HTTPRoute")
		}
		if match && !r.versions[write].matches {
			return smiPlan{}, canary.Permanent(fmt.Errorf("%w: the API server serves %s %s, which cannot match requests; A/B testing needs v1alpha3 or v1alpha4 (with %s), or the HTTPRoute router",
				canary.ErrMatchUnsupported, TrafficSplitCRD, strings.Join(served, ", "), HTTPRouteGroupCRD))
		}
	}
	p := smiPlan{write: r.versions[write], read: r.versions[read]}
	if !match {
		return p, nil
	}
	if !p.write.matches {
		return smiPlan{}, canary.Permanent(fmt.Errorf("%w: TrafficSplit %s cannot match requests; A/B testing needs v1alpha3 or v1alpha4",
			canary.ErrMatchUnsupported, write))
	}
	if r.groups == nil {
		return smiPlan{}, canary.Permanent(fmt.Errorf("%w: TrafficSplitOptions.Specs is required for targets with match conditions",
			canary.ErrMatchUnsupported))
	}
	p.group = r.groups[group]
	return p, nil
}

// chooseSplitVersion picks, from the served TrafficSplit versions, the one to write with and
// the one to read with:
//   - v1alpha4 or else v1alpha3 when served: they route by match and integer weights, and
//     reading every route through them keeps matches visible;
//   - else v1alpha2 (integer weights), else v1alpha1 — what linkerd-smi serves.
//
// Reads use v1alpha1 when writes use v1alpha2 and v1alpha1 is served too (linkerd-smi: v1alpha1
// is the storage version and there is no conversion, so a weight a v1alpha1 client stored as a
// quantity like "500m" is returned as is, which v1alpha2's integers cannot decode).
func chooseSplitVersion(served []string) (write, read string) {
	write = firstServed(served, "v1alpha4", "v1alpha3", "v1alpha2", "v1alpha1")
	read = write
	if write == "v1alpha2" && slices.Contains(served, "v1alpha1") {
		read = "v1alpha1"
	}
	return write, read
}

// Reconcile creates t's TrafficSplit at 100 % primary (and its HTTPRouteGroup with match
// conditions), or adopts the one the router created earlier for t: it fixes its service,
// backends and matches if they drifted, keeping its weights. An object of the same name managed
// by someone else, or made for another target, is left alone (ErrNotOwned). It costs one GET
// when nothing needs changing (two with match conditions). When the target no longer has
// match conditions but its TrafficSplit still refers to the HTTPRouteGroup, the matches are
// dropped and the group, if the router made it, deleted.
func (r *TrafficSplit) Reconcile(ctx context.Context, t canary.Target) error {
	_, _, err := r.reconcile(ctx, t, false)
	return err
}

// ReconcileWeights is Reconcile returning the TrafficSplit's weights as it found (or made)
// them: adopting a route costs one read of it, not two (canary.WeightsReconciler).
func (r *TrafficSplit) ReconcileWeights(ctx context.Context, t canary.Target) (canary.Weights, error) {
	w, _, err := r.reconcile(ctx, t, true)
	return w, err
}

// reconcile reconciles t's TrafficSplit and returns its weights and its generation as it left
// it; with weights, weights that cannot be read are an error, as they are for Weights.
func (r *TrafficSplit) reconcile(ctx context.Context, t canary.Target, weights bool) (canary.Weights, int64, error) {
	if err := r.valid(t); err != nil {
		return canary.Weights{}, 0, err
	}
	p, err := r.plan(ctx, len(t.Match) > 0)
	if err != nil {
		return canary.Weights{}, 0, err
	}
	if len(t.Match) > 0 {
		if err := r.reconcileGroup(ctx, t, p.group); err != nil {
			return canary.Weights{}, 0, err
		}
	}
	cur, err := p.read.get(ctx, t.Namespace, t.ApexService())
	if objectMissing(err) {
		gen, err := r.create(ctx, t, p, canary.AllPrimary())
		return canary.AllPrimary(), gen, err
	}
	if err != nil {
		return canary.Weights{}, 0, r.apiError(err, "get TrafficSplit", t)
	}
	if err := r.own.check("TrafficSplit", &cur.meta, t); err != nil {
		return canary.Weights{}, 0, err
	}
	want := r.desired(t, canary.AllPrimary())
	w, werr := splitWeights(cur, t)
	if sameSplit(cur, want) {
		if werr != nil && weights {
			return canary.Weights{}, 0, fmt.Errorf("TrafficSplit %s/%s: %w", t.Namespace, t.ApexService(), werr)
		}
		if !claimed(&cur.meta, t) {
			gen, err := r.claimSplit(ctx, t, p, cur)
			return w, gen, err
		}
		return w, cur.meta.Generation, nil
	}
	dropGroup := len(t.Match) == 0 && len(cur.matches) > 0 // the target no longer uses A/B
	if werr != nil {
		w = canary.AllPrimary()
	}
	want = r.desired(t, w)
	want.meta = *cur.meta.DeepCopy()
	r.own.claim(&want.meta, t)
	updated, err := p.write.update(ctx, t.Namespace, want)
	if err != nil {
		return canary.Weights{}, 0, r.apiError(err, "update TrafficSplit", t)
	}
	r.log.Info("TrafficSplit reshaped, weights kept", "target", t.String(), "version", p.write.name, "weights", w.String())
	if dropGroup {
		return w, updated.meta.Generation, r.deleteGroup(ctx, t)
	}
	return w, updated.meta.Generation, nil
}

// valid is what Reconcile refuses of t before any request.
func (r *TrafficSplit) valid(t canary.Target) error {
	if err := errors.Join(validTarget(t), validMatches(t.Match), noMirror("an SMI TrafficSplit", t, canary.Weights{}), noAffinity("an SMI TrafficSplit", t)); err != nil {
		return err
	}
	if err := canary.HeadersOnly("an SMI HTTPRouteGroup", t.Match); err != nil {
		return canary.Permanent(err)
	}
	return nil
}

// deleteGroup deletes t's HTTPRouteGroup, if the router made it, once the TrafficSplit no
// longer refers to it (the target stopped using A/B testing).
func (r *TrafficSplit) deleteGroup(ctx context.Context, t canary.Target) error {
	p, err := r.plan(ctx, true)
	if err != nil {
		r.log.Info("HTTPRouteGroup left behind: its API is not usable", "target", t.String(), "error", err.Error())
		return nil
	}
	cur, err := p.group.get(ctx, t.Namespace, t.ApexService())
	if objectMissing(err) {
		return nil
	}
	if err != nil {
		return r.groupError(err, "get", t)
	}
	if r.own.check("HTTPRouteGroup", &cur.meta, t) != nil {
		return nil // someone else's: not ours to delete
	}
	if err := p.group.delete(ctx, t.Namespace, t.ApexService(), cur.meta.ResourceVersion); err != nil && !objectMissing(err) {
		return r.groupError(err, "delete", t)
	}
	r.log.Info("HTTPRouteGroup deleted: the target no longer matches requests", "target", t.String())
	return nil
}

// SetWeights routes w with one request: a JSON patch that replaces the backends if, and only
// if, the TrafficSplit is still labelled as managed by the router for t (checked by the API
// server in the same request). A deleted TrafficSplit is created again with w; one that
// records no target is read and, being the router's, claimed for t in the write of w.
func (r *TrafficSplit) SetWeights(ctx context.Context, t canary.Target, w canary.Weights) error {
	_, err := r.setWeights(ctx, t, w, 0)
	return err
}

// setWeights is SetWeights; with gen > 0 the patch also tests that the TrafficSplit's
// generation is still gen, and a patch the server rejects is ErrRouteChanged without a read.
// It returns the generation the TrafficSplit has after the write.
func (r *TrafficSplit) setWeights(ctx context.Context, t canary.Target, w canary.Weights, gen int64) (int64, error) {
	if err := errors.Join(w.Validate(), noMirror("an SMI TrafficSplit", t, w), noAffinity("an SMI TrafficSplit", t)); err != nil {
		return 0, err
	}
	if err := validTarget(t); err != nil {
		return 0, err
	}
	p, err := r.plan(ctx, len(t.Match) > 0)
	if err != nil {
		return 0, err
	}
	ops := r.own.testOwner(t)
	if gen > 0 {
		ops = append(ops, patchOp{Op: "test", Path: "/metadata/generation", Value: gen})
	}
	backends := patchOp{Op: "replace", Path: "/spec/backends", Value: []map[string]any{
		{"service": t.CanaryService(), "weight": p.write.weightValue(w.Canary)},
		{"service": t.PrimaryService(), "weight": p.write.weightValue(w.Primary)},
	}}
	after, err := p.write.patchGeneration(ctx, t.Namespace, t.ApexService(), marshalPatch(append(ops, backends)...))
	switch {
	case err == nil:
		return after, nil
	case objectMissing(err):
		r.log.Info("TrafficSplit missing; creating it again", "target", t.String())
		return r.create(ctx, t, p, w)
	case gen > 0 && testFailed(err):
		return 0, fmt.Errorf("%w: TrafficSplit %s/%s is no longer at generation %d, or no longer labelled %s=%s and annotated %s=%s: %v",
			ErrRouteChanged, t.Namespace, t.ApexService(), gen, canary.LabelManagedBy, r.own.managedBy, canary.AnnotationTarget, t.Name, err)
	case patchRejected(err):
		cur, gerr := p.read.get(ctx, t.Namespace, t.ApexService())
		if gerr != nil {
			return 0, r.apiError(gerr, "get TrafficSplit", t)
		}
		if oerr := r.own.check("TrafficSplit", &cur.meta, t); oerr != nil {
			return 0, oerr
		}
		if !claimed(&cur.meta, t) {
			return r.claimSplit(ctx, t, p, cur, backends)
		}
		return 0, fmt.Errorf("patch TrafficSplit %s/%s: %w", t.Namespace, t.ApexService(), err)
	}
	return 0, r.apiError(err, "patch TrafficSplit", t)
}

// claimSplit records t as the target of cur, a TrafficSplit of the router's that records
// none (or one Flagger made for t's Canary, which gets the router's label too), with a JSON patch that applies only if cur is unchanged since it was read (its
// resourceVersion) and applies ops too (a weight change, written at the version weights are
// written with). Without ops the patch goes through the version reads use, which decodes
// whatever weights are stored (linkerd-smi's v1alpha1 quantities). It returns the generation
// after the write.
func (r *TrafficSplit) claimSplit(ctx context.Context, t canary.Target, p smiPlan, cur *split, ops ...patchOp) (int64, error) {
	var claim []patchOp
	if cur.meta.ResourceVersion != "" { // the API server always sets it
		claim = append(claim, patchOp{Op: "test", Path: "/metadata/resourceVersion", Value: cur.meta.ResourceVersion})
	}
	if cur.meta.Labels == nil { // made by Flagger: labelled as the router's with the claim
		claim = append(claim, patchOp{Op: "add", Path: "/metadata/labels", Value: map[string]string{canary.LabelManagedBy: r.own.managedBy}})
	} else if cur.meta.Labels[canary.LabelManagedBy] != r.own.managedBy {
		claim = append(claim, patchOp{Op: "add", Path: "/metadata/labels/" + escapePointer(canary.LabelManagedBy), Value: r.own.managedBy})
	}
	if cur.meta.Annotations == nil {
		claim = append(claim, patchOp{Op: "add", Path: "/metadata/annotations", Value: map[string]string{canary.AnnotationTarget: t.Name}})
	} else {
		claim = append(claim, patchOp{Op: "add", Path: "/metadata/annotations/" + escapePointer(canary.AnnotationTarget), Value: t.Name})
	}
	via := p.write
	if len(ops) == 0 {
		via = p.read
	}
	gen, err := via.patchGeneration(ctx, t.Namespace, t.ApexService(), marshalPatch(append(claim, ops...)...))
	if err != nil {
		return 0, r.apiError(err, "claim TrafficSplit", t)
	}
	r.log.Info("TrafficSplit claimed for the target", "target", t.String())
	return gen, nil
}

// Weights reads t's TrafficSplit and returns the canary's and the primary's share of their
// summed weights in percent (see percentages). A TrafficSplit that is not the router's for t
// is refused as Reconcile refuses it (ErrNotOwned).
func (r *TrafficSplit) Weights(ctx context.Context, t canary.Target) (canary.Weights, error) {
	if err := validTarget(t); err != nil {
		return canary.Weights{}, err
	}
	p, err := r.plan(ctx, len(t.Match) > 0)
	if err != nil {
		return canary.Weights{}, err
	}
	cur, err := p.read.get(ctx, t.Namespace, t.ApexService())
	if err != nil {
		return canary.Weights{}, r.apiError(err, "get TrafficSplit", t)
	}
	if err := r.own.check("TrafficSplit", &cur.meta, t); err != nil {
		return canary.Weights{}, err
	}
	w, err := splitWeights(cur, t)
	if err != nil {
		return canary.Weights{}, fmt.Errorf("TrafficSplit %s/%s: %w", t.Namespace, t.ApexService(), err)
	}
	return w, nil
}

// desired is t's TrafficSplit routing w.
func (r *TrafficSplit) desired(t canary.Target, w canary.Weights) *split {
	s := &split{
		meta:    metav1.ObjectMeta{Name: t.ApexService(), Namespace: t.Namespace},
		service: t.ApexService(),
		backends: []splitBackend{
			{service: t.CanaryService(), weight: intWeight(w.Canary)},
			{service: t.PrimaryService(), weight: intWeight(w.Primary)},
		},
	}
	if len(t.Match) > 0 {
		s.matches = []corev1.TypedLocalObjectReference{{APIGroup: ptrTo(SpecsGroup), Kind: "HTTPRouteGroup", Name: t.ApexService()}}
	}
	return s
}

// newSplit is t's TrafficSplit routing w, stamped as the router's for t.
func (r *TrafficSplit) newSplit(ctx context.Context, t canary.Target, w canary.Weights) (*split, error) {
	s := r.desired(t, w)
	if err := r.own.stamp(ctx, t, &s.meta); err != nil {
		return nil, err
	}
	return s, nil
}

// create creates t's TrafficSplit routing w and returns its generation.
func (r *TrafficSplit) create(ctx context.Context, t canary.Target, p smiPlan, w canary.Weights) (int64, error) {
	s, err := r.newSplit(ctx, t, w)
	if err != nil {
		return 0, err
	}
	made, err := p.write.create(ctx, t.Namespace, s)
	if err != nil {
		return 0, r.apiError(err, "create TrafficSplit", t)
	}
	r.log.Info("TrafficSplit created", "target", t.String(), "version", p.write.name, "weights", w.String())
	return made.meta.Generation, nil
}

// group is the HTTPRouteGroup with t's match conditions.
func (r *TrafficSplit) group(t canary.Target) *routeGroup {
	g := &routeGroup{meta: metav1.ObjectMeta{Name: t.ApexService(), Namespace: t.Namespace}}
	for i, m := range t.Match {
		gm := groupMatch{name: "canary-match-" + strconv.Itoa(i), headers: map[string]string{}}
		for name, sm := range m.Headers {
			gm.headers[name] = sm.AsRegex()
		}
		g.matches = append(g.matches, gm)
	}
	return g
}

// reconcileGroup creates or updates the HTTPRouteGroup with t's match conditions.
func (r *TrafficSplit) reconcileGroup(ctx context.Context, t canary.Target, c versionClient[routeGroup]) error {
	want := r.group(t)
	cur, err := c.get(ctx, t.Namespace, t.ApexService())
	if objectMissing(err) {
		if err := r.own.stamp(ctx, t, &want.meta); err != nil {
			return err
		}
		if _, err := c.create(ctx, t.Namespace, want); err != nil {
			return r.groupError(err, "create", t)
		}
		return nil
	}
	if err != nil {
		return r.groupError(err, "get", t)
	}
	if err := r.own.check("HTTPRouteGroup", &cur.meta, t); err != nil {
		return err
	}
	if slices.EqualFunc(cur.matches, want.matches, func(a, b groupMatch) bool {
		return a.name == b.name && maps.Equal(a.headers, b.headers)
	}) && claimed(&cur.meta, t) {
		return nil
	}
	want.meta = *cur.meta.DeepCopy()
	r.own.claim(&want.meta, t)
	if _, err := c.update(ctx, t.Namespace, want); err != nil {
		return r.groupError(err, "update", t)
	}
	return nil
}

func (r *TrafficSplit) groupError(err error, verb string, t canary.Target) error {
	if apierr.ResourceMissing(err) {
		return crdError(HTTPRouteGroupCRD+" is not served by the API server", "A/B routing with TrafficSplit needs the SMI HTTPRouteGroup CRD")
	}
	return classify(err, fmt.Sprintf("%s HTTPRouteGroup %s/%s", verb, t.Namespace, t.ApexService()))
}

// apiError names the CRD when the server does not serve TrafficSplit, and classifies the rest.
func (r *TrafficSplit) apiError(err error, op string, t canary.Target) error {
	if apierr.ResourceMissing(err) {
		return crdError(TrafficSplitCRD+" is not served by the API server at the version used", linkerdSMIHint)
	}
	if apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("%s %s/%s: created concurrently, adopting at the next attempt: %w", op, t.Namespace, t.ApexService(), err)
	}
	return classify(err, fmt.Sprintf("%s %s/%s", op, t.Namespace, t.ApexService()))
}

// sameSplit reports whether cur has want's service, backends (in any order, weights aside) and
// matches.
func sameSplit(cur, want *split) bool {
	names := func(s *split) []string {
		var out []string
		for _, b := range s.backends {
			out = append(out, b.service)
		}
		slices.Sort(out)
		return out
	}
	return cur.service == want.service && slices.Equal(names(cur), names(want)) &&
		slices.EqualFunc(cur.matches, want.matches, func(a, b corev1.TypedLocalObjectReference) bool {
			return a.Kind == b.Kind && a.Name == b.Name && (a.APIGroup == nil) == (b.APIGroup == nil) &&
				(a.APIGroup == nil || *a.APIGroup == *b.APIGroup)
		})
}

// splitWeights returns the primary's and the canary's share of their summed weights; other
// backends are ignored, a missing one weighs zero.
func splitWeights(s *split, t canary.Target) (canary.Weights, error) {
	primary, canaryW := new(big.Int), new(big.Int)
	found := false
	for _, b := range s.backends {
		switch b.service {
		case t.PrimaryService():
			primary.Add(primary, big.NewInt(b.weight.MilliValue()))
		case t.CanaryService():
			canaryW.Add(canaryW, big.NewInt(b.weight.MilliValue()))
		default:
			continue
		}
		found = true
	}
	if !found {
		return canary.Weights{}, fmt.Errorf("no backend %s or %s", t.PrimaryService(), t.CanaryService())
	}
	return percentages(primary, canaryW)
}

func listOrNone(vs []string) string {
	if len(vs) == 0 {
		return "none"
	}
	return strings.Join(vs, ", ")
}
