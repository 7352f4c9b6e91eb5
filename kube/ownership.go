package kube

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	"github.com/canarykit/canarykit/canary"
)

// Ownership: every object a Workload creates is labelled app.kubernetes.io/managed-by=canarykit
// and annotated with the target it was made for (AnnotationTarget) and the Canary that made it
// (AnnotationCanary). A Workload writes and deletes only what carries its target and Canary.

// AnnotationTarget on an object canarykit manages names the target it was created for
// (canary.AnnotationTarget, which the routers of mesh write on route objects too).
const AnnotationTarget = canary.AnnotationTarget

// AnnotationCanary on an object canarykit manages names the Canary it was created for
// (canary.Target.CanaryName: Target.Canary, or the target's name). Two Canaries of one target
// would otherwise share the primary, its autoscaler and the config copies, which are named
// after the target: the one that made them keeps them, and the other is refused. Objects made
// by an earlier canarykit, without this annotation, are taken as the target's own and get it
// from the next Bootstrap.
const AnnotationCanary = "canarykit.dev/canary"

// ownerRef makes the target Deployment the owner of what canarykit creates for it (with
// WorkloadOptions.OwnerReferences), so deleting the target deletes them.
func ownerRef(d app) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "apps/v1", Kind: d.Kind, Name: d.Name, UID: d.UID, Controller: ptr.To(true)}
}

// canaryName is the name the Workload's objects record in AnnotationCanary.
func (w *Workload) canaryName() string { return w.opts.Target.CanaryName() }

// copiedLabels are the labels of a user's object (the target, a tracked config, an autoscaler)
// its generated copy carries: all but a GitOps tool's marks of its own objects
// (canary.GitOpsMark). A copy that carried them would be taken for an object of the tool's
// source, missing from it, and pruned: the primary deleted under its traffic. Flagger copies
// no label by default and never a toolkit.fluxcd.io one. Never nil.
func copiedLabels(src map[string]string) map[string]string {
	out := make(map[string]string, len(src))
	for k, v := range src {
		if canary.GitOpsMark(k) {
			continue
		}
		out[k] = v
	}
	return out
}

// managedMeta returns metadata for an object canarykit manages for target d.
func (w *Workload) managedMeta(d app, name string, labels map[string]string) metav1.ObjectMeta {
	l := copyStringMap(labels)
	if l == nil {
		l = map[string]string{}
	}
	l[canary.LabelManagedBy] = canary.ManagedBy
	m := metav1.ObjectMeta{Name: name, Namespace: d.Namespace, Labels: l,
		Annotations: map[string]string{AnnotationTarget: d.Name, AnnotationCanary: w.canaryName()}}
	if w.opts.OwnerReferences {
		m.OwnerReferences = []metav1.OwnerReference{ownerRef(d)}
	}
	return m
}

// madeForTarget reports whether obj carries canarykit's label and names target d, by
// annotation or owner reference.
func madeForTarget(obj metav1.Object, d app) bool {
	if obj.GetLabels()[canary.LabelManagedBy] != canary.ManagedBy {
		return false
	}
	if obj.GetAnnotations()[AnnotationTarget] == d.Name {
		return true
	}
	for _, o := range obj.GetOwnerReferences() {
		if o.Kind == d.Kind && o.Name == d.Name {
			return true
		}
	}
	return false
}

// checkOwned refuses to touch an object canarykit did not create for target d and the
// Workload's Canary: one without the managed-by label, made for another target, or made for
// another Canary of the same target. One without a Canary record (made by an earlier
// canarykit) is the target's, so the Workload's: unclaimed reports it, and Bootstrap claims it.
// So is one Flagger generated for the Workload's Canary (its controller owner reference is
// that Canary, by name and, when the Target records it, UID): see takeover.go.
func (w *Workload) checkOwned(obj metav1.Object, kind string, d app) error {
	if w.flaggerOwned(obj) {
		return nil // Flagger's for this Canary: see takeover.go
	}
	if madeForTarget(obj, d) {
		other := obj.GetAnnotations()[AnnotationCanary]
		if other == "" || other == w.canaryName() {
			return nil
		}
		return canary.Permanent(&CanaryConflictError{Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName(),
			Target: d.Name, Canary: other, Refused: w.canaryName()})
	}
	owner := "no owner"
	if refs := obj.GetOwnerReferences(); len(refs) > 0 {
		owner = "owner " + refs[0].Kind + "/" + refs[0].Name
	} else if tg := obj.GetAnnotations()[AnnotationTarget]; tg != "" {
		owner = "made for " + tg
	}
	return canary.Permanent(fmt.Errorf("%s %s/%s exists and is not managed by canarykit for %s (%s, %s=%q); rename or delete it",
		kind, obj.GetNamespace(), obj.GetName(), d.Name, owner, canary.LabelManagedBy, obj.GetLabels()[canary.LabelManagedBy]))
}

// CanaryConflictError is the refusal of a Workload whose target's objects were made for
// another Canary of the same target (AnnotationCanary): a target Deployment has one Canary.
// Bootstrap and every later write return it (marked canary.Permanent).
type CanaryConflictError struct {
	Kind, Namespace, Name string // the object that records the other Canary
	Target                string // the target Deployment
	Canary                string // the Canary the object was made for (same namespace)
	Refused               string // the Workload's own Canary
}

func (e *CanaryConflictError) Error() string {
	return fmt.Sprintf("%s %s/%s was made by canarykit for Canary %s of target %s, not for Canary %s: "+
		"a target Deployment can have one Canary only; delete one of the two Canaries (and the objects of the other, if it is gone)",
		e.Kind, e.Namespace, e.Name, e.Canary, e.Target, e.Refused)
}

// unclaimed reports whether an object checkOwned accepted lacks the Canary record (or, made
// by Flagger, canarykit's label and annotations altogether).
func unclaimed(obj metav1.Object) bool { return obj.GetAnnotations()[AnnotationCanary] == "" }

// claim records the Workload's target and Canary on m (a copy about to be written), with the
// managed-by label: what an object of an earlier canarykit lacks (the Canary), or one Flagger
// made (all three). Owner references are kept.
func (w *Workload) claim(m metav1.Object) {
	labels, annotations := m.GetLabels(), m.GetAnnotations()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[canary.LabelManagedBy] = canary.ManagedBy
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[AnnotationTarget] = w.opts.Target.Name
	annotations[AnnotationCanary] = w.canaryName()
	m.SetLabels(labels)
	m.SetAnnotations(annotations)
}

// generatedTarget refuses a target Deployment that canarykit made itself (another target's
// primary), or that Flagger made (its controller is a Flagger Canary): releasing it would
// rewrite and scale down a Deployment serving production traffic for another Canary.
func generatedTarget(d app) error {
	if ref := metav1.GetControllerOfNoCopy(d.ObjectMeta); flaggerControlled(d.ObjectMeta) {
		// Flagger's primary of another Canary (one canarykit has not taken over yet): a
		// target is never controlled by a Canary
		return canary.Permanent(fmt.Errorf("%s %s/%s is an object Flagger made for Canary %s (its controller); a target (targetRef.name) must be the user's own %s",
			d.resource(), d.Namespace, d.Name, ref.Name, d.Kind))
	}
	if d.Labels[canary.LabelManagedBy] != canary.ManagedBy {
		return nil
	}
	made := d.Annotations[AnnotationTarget]
	if made == "" {
		for _, o := range d.OwnerReferences {
			if o.Kind == d.Kind {
				made = o.Name
			}
		}
	}
	if made == "" || made == d.Name {
		return nil
	}
	what := "an object canarykit made for target " + made
	if d.Name == made+"-primary" {
		what = "the primary canarykit made for target " + made
	}
	return canary.Permanent(fmt.Errorf("%s %s/%s is %s; a target (targetRef.name) must be the user's own %s", d.resource(), d.Namespace, d.Name, what, d.Kind))
}

// adoptable refuses to adopt an unlabelled apex Service that serves something other than the
// target: one without a selector (its endpoints are kept by hand or by another controller, or
// it is an ExternalName), or whose selector picks pods other than the target's or its
// primary's (it must pick them by the target's selector label, and by labels they carry).
// Adopting it would send its clients to the target.
func adoptable(svc *corev1.Service, d app) error {
	key, value, err := selectorLabel(d)
	if err != nil {
		return err
	}
	sel := svc.Spec.Selector
	if svc.Spec.Type == corev1.ServiceTypeExternalName || len(sel) == 0 {
		return canary.Permanent(fmt.Errorf("service %s/%s exists without a selector (its endpoints are not the pods of target %s); "+
			"canarykit adopts an apex Service only when it selects the target's pods: set service.name to a name of its own",
			svc.Namespace, svc.Name, d.Name))
	}
	pods := labels.Set{}
	if d.Selector != nil {
		for k, v := range d.Selector.MatchLabels {
			pods[k] = v
		}
	}
	for k, v := range d.Template.Labels {
		pods[k] = v
	}
	// by the target's selector label among others: a selector of labels its pods share with
	// other workloads' (tier: web) serves those too
	selects := func(app string) bool {
		if _, ok := sel[key]; !ok {
			return false
		}
		for k, v := range sel {
			if want, ok := pods[k]; !ok || (k == key && v != app) || (k != key && v != want) {
				return false
			}
		}
		return true
	}
	if selects(value) || selects(value+"-primary") {
		return nil
	}
	return canary.Permanent(fmt.Errorf("service %s/%s selects %s, not the pods of target %s (%s=%s) or of its primary; "+
		"canarykit adopts an apex Service only when it selects the target's pods: point its selector at them, or set service.name to a name of its own",
		svc.Namespace, svc.Name, labels.Set(sel), d.Name, key, value))
}

// serviceNames refuses a target whose Services cannot be created: the apex (service.name, or
// the target's name), "<apex>-primary" and "<apex>-canary" must be DNS-1035 labels. canary.New
// and kube/flagger refuse such targets already; Bootstrap checks again before it writes.
func serviceNames(t canary.Target) error {
	field := "service.name"
	if t.Service == "" {
		field = "targetRef.name" // the apex is named after the target
	}
	var msgs []string
	for _, name := range []string{t.ApexService(), t.PrimaryService(), t.CanaryService()} {
		for _, m := range validation.IsDNS1035Label(name) {
			msgs = append(msgs, fmt.Sprintf("service name %q: %s", name, m))
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return canary.Permanent(&canary.ValidationError{Subject: "target", Problems: []canary.FieldError{{
		Field: field, Message: fmt.Sprintf("%q cannot name the target's Services: %s", t.ApexService(), strings.Join(msgs, "; "))}}})
}
