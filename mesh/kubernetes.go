package mesh

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/canarykit/canarykit/canary"
)

// KubernetesOptions configure a Kubernetes router. Zero fields mean "default".
type KubernetesOptions struct {
	// Client reaches the target's Services. Required.
	Client corev1client.ServicesGetter
	// Logger receives a line per selector switch made by Reconcile. Default: discard.
	Logger logr.Logger
}

// Kubernetes routes without a mesh, for blue/green releases: it points the apex Service's
// selector at the primary's pods (the selector of "<apex>-primary", weights 100/0) or at the
// canary's (the selector of "<apex>-canary", weights 0/100). It cannot split traffic or match
// requests: other weights are refused with ErrInvalidWeights, match conditions with
// ErrMatchUnsupported. The Services themselves belong to the workload (Flagger's apex, primary
// and canary services); the router only switches the apex's selector, so the workload must
// create the apex without resetting its selector afterwards. Safe for concurrent use.
type Kubernetes struct {
	services corev1client.ServicesGetter
	log      logr.Logger

	mu        sync.Mutex
	selectors map[string]selectorPair // by namespace/apex: read at Reconcile, static afterwards
	seen      map[string]apexSeen     // by namespace/apex: the apex as last read or written
}

// apexSeen is what the router knows of an apex from its last read or write of it.
type apexSeen struct {
	recorded bool // it recorded the target
	version  string
	selector map[string]string
}

type selectorPair struct{ primary, canary map[string]string }

var _ canary.MeshRouter = (*Kubernetes)(nil)

// SwitchesOnly reports that this router sends all traffic to one side at a time (blue/green):
// canary.New refuses specs that need a weighted split with it.
func (*Kubernetes) SwitchesOnly() bool { return true }

var _ canary.SwitchingRouter = (*Kubernetes)(nil)

// NewKubernetes validates o and returns a router. It makes no request.
func NewKubernetes(o KubernetesOptions) (*Kubernetes, error) {
	if o.Client == nil {
		return nil, errors.New("mesh: invalid KubernetesOptions: Client is required")
	}
	r := &Kubernetes{services: o.Client, log: o.Logger, selectors: map[string]selectorPair{}, seen: map[string]apexSeen{}}
	if r.log.GetSink() == nil {
		r.log = logr.Discard()
	}
	return r, nil
}

// RoutedToAnnotation marks an apex Service whose selector the Kubernetes router switches, with
// the side it selects ("primary" or "canary"). An apex without it is a new route: before the
// router adopts it, the apex typically selects the target's own pods, which are the canary's.
const RoutedToAnnotation = "canarykit.dev/routed-to"

// Reconcile reads the primary's and the canary's selectors and the apex (three GETs); an apex
// the router has not adopted yet (no RoutedToAnnotation) is pointed at the primary. An apex
// recording another target is refused (see apexOwned).
func (r *Kubernetes) Reconcile(ctx context.Context, t canary.Target) error {
	if err := errors.Join(validTarget(t), noMirror("the Kubernetes router", t, canary.Weights{}), noAffinity("the Kubernetes router", t)); err != nil {
		return err
	}
	if len(t.Match) > 0 {
		return canary.Permanent(fmt.Errorf("%w: the Kubernetes router switches whole services; A/B testing needs a mesh router",
			canary.ErrMatchUnsupported))
	}
	sel, err := r.readSelectors(ctx, t)
	if err != nil {
		return err
	}
	apex, err := r.services.Services(t.Namespace).Get(ctx, t.ApexService(), metav1.GetOptions{})
	if err != nil {
		return classify(err, fmt.Sprintf("get apex service %s/%s", t.Namespace, t.ApexService()))
	}
	if err := r.owned(apex, t); err != nil {
		return err
	}
	if _, adopted := apex.Annotations[RoutedToAnnotation]; adopted {
		return nil
	}
	r.log.Info("pointing the apex service at the primary", "target", t.String(), "selector", sel.primary)
	return r.switchTo(ctx, t, sel, canary.AllPrimary(), r.lastSeen(t))
}

// SetWeights switches the apex selector with one request for 100/0 or 0/100; other weights are
// refused. An apex that recorded the target when Reconcile or Weights last read it is switched
// by a JSON patch that tests the record first, so an apex another target took since is refused
// (ErrNotOwned) and left as it is. Otherwise the apex is read first (one recording another
// target is refused) and switched by a merge patch of the selector and RoutedToAnnotation at
// the resourceVersion read, so that a change since (another target taking it) fails the write.
func (r *Kubernetes) SetWeights(ctx context.Context, t canary.Target, w canary.Weights) error {
	if err := errors.Join(w.Validate(), noMirror("the Kubernetes router", t, w), noAffinity("the Kubernetes router", t)); err != nil {
		return err
	}
	if w != canary.AllPrimary() && w != canary.AllCanary() {
		return fmt.Errorf("%w: the Kubernetes router switches all traffic at once, so weights must be 100/0 or 0/100, not %s",
			canary.ErrInvalidWeights, w)
	}
	if err := validTarget(t); err != nil {
		return err
	}
	sel, err := r.cachedSelectors(ctx, t)
	if err != nil {
		return err
	}
	for retried := false; ; {
		seen, ok := r.lastSeenOK(t)
		if !ok {
			if err := r.read(ctx, t); err != nil {
				return err
			}
			continue
		}
		if seen.recorded {
			return r.switchGuarded(ctx, t, sel, w)
		}
		err := r.switchTo(ctx, t, sel, w, seen)
		if apierrors.IsConflict(err) && !retried {
			// changed since it was seen: seen again (another target's is refused)
			retried = true
			r.forget(t)
			continue
		}
		return err
	}
}

// switchGuarded switches an apex that recorded the target when last seen by a JSON patch that
// tests the record first; when the test fails, the apex is read again (another target's is
// refused) and switched at the version read.
func (r *Kubernetes) switchGuarded(ctx context.Context, t canary.Target, sel selectorPair, w canary.Weights) error {
	to, side := sel.side(w)
	out, err := r.services.Services(t.Namespace).Patch(ctx, t.ApexService(), types.JSONPatchType, marshalPatch(
		patchOp{Op: "test", Path: "/metadata/annotations/" + escapePointer(canary.AnnotationTarget), Value: t.Name},
		patchOp{Op: "add", Path: "/metadata/annotations/" + escapePointer(RoutedToAnnotation), Value: side},
		patchOp{Op: "add", Path: "/spec/selector", Value: to},
	), metav1.PatchOptions{})
	if err == nil {
		r.see(out, t)
		return nil
	}
	if !patchRejected(err) {
		return classify(err, fmt.Sprintf("switch apex service %s/%s to the %s", t.Namespace, t.ApexService(), side))
	}
	if err := r.read(ctx, t); err != nil {
		return err
	}
	return r.switchTo(ctx, t, sel, w, r.lastSeen(t))
}

// read reads the apex: one recording another target is refused (owned).
func (r *Kubernetes) read(ctx context.Context, t canary.Target) error {
	apex, err := r.services.Services(t.Namespace).Get(ctx, t.ApexService(), metav1.GetOptions{})
	if err != nil {
		return classify(err, fmt.Sprintf("get apex service %s/%s", t.Namespace, t.ApexService()))
	}
	return r.owned(apex, t)
}

func (r *Kubernetes) lastSeenOK(t canary.Target) (apexSeen, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.seen[t.Namespace+"/"+t.ApexService()]
	return s, ok
}

func (r *Kubernetes) lastSeen(t canary.Target) apexSeen {
	s, _ := r.lastSeenOK(t)
	return s
}

func (r *Kubernetes) forget(t canary.Target) {
	r.mu.Lock()
	delete(r.seen, t.Namespace+"/"+t.ApexService())
	r.mu.Unlock()
}

// see remembers apex as read or written for t.
func (r *Kubernetes) see(apex *corev1.Service, t canary.Target) {
	r.mu.Lock()
	r.seen[t.Namespace+"/"+t.ApexService()] = apexSeen{recorded: apex.Annotations[canary.AnnotationTarget] == t.Name,
		version: apex.ResourceVersion, selector: apex.Spec.Selector}
	r.mu.Unlock()
}

// owned refuses an apex recording another target (apexOwned) and remembers it (see).
func (r *Kubernetes) owned(apex *corev1.Service, t canary.Target) error {
	if err := apexOwned(apex, t); err != nil {
		r.forget(t)
		return err
	}
	r.see(apex, t)
	return nil
}

// Weights reads the apex Service and reports which of the two it selects. An apex that records
// another target is refused as Reconcile refuses it (see apexOwned).
func (r *Kubernetes) Weights(ctx context.Context, t canary.Target) (canary.Weights, error) {
	if err := validTarget(t); err != nil {
		return canary.Weights{}, err
	}
	sel, err := r.cachedSelectors(ctx, t)
	if err != nil {
		return canary.Weights{}, err
	}
	apex, err := r.services.Services(t.Namespace).Get(ctx, t.ApexService(), metav1.GetOptions{})
	if err != nil {
		return canary.Weights{}, classify(err, fmt.Sprintf("get apex service %s/%s", t.Namespace, t.ApexService()))
	}
	if err := r.owned(apex, t); err != nil {
		return canary.Weights{}, err
	}
	w, err := sel.weights(apex.Spec.Selector)
	if err != nil {
		return canary.Weights{}, fmt.Errorf("apex service %s/%s: %w", t.Namespace, t.ApexService(), err)
	}
	return w, nil
}

// switchTo points the apex at the primary (w 100/0) or the canary (0/100): a merge patch that
// sets the selector's keys, removes the keys of the other side and of the apex's selector as
// seen it does not have, and records the side; it applies to the apex as seen (its
// resourceVersion) or fails with a conflict.
func (r *Kubernetes) switchTo(ctx context.Context, t canary.Target, sel selectorPair, w canary.Weights, apex apexSeen) error {
	to, side := sel.side(w)
	other := sel.primary
	if side == "primary" {
		other = sel.canary
	}
	selector := map[string]any{}
	for _, m := range []map[string]string{other, apex.selector} {
		for k := range m {
			selector[k] = nil
		}
	}
	for k, v := range to {
		selector[k] = v
	}
	meta := map[string]any{"annotations": map[string]string{RoutedToAnnotation: side}}
	if apex.version != "" {
		meta["resourceVersion"] = apex.version
	}
	patch, err := json.Marshal(map[string]any{"metadata": meta, "spec": map[string]any{"selector": selector}})
	if err != nil {
		return err
	}
	out, err := r.services.Services(t.Namespace).Patch(ctx, t.ApexService(), types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return classify(err, fmt.Sprintf("switch apex service %s/%s to the %s", t.Namespace, t.ApexService(), side))
	}
	r.see(out, t)
	return nil
}

func (r *Kubernetes) cachedSelectors(ctx context.Context, t canary.Target) (selectorPair, error) {
	r.mu.Lock()
	sel, ok := r.selectors[t.Namespace+"/"+t.ApexService()]
	r.mu.Unlock()
	if ok {
		return sel, nil
	}
	return r.readSelectors(ctx, t)
}

// readSelectors reads the primary's and the canary's selectors and caches them.
func (r *Kubernetes) readSelectors(ctx context.Context, t canary.Target) (selectorPair, error) {
	var sel selectorPair
	for _, s := range []struct {
		name string
		into *map[string]string
	}{{t.PrimaryService(), &sel.primary}, {t.CanaryService(), &sel.canary}} {
		svc, err := r.services.Services(t.Namespace).Get(ctx, s.name, metav1.GetOptions{})
		if err != nil {
			return selectorPair{}, classify(err, fmt.Sprintf("get service %s/%s", t.Namespace, s.name))
		}
		if len(svc.Spec.Selector) == 0 {
			return selectorPair{}, canary.Permanent(fmt.Errorf("service %s/%s has no selector", t.Namespace, s.name))
		}
		*s.into = svc.Spec.Selector
	}
	if maps.Equal(sel.primary, sel.canary) {
		return selectorPair{}, canary.Permanent(fmt.Errorf("services %s and %s in %s select the same pods (%v)",
			t.PrimaryService(), t.CanaryService(), t.Namespace, sel.primary))
	}
	r.mu.Lock()
	r.selectors[t.Namespace+"/"+t.ApexService()] = sel
	r.mu.Unlock()
	return sel, nil
}

// apexOwned refuses, with a permanent error wrapping ErrNotOwned, an apex Service that records
// another target (canary.AnnotationTarget, which kube's Workload writes on the Services it
// makes or adopts): its selector is that target's to switch. An apex recording none (one
// Flagger generated, or the user's before the workload adopts it) is taken as t's.
func apexOwned(apex *corev1.Service, t canary.Target) error {
	made := apex.Annotations[canary.AnnotationTarget]
	if made == "" || made == t.Name {
		return nil
	}
	return canary.Permanent(fmt.Errorf("%w: Service %s/%s is canarykit's for target %s (%s=%s), not for %s; two targets cannot share it: give one of them another service name",
		ErrNotOwned, apex.Namespace, apex.Name, made, canary.AnnotationTarget, made, t.Name))
}

// side is the selector w (100/0 or 0/100) points the apex at, and its name.
func (s selectorPair) side(w canary.Weights) (map[string]string, string) {
	if w == canary.AllCanary() {
		return s.canary, "canary"
	}
	return s.primary, "primary"
}

func (s selectorPair) weights(apex map[string]string) (canary.Weights, error) {
	switch {
	case maps.Equal(apex, s.primary):
		return canary.AllPrimary(), nil
	case maps.Equal(apex, s.canary):
		return canary.AllCanary(), nil
	}
	return canary.Weights{}, fmt.Errorf("selector %v is neither the primary's %v nor the canary's %v", apex, s.primary, s.canary)
}
