package kube

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/canarykit/canarykit/canary"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// The kinds of target a Workload drives (WorkloadOptions.Kind).
const (
	KindDeployment = "Deployment"
	KindDaemonSet  = "DaemonSet"
)

// ScaleToZeroNodeSelector is the node selector key that scales a DaemonSet target to zero: no
// node has it, so the daemonset controller runs the target's pods nowhere. It is Flagger's own
// key (value "true"), so that a DaemonSet Flagger scaled down is seen as scaled down when
// canarykit takes its Canary over, and one canarykit scaled down is scaled up by Flagger
// (which removes the key) if the Canary is handed back to it. The key is no part of the
// target's revision, nor of the primary's pod template.
const ScaleToZeroNodeSelector = "flagger.app/scale-to-zero"

// app is a target or primary of the Workload's kind, as the code shared by the kinds reads it:
// the object's metadata, selector and pod template, and the object itself for its kind's code
// (workloadKind). It points into the object (a cached one is read only); the zero app is
// "none".
type app struct {
	*metav1.ObjectMeta
	Kind     string // KindDeployment or KindDaemonSet
	Selector *metav1.LabelSelector
	Template *corev1.PodTemplateSpec

	deployment *appsv1.Deployment // set for KindDeployment
	daemonSet  *appsv1.DaemonSet  // set for KindDaemonSet
}

func deploymentApp(d *appsv1.Deployment) app {
	return app{ObjectMeta: &d.ObjectMeta, Kind: KindDeployment, Selector: d.Spec.Selector, Template: &d.Spec.Template, deployment: d}
}

func daemonSetApp(d *appsv1.DaemonSet) app {
	return app{ObjectMeta: &d.ObjectMeta, Kind: KindDaemonSet, Selector: d.Spec.Selector, Template: &d.Spec.Template, daemonSet: d}
}

// found reports whether a holds an object.
func (a app) found() bool { return a.ObjectMeta != nil }

// resource is the kind in messages: "deployment", "daemonset".
func (a app) resource() string { return strings.ToLower(a.Kind) }

// revisionTemplate is the pod template a's revision hashes: a DaemonSet's without
// ScaleToZeroNodeSelector (scaling it is no new revision).
func (a app) revisionTemplate() *corev1.PodTemplateSpec {
	if a.Kind == KindDaemonSet {
		return withoutScaleToZero(a.Template)
	}
	return a.Template
}

// workloadKind is what differs between the kinds of target: where the objects are read and
// written, the primary's spec, readiness, and how the target is scaled to zero and back. The
// Workload's code is the same for every kind (workload.go, primary.go, handback.go).
type workloadKind interface {
	kind() string     // KindDeployment, KindDaemonSet
	resource() string // "deployment", "daemonset": in messages and errors
	// cached reads an object from the namespace's cache; fetch from the API server.
	cached(nc *nsCache, ns, name string) (app, error)
	fetch(ctx context.Context, c kubernetes.Interface, ns, name string) (app, error)
	// readiness judges a from its controller's status.
	readiness(a app, minGeneration int64, now time.Time, threshold int) canary.Readiness
	// replicas is a's spec.replicas: a DaemonSet's is 0 scaled to zero, else 1 (nil: unset).
	replicas(a app) *int32
	// scalePatch is the merge patch that scales the target to n.
	scalePatch(n int32) []byte
	// newPrimary is the primary of target d: meta, the selector and tmpl, d's rollout settings.
	newPrimary(d app, meta metav1.ObjectMeta, selector *metav1.LabelSelector, tmpl *corev1.PodTemplateSpec) app
	// promotion returns a copy of p running tmpl with d's rollout settings (and replicas,
	// without an autoscaler), and whether p already does.
	promotion(p, d app, tmpl *corev1.PodTemplateSpec, hasAutoscaler bool) (u app, same bool)
	create(ctx context.Context, c kubernetes.Interface, a app) (app, error)
	update(ctx context.Context, c kubernetes.Interface, a app) (app, error)
	patch(ctx context.Context, c kubernetes.Interface, ns, name string, patch []byte) (app, error)
	remove(ctx context.Context, c kubernetes.Interface, ns, name string, o metav1.DeleteOptions) error
}

// kindOf returns the workloadKind of WorkloadOptions.Kind.
func kindOf(kind string) workloadKind {
	if kind == KindDaemonSet {
		return daemonSetKind{}
	}
	return deploymentKind{}
}

// notional replicas of a DaemonSet (never written through)
var zeroReplicas, oneReplica int32 = 0, 1

// deploymentKind drives apps/v1 Deployments.
type deploymentKind struct{}

func (deploymentKind) kind() string     { return KindDeployment }
func (deploymentKind) resource() string { return "deployment" }

func (deploymentKind) cached(nc *nsCache, ns, name string) (app, error) {
	d, err := nc.deployment(ns, name)
	if err != nil {
		return app{}, err
	}
	return deploymentApp(d), nil
}

func (deploymentKind) fetch(ctx context.Context, c kubernetes.Interface, ns, name string) (app, error) {
	d, err := c.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return app{}, err
	}
	return deploymentApp(d), nil
}

func (deploymentKind) readiness(a app, minGeneration int64, now time.Time, threshold int) canary.Readiness {
	return readiness(a.deployment, minGeneration, now, threshold)
}

func (deploymentKind) replicas(a app) *int32 { return a.deployment.Spec.Replicas }

func (deploymentKind) scalePatch(n int32) []byte {
	return fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, n)
}

func (deploymentKind) newPrimary(d app, meta metav1.ObjectMeta, selector *metav1.LabelSelector, tmpl *corev1.PodTemplateSpec) app {
	s := d.deployment.Spec
	p := &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{
		Replicas: s.Replicas, Selector: selector, Template: *tmpl, Strategy: s.Strategy, MinReadySeconds: s.MinReadySeconds,
		RevisionHistoryLimit: s.RevisionHistoryLimit, ProgressDeadlineSeconds: s.ProgressDeadlineSeconds,
	}}
	if p.Spec.Replicas == nil || *p.Spec.Replicas == 0 {
		p.Spec.Replicas = ptr.To(int32(1))
	}
	return deploymentApp(p)
}

func (deploymentKind) promotion(p, d app, tmpl *corev1.PodTemplateSpec, hasAutoscaler bool) (app, bool) {
	s, want := p.deployment.Spec, d.deployment.Spec
	setReplicas := !hasAutoscaler && want.Replicas != nil && *want.Replicas > 0
	same := equality.Semantic.DeepEqual(s.Template, *tmpl) &&
		equality.Semantic.DeepEqual(s.Strategy, want.Strategy) &&
		s.MinReadySeconds == want.MinReadySeconds &&
		equality.Semantic.DeepEqual(s.RevisionHistoryLimit, want.RevisionHistoryLimit) &&
		equality.Semantic.DeepEqual(s.ProgressDeadlineSeconds, want.ProgressDeadlineSeconds) &&
		(!setReplicas || s.Replicas != nil && *s.Replicas == *want.Replicas)
	u := p.deployment.DeepCopy()
	u.Spec.Template = *tmpl
	u.Spec.Strategy = want.Strategy
	u.Spec.MinReadySeconds = want.MinReadySeconds
	u.Spec.RevisionHistoryLimit = want.RevisionHistoryLimit
	u.Spec.ProgressDeadlineSeconds = want.ProgressDeadlineSeconds
	if setReplicas {
		u.Spec.Replicas = want.Replicas
	}
	return deploymentApp(u), same
}

func (deploymentKind) create(ctx context.Context, c kubernetes.Interface, a app) (app, error) {
	d, err := c.AppsV1().Deployments(a.Namespace).Create(ctx, a.deployment, metav1.CreateOptions{})
	if err != nil {
		return app{}, err
	}
	return deploymentApp(d), nil
}

func (deploymentKind) update(ctx context.Context, c kubernetes.Interface, a app) (app, error) {
	d, err := c.AppsV1().Deployments(a.Namespace).Update(ctx, a.deployment, metav1.UpdateOptions{})
	if err != nil {
		return app{}, err
	}
	return deploymentApp(d), nil
}

func (deploymentKind) patch(ctx context.Context, c kubernetes.Interface, ns, name string, patch []byte) (app, error) {
	d, err := c.AppsV1().Deployments(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return app{}, err
	}
	return deploymentApp(d), nil
}

func (deploymentKind) remove(ctx context.Context, c kubernetes.Interface, ns, name string, o metav1.DeleteOptions) error {
	return c.AppsV1().Deployments(ns).Delete(ctx, name, o)
}

// daemonSetKind drives apps/v1 DaemonSets: a DaemonSet has no replicas, so the target is
// scaled to zero by the node selector ScaleToZeroNodeSelector on its pod template, and up by
// removing it.
type daemonSetKind struct{}

func (daemonSetKind) kind() string     { return KindDaemonSet }
func (daemonSetKind) resource() string { return "daemonset" }

func (daemonSetKind) cached(nc *nsCache, ns, name string) (app, error) {
	d, err := nc.daemonSet(ns, name)
	if err != nil {
		return app{}, err
	}
	return daemonSetApp(d), nil
}

func (daemonSetKind) fetch(ctx context.Context, c kubernetes.Interface, ns, name string) (app, error) {
	d, err := c.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return app{}, err
	}
	return daemonSetApp(d), nil
}

// readiness judges a DaemonSet as Flagger does: its controller has seen the generation, every
// node that should run it runs the current template (updatedNumberScheduled against
// desiredNumberScheduled), and threshold percent of those pods are available (rounded down).
// A DaemonSet has no progress deadline: the engine's own (spec.progressDeadlineSeconds) times
// a rollout that does not finish out, as Flagger's does.
func daemonSetReadiness(d *appsv1.DaemonSet, minGeneration int64, threshold int) canary.Readiness {
	notReady := func(format string, args ...any) canary.Readiness {
		return canary.Readiness{Message: fmt.Sprintf(format, args...)}
	}
	s := d.Status
	switch {
	case scaledToZero(&d.Spec.Template):
		return notReady("daemonset %q is scaled to zero", d.Name)
	case d.Generation < minGeneration || s.ObservedGeneration < d.Generation:
		return notReady("waiting for rollout to finish: observed daemonset generation less than desired generation")
	case s.UpdatedNumberScheduled < s.DesiredNumberScheduled:
		return notReady("waiting for rollout to finish: %d out of %d new pods have been updated", s.UpdatedNumberScheduled, s.DesiredNumberScheduled)
	case s.NumberAvailable < s.DesiredNumberScheduled*int32(threshold)/100:
		return notReady("waiting for rollout to finish: %d of %d (readyThreshold %d%%) updated pods are available",
			s.NumberAvailable, s.DesiredNumberScheduled*int32(threshold)/100, threshold)
	}
	return canary.Readiness{Ready: true}
}

func (daemonSetKind) readiness(a app, minGeneration int64, _ time.Time, threshold int) canary.Readiness {
	return daemonSetReadiness(a.daemonSet, minGeneration, threshold)
}

func (daemonSetKind) replicas(a app) *int32 {
	if scaledToZero(&a.daemonSet.Spec.Template) {
		return &zeroReplicas
	}
	return &oneReplica
}

func (daemonSetKind) scalePatch(n int32) []byte {
	if n == 0 {
		return []byte(`{"spec":{"template":{"spec":{"nodeSelector":{"` + ScaleToZeroNodeSelector + `":"true"}}}}}`)
	}
	return []byte(`{"spec":{"template":{"spec":{"nodeSelector":{"` + ScaleToZeroNodeSelector + `":null}}}}}`)
}

func (daemonSetKind) newPrimary(d app, meta metav1.ObjectMeta, selector *metav1.LabelSelector, tmpl *corev1.PodTemplateSpec) app {
	s := d.daemonSet.Spec
	return daemonSetApp(&appsv1.DaemonSet{ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{
		Selector: selector, Template: *tmpl, UpdateStrategy: s.UpdateStrategy, MinReadySeconds: s.MinReadySeconds,
		RevisionHistoryLimit: s.RevisionHistoryLimit,
	}})
}

func (daemonSetKind) promotion(p, d app, tmpl *corev1.PodTemplateSpec, _ bool) (app, bool) {
	s, want := p.daemonSet.Spec, d.daemonSet.Spec
	same := equality.Semantic.DeepEqual(s.Template, *tmpl) &&
		equality.Semantic.DeepEqual(s.UpdateStrategy, want.UpdateStrategy) &&
		s.MinReadySeconds == want.MinReadySeconds &&
		equality.Semantic.DeepEqual(s.RevisionHistoryLimit, want.RevisionHistoryLimit)
	u := p.daemonSet.DeepCopy()
	u.Spec.Template = *tmpl
	u.Spec.UpdateStrategy = want.UpdateStrategy
	u.Spec.MinReadySeconds = want.MinReadySeconds
	u.Spec.RevisionHistoryLimit = want.RevisionHistoryLimit
	return daemonSetApp(u), same
}

func (daemonSetKind) create(ctx context.Context, c kubernetes.Interface, a app) (app, error) {
	d, err := c.AppsV1().DaemonSets(a.Namespace).Create(ctx, a.daemonSet, metav1.CreateOptions{})
	if err != nil {
		return app{}, err
	}
	return daemonSetApp(d), nil
}

func (daemonSetKind) update(ctx context.Context, c kubernetes.Interface, a app) (app, error) {
	d, err := c.AppsV1().DaemonSets(a.Namespace).Update(ctx, a.daemonSet, metav1.UpdateOptions{})
	if err != nil {
		return app{}, err
	}
	return daemonSetApp(d), nil
}

func (daemonSetKind) patch(ctx context.Context, c kubernetes.Interface, ns, name string, patch []byte) (app, error) {
	d, err := c.AppsV1().DaemonSets(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return app{}, err
	}
	return daemonSetApp(d), nil
}

func (daemonSetKind) remove(ctx context.Context, c kubernetes.Interface, ns, name string, o metav1.DeleteOptions) error {
	return c.AppsV1().DaemonSets(ns).Delete(ctx, name, o)
}

// scaledToZero reports whether a pod template carries ScaleToZeroNodeSelector (any value: a
// DaemonSet Flagger or canarykit scaled down).
func scaledToZero(tmpl *corev1.PodTemplateSpec) bool {
	_, ok := tmpl.Spec.NodeSelector[ScaleToZeroNodeSelector]
	return ok
}

// withoutScaleToZero returns tmpl without ScaleToZeroNodeSelector: tmpl itself when it has
// none, else a copy (tmpl may be cached).
func withoutScaleToZero(tmpl *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
	if !scaledToZero(tmpl) {
		return tmpl
	}
	c := tmpl.DeepCopy()
	delete(c.Spec.NodeSelector, ScaleToZeroNodeSelector)
	if len(c.Spec.NodeSelector) == 0 {
		c.Spec.NodeSelector = nil
	}
	return c
}

// copyable refuses a DaemonSet target the primary cannot run beside: an OnDelete update
// strategy never replaces the canary's pods (its rollout would never finish), and a host port
// (a container's hostPort, or any container port with hostNetwork) binds on every node, where
// the primary's pod and the canary's would both need it.
func copyable(d app) error {
	ds := d.daemonSet
	if ds == nil {
		return nil
	}
	var problems []canary.FieldError
	if ds.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType {
		problems = append(problems, canary.FieldError{Field: "spec.updateStrategy.type",
			Message: "OnDelete never replaces the canary's pods: use RollingUpdate"})
	}
	spec := &ds.Spec.Template.Spec
	for ci, c := range spec.Containers {
		for pi, p := range c.Ports {
			field := fmt.Sprintf("spec.template.spec.containers[%d].ports[%d]", ci, pi)
			switch {
			case p.HostPort != 0:
				problems = append(problems, canary.FieldError{Field: field + ".hostPort",
					Message: "the primary's pods and the canary's run on the same nodes and cannot both bind a host port"})
			case spec.HostNetwork:
				problems = append(problems, canary.FieldError{Field: field,
					Message: "with hostNetwork the port is the node's: the primary's pods and the canary's cannot both bind it"})
			}
		}
	}
	if len(problems) == 0 {
		return nil
	}
	if len(problems) > 10 {
		problems = problems[:10]
	}
	return canary.Permanent(&canary.ValidationError{
		Subject: fmt.Sprintf("daemonset %s/%s as a canary target", ds.Namespace, ds.Name), Problems: problems})
}
