package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/apierr"
	"github.com/canarykit/canarykit/kube/kedaapi"
)

// KEDA ScaledObjects (WorkloadOptions.AutoscalerKind ScaledObject), as Flagger drives them: the
// primary gets a copy "<name>-primary" scaling it (created at Bootstrap, brought level at
// every promotion), and the target's own ScaledObject is paused at zero replicas
// (kedaapi.PausedReplicasAnnotation "0") while canarykit holds the target at zero, so that
// KEDA does not scale the canary back up; it is resumed (the annotation removed) when the
// target is scaled up for a release and when it is handed back. canarykit does not import
// KEDA: ScaledObjects are read and written unstructured, through Options.Dynamic.

// scaledObjectsGVR is KEDA's ScaledObject resource.
var scaledObjectsGVR = schema.GroupVersionResource{Group: kedaapi.Group, Version: kedaapi.Version, Resource: kedaapi.Resource}

// AutoscalerKind values of WorkloadOptions.
const (
	// KindHorizontalPodAutoscaler is an autoscaling/v2 HorizontalPodAutoscaler (the default).
	KindHorizontalPodAutoscaler = "HorizontalPodAutoscaler"
	// KindScaledObject is a KEDA ScaledObject (keda.sh/v1alpha1).
	KindScaledObject = kedaapi.Kind
)

// keda reports whether the target's autoscaler is a KEDA ScaledObject.
func (w *Workload) keda() bool {
	return w.opts.Autoscaler != "" && w.opts.AutoscalerKind == KindScaledObject
}

// probeScaledObjects lists at most one ScaledObject of ns: a cluster without KEDA's CRD is a
// permanent error naming spec.autoscalerRef, not a cache that never syncs.
func (c *Cluster) probeScaledObjects(ctx context.Context, ns string) error {
	if c.dynamic == nil {
		return canary.Permanent(errors.New("spec.autoscalerRef: kind ScaledObject needs kube.Options.Dynamic"))
	}
	_, err := c.dynamic.Resource(scaledObjectsGVR).Namespace(ns).List(ctx, metav1.ListOptions{Limit: 1})
	switch {
	case apierr.ResourceMissing(err):
		return canary.Permanent(fmt.Errorf("spec.autoscalerRef: kind ScaledObject, but the cluster does not serve %s.%s/%s: install KEDA (its ScaledObject CRD) or use a HorizontalPodAutoscaler",
			kedaapi.Resource, kedaapi.Group, kedaapi.Version))
	case err != nil:
		return fmt.Errorf("spec.autoscalerRef: list %s.%s in %s: %w", kedaapi.Resource, kedaapi.Group, ns, err)
	}
	return nil
}

// scaledObject reads a ScaledObject from the cache (a copy: callers may change it).
func (nc *nsCache) scaledObject(name string) (*unstructured.Unstructured, error) {
	obj, err := nc.scaledObjects.Get(name)
	if err != nil {
		return nil, err
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("scaledobject %s: unexpected cached type %T", name, obj)
	}
	return u.DeepCopy(), nil
}

// targetScaledObject is the target's own ScaledObject; a missing one is a permanent error, as
// a missing HorizontalPodAutoscaler is.
func (w *Workload) targetScaledObject(nc *nsCache) (*unstructured.Unstructured, error) {
	ns, name := w.opts.Target.Namespace, w.opts.Autoscaler
	so, err := nc.scaledObject(name)
	if apierrors.IsNotFound(err) {
		return nil, canary.Permanent(fmt.Errorf("scaledobject %s/%s (autoscalerRef) not found", ns, name))
	}
	return so, err
}

// primaryScaledObjectSpec is the spec of the primary's ScaledObject: a copy of src's spec
// scaling the primary ("<target>-primary"), with the options' replica bounds
// (minReplicaCount, maxReplicaCount) if set, KEDA's HPA named "<name>-primary" when src names
// its own (otherwise KEDA names it after the primary's ScaledObject,
// "keda-hpa-<name>-primary"), and each trigger's query replaced by PrimaryScalerQueries (by
// trigger name) or, without them, rewritten by kedaapi.PrimaryQuery, as Flagger does. A
// ScaledObject that does not scale the target, or PrimaryScalerQueries naming a trigger it
// does not have, is a permanent error.
func (w *Workload) primaryScaledObjectSpec(src *unstructured.Unstructured, d app) (map[string]any, error) {
	ref := fmt.Sprintf("scaledobject %s/%s (autoscalerRef)", src.GetNamespace(), src.GetName())
	spec, ok := src.Object["spec"].(map[string]any)
	if !ok {
		return nil, canary.Permanent(fmt.Errorf("%s has no spec", ref))
	}
	if err := scalesTarget(src, d.Name); err != nil {
		return nil, err
	}
	spec = runtimeDeepCopy(spec)
	target, _ := spec["scaleTargetRef"].(map[string]any)
	target["name"] = d.Name + "-primary"
	if n := w.opts.PrimaryMinReplicas; n > 0 {
		spec["minReplicaCount"] = int64(n)
	}
	if n := w.opts.PrimaryMaxReplicas; n > 0 {
		spec["maxReplicaCount"] = int64(n)
	}
	// advanced.horizontalPodAutoscalerConfig, made if absent, as Flagger does
	advanced, _ := spec["advanced"].(map[string]any)
	if advanced == nil {
		advanced = map[string]any{}
		spec["advanced"] = advanced
	}
	hpa, _ := advanced["horizontalPodAutoscalerConfig"].(map[string]any)
	if hpa == nil {
		hpa = map[string]any{}
		advanced["horizontalPodAutoscalerConfig"] = hpa
	}
	if n, _ := hpa["name"].(string); n != "" {
		hpa["name"] = n + "-primary"
	}
	triggers, _ := spec["triggers"].([]any)
	names := make([]string, 0, len(triggers))
	for _, tr := range triggers {
		m, _ := tr.(map[string]any)
		if m == nil {
			continue
		}
		tname, _ := m["name"].(string)
		names = append(names, tname)
		md, _ := m["metadata"].(map[string]any)
		if w.opts.PrimaryScalerQueries != nil {
			q, ok := w.opts.PrimaryScalerQueries[tname]
			if !ok || tname == "" {
				continue
			}
			if md == nil {
				md = map[string]any{}
				m["metadata"] = md
			}
			md["query"] = q
			continue
		}
		if q, ok := md["query"].(string); ok {
			md["query"] = kedaapi.PrimaryQuery(q, d.Name)
		}
	}
	var missing []string
	for _, k := range slices.Sorted(maps.Keys(w.opts.PrimaryScalerQueries)) {
		if !slices.Contains(names, k) {
			missing = append(missing, fmt.Sprintf("%q", k))
		}
	}
	if len(missing) > 0 {
		return nil, canary.Permanent(fmt.Errorf("spec.autoscalerRef.primaryScalerQueries: %s has no trigger named %s (its triggers: %q)",
			ref, strings.Join(missing, ", "), names))
	}
	return spec, nil
}

// scalesTarget refuses a ScaledObject (autoscalerRef) that does not scale the target
// Deployment named target: another app's, which canarykit must neither copy nor pause or
// resume.
func scalesTarget(so *unstructured.Unstructured, target string) error {
	name, _, _ := unstructured.NestedString(so.Object, "spec", "scaleTargetRef", "name")
	kind, _, _ := unstructured.NestedString(so.Object, "spec", "scaleTargetRef", "kind")
	return autoscalerScales("scaledobject", so.GetNamespace(), so.GetName(), kind, name, target)
}

// autoscalerScales refuses the autoscaler what ns/name (autoscalerRef) unless its scale
// target (refKind, "" for Deployment, and refName) is the target Deployment named target.
func autoscalerScales(what, ns, name, refKind, refName, target string) error {
	if refName == target && (refKind == "" || refKind == "Deployment") {
		return nil
	}
	return canary.Permanent(fmt.Errorf("%s %s/%s (autoscalerRef) scales %s %q, not the target Deployment %q",
		what, ns, name, orDefault(refKind, "Deployment"), refName, target))
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// runtimeDeepCopy copies a JSON-shaped map (what an unstructured object holds).
func runtimeDeepCopy(m map[string]any) map[string]any {
	return (&unstructured.Unstructured{Object: m}).DeepCopy().Object
}

// primaryScaledObjectMeta is the metadata of a created primary ScaledObject: the Workload's
// managed metadata with src's labels and annotations, but for KEDA's pause annotations (the
// primary serves production traffic and must scale) and the last applied configuration.
func (w *Workload) primaryScaledObjectMeta(src *unstructured.Unstructured, d app, name string) metav1.ObjectMeta {
	m := w.managedMeta(d, name, copiedLabels(src.GetLabels()))
	for k, v := range src.GetAnnotations() {
		switch k {
		case kedaapi.PausedReplicasAnnotation, kedaapi.PausedAnnotation, "kubectl.kubernetes.io/last-applied-configuration",
			AnnotationTarget, AnnotationCanary:
			continue
		}
		if strings.Contains(k, "toolkit.fluxcd.io") { // Flux's, as Flagger leaves them out
			continue
		}
		m.Annotations[k] = v
	}
	return m
}

// syncScaledObject makes "<name>-primary" a copy of the target's ScaledObject that scales the
// primary (see primaryScaledObjectSpec); with update, an existing copy is brought level (at
// promotion, and at a Bootstrap that makes the primary). A copy an earlier canarykit made gets the Workload's Canary recorded.
func (w *Workload) syncScaledObject(ctx context.Context, nc *nsCache, d app, update bool) error {
	ns := d.Namespace
	src, err := w.targetScaledObject(nc)
	if err != nil {
		return err
	}
	spec, err := w.primaryScaledObjectSpec(src, d)
	if err != nil {
		return err
	}
	pname := w.opts.Autoscaler + "-primary"
	api := w.c.dynamic.Resource(scaledObjectsGVR).Namespace(ns)
	cur, err := nc.scaledObject(pname)
	if apierrors.IsNotFound(err) {
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": kedaapi.APIVersion, "kind": kedaapi.Kind, "spec": spec}}
		meta := w.primaryScaledObjectMeta(src, d, pname)
		u.SetName(meta.Name)
		u.SetNamespace(ns)
		u.SetLabels(meta.Labels)
		u.SetAnnotations(meta.Annotations)
		u.SetOwnerReferences(meta.OwnerReferences)
		_, err = api.Create(ctx, u, metav1.CreateOptions{})
		if err == nil {
			w.log.Info("created primary scaledobject", "name", pname)
			return nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create scaledobject %s/%s: %w", ns, pname, err)
		}
		cur, err = api.Get(ctx, pname, metav1.GetOptions{}) // made meanwhile: whose is it?
	}
	if err != nil {
		return err
	}
	if err := w.checkOwned(cur, "scaledobject", d); err != nil {
		return err
	}
	stale := update && !equality.Semantic.DeepEqual(cur.Object["spec"], spec)
	if !stale && !unclaimed(cur) {
		return nil
	}
	w.claim(cur)
	if stale {
		cur.Object["spec"] = spec
	}
	if _, err := api.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update scaledobject %s/%s: %w", ns, pname, err)
	}
	if stale {
		w.log.Info("updated primary scaledobject", "name", pname)
	}
	return nil
}

// preflightScaledObject refuses, before Bootstrap writes anything, a target ScaledObject that
// is missing or cannot be copied (see primaryScaledObjectSpec), and a primary copy that is not
// the Workload's.
func (w *Workload) preflightScaledObject(nc *nsCache, d app) error {
	src, err := w.targetScaledObject(nc)
	if err != nil {
		return err
	}
	if _, err := w.primaryScaledObjectSpec(src, d); err != nil {
		return err
	}
	if p, err := nc.scaledObject(w.opts.Autoscaler + "-primary"); err == nil {
		return w.checkOwned(p, "scaledobject", d)
	}
	return nil
}

// pauseScaledObject pauses the target's ScaledObject at zero replicas
// (kedaapi.PausedReplicasAnnotation "0"), as Flagger does before scaling the canary to zero:
// KEDA would otherwise scale it back up. Nothing is written when it is paused already. A
// ScaledObject deleted since Bootstrap has nothing to pause: the target is scaled down all
// the same (a rollback is not held up by it). One that does not scale the target (another
// app's) is left alone, and refused.
func (w *Workload) pauseScaledObject(ctx context.Context, nc *nsCache) error {
	so, err := w.targetScaledObject(nc)
	if err != nil {
		if canary.IsPermanent(err) {
			w.log.Info("target's scaledobject not found: nothing to pause", "name", w.opts.Autoscaler)
			return nil
		}
		return err
	}
	if err := scalesTarget(so, w.opts.Target.Name); err != nil {
		return err
	}
	if so.GetAnnotations()[kedaapi.PausedReplicasAnnotation] == "0" {
		return nil
	}
	return w.annotateScaledObject(ctx, so, ptr.To("0"))
}

// resumeScaledObject removes kedaapi.PausedReplicasAnnotation from the target's ScaledObject,
// as Flagger does before scaling the canary up and when the target is handed back. Nothing is
// written when it is not paused; a missing ScaledObject, or one that does not scale the
// target (another app's, left alone), is an error unless missingOK.
func (w *Workload) resumeScaledObject(ctx context.Context, nc *nsCache, missingOK bool) error {
	so, err := w.targetScaledObject(nc)
	if err != nil {
		if missingOK && canary.IsPermanent(err) {
			return nil
		}
		return err
	}
	if err := scalesTarget(so, w.opts.Target.Name); err != nil {
		if missingOK {
			// another app's: the target has none of its own to resume
			w.log.Info("autoscalerRef does not scale the target: not resumed", "name", so.GetName(), "reason", err.Error())
			return nil
		}
		return err
	}
	if _, paused := so.GetAnnotations()[kedaapi.PausedReplicasAnnotation]; !paused {
		return nil
	}
	return w.annotateScaledObject(ctx, so, nil)
}

// annotateScaledObject sets (value non-nil) or removes the pause annotation of so with a merge
// patch: the rest of the user's ScaledObject is left as it is.
func (w *Workload) annotateScaledObject(ctx context.Context, so *unstructured.Unstructured, value *string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{kedaapi.PausedReplicasAnnotation: value}}})
	if err != nil {
		return err
	}
	ns, name := so.GetNamespace(), so.GetName()
	_, err = w.c.dynamic.Resource(scaledObjectsGVR).Namespace(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		verb := "pause"
		if value == nil {
			verb = "resume"
		}
		return fmt.Errorf("%s scaledobject %s/%s (autoscalerRef): %w", verb, ns, name, err)
	}
	if value != nil {
		w.log.Info("paused the target's scaledobject", "name", name, kedaapi.PausedReplicasAnnotation, *value)
	} else {
		w.log.Info("resumed the target's scaledobject", "name", name)
	}
	return nil
}
