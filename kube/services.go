package kube

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/canarykit/canarykit/canary"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// syncService makes the ClusterIP service name select pods labelled key=selects on the
// options' port (and, with PortDiscovery, the ports of d's containers: see servicePorts),
// creating it or correcting a drifted port list and, unless keepSelector, a
// drifted selector, and writing the options' metadata and trafficDistribution on it (see
// "The Services' metadata" in the package documentation; a created Service is headless with
// Headless, an existing one whose headlessness differs is refused by checkService). The apex
// service's selector belongs to the router once the service
// exists (a mesh-less router switches it between primary and canary), unless the options say
// ApexSelectsPrimary.
//
// The apex Service (and only it, by the target's service name) is adopted when it exists
// without the managed-by label, as Flagger does with a Service a user keeps in Git, provided
// it selects the target's pods (or the primary's): it gets the label and the target, Canary and
// AnnotationAdopted annotations (no owner reference: its source is the user's), its selector
// is pointed at the primary and its ports replaced; its other labels and annotations are the
// user's, kept as they are at this and every later sync: the options' apex metadata is not
// written on it (as Flagger writes metadata only on the Services it creates), and the
// Workload's log says so once when the options have some. An unlabelled Service without a
// selector, or selecting other pods, serves something else and is refused
// (see adoptable), and so is one Flagger generated for another Canary, and any other Service
// of these names that canarykit did not create for this target and Canary (but those Flagger
// generated for this Canary: see takeover.go). A Service made meanwhile (the create finds it)
// is checked as one found in the cache.
func (w *Workload) syncService(ctx context.Context, nc *nsCache, d app, name, key, selects string, keepSelector bool) error {
	ns := d.Namespace
	ports, err := servicePorts(&w.opts, d)
	if err != nil {
		return err
	}
	selector := map[string]string{key: selects}
	meta := w.serviceMetadata(name, key)
	cur, err := nc.service(ns, name)
	if apierrors.IsNotFound(err) {
		labels, annotations, _ := canary.ApplyMetadata(nil, nil, meta, w.opts.UnmanagedMetadata)
		if labels == nil {
			labels = map[string]string{}
		}
		labels[key] = name
		om := w.managedMeta(d, name, labels)
		for k, v := range annotations {
			if _, own := om.Annotations[k]; !own {
				om.Annotations[k] = v
			}
		}
		svc := &corev1.Service{ObjectMeta: om, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: selector, Ports: ports}}
		if w.opts.Headless {
			svc.Spec.ClusterIP = corev1.ClusterIPNone
		}
		if v := w.opts.TrafficDistribution; v != "" {
			svc.Spec.TrafficDistribution = &v
		}
		_, err = w.c.client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
		if err == nil {
			w.log.Info("created service", "name", name, "selector", selects)
			return nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create service %s/%s: %w", ns, name, err)
		}
		// made meanwhile, by another Bootstrap of this Canary or of another one
		cur, err = w.c.client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
	}
	if err != nil {
		return err
	}
	adopt, err := w.checkService(cur, d)
	if err != nil {
		return err
	}
	if adopt {
		keepSelector = false
	}
	keepNodePorts(ports, cur.Spec.Ports)
	if keepSelector {
		selector = cur.Spec.Selector
	}
	var labels, annotations map[string]string
	var metaChanged bool
	if adopt || w.adoptedApex(nc, cur, d) {
		// the user's Service: its labels and annotations stay as they are (see AnnotationAdopted)
		labels, annotations, metaChanged = adoptedMetadata(cur)
		w.noteAdoptedApex(cur)
	} else {
		labels, annotations, metaChanged = canary.ApplyMetadata(cur.Labels, cur.Annotations, meta, w.opts.UnmanagedMetadata)
	}
	distribution := cur.Spec.TrafficDistribution
	if v := w.opts.TrafficDistribution; v != "" && (distribution == nil || *distribution != v) {
		distribution = &v
	}
	if !adopt && !unclaimed(cur) && !metaChanged && equality.Semantic.DeepEqual(cur.Spec.Selector, selector) &&
		samePorts(cur.Spec.Ports, ports) && distribution == cur.Spec.TrafficDistribution {
		return nil
	}
	u := cur.DeepCopy()
	u.Labels, u.Annotations = labels, annotations
	if adopt {
		if u.Labels == nil {
			u.Labels = map[string]string{}
		}
		u.Labels[canary.LabelManagedBy] = canary.ManagedBy
	}
	w.claim(&u.ObjectMeta)
	u.Annotations[AnnotationTarget] = d.Name
	u.Spec.Selector = selector
	u.Spec.Ports = ports
	u.Spec.TrafficDistribution = distribution
	if _, err := w.c.client.CoreV1().Services(ns).Update(ctx, u, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update service %s/%s: %w", ns, name, err)
	}
	w.log.Info("updated service", "name", name, "selector", selects, "adopted", adopt)
	return nil
}

// AnnotationAdopted marks an apex Service that canarykit adopted (one the user made, kept in
// Git: see syncService) rather than created. Its labels and annotations are the user's, as
// Flagger leaves them on a Service it did not create: WorkloadOptions.ApexMetadata is not
// written on it, no key is removed from it, and HandBackApex removes only canarykit's own keys.
const AnnotationAdopted = "canarykit.dev/adopted"

// adoptedApex reports whether svc, a Service checkService accepted without adopting it now, is
// the apex Service canarykit adopted earlier: it carries AnnotationAdopted or, adopted before
// adoptions were marked, it has canarykit's label and no owner reference of the target or of a
// Flagger Canary (a created Service may have one, an adopted one has none) and it is older
// than the primary Deployment (Bootstrap creates the primary before the Services it creates).
// An unmarked apex made in the same second as the primary counts as created.
func (w *Workload) adoptedApex(nc *nsCache, svc *corev1.Service, d app) bool {
	if svc.Name != w.opts.Target.ApexService() {
		return false
	}
	if svc.Annotations[AnnotationAdopted] != "" {
		return true
	}
	if svc.Labels[canary.LabelManagedBy] != canary.ManagedBy || flaggerControlled(svc) {
		return false
	}
	for _, o := range svc.OwnerReferences {
		if o.Kind == d.Kind && o.Name == d.Name {
			return false
		}
	}
	p, err := w.kind.cached(nc, svc.Namespace, w.opts.Target.PrimaryName())
	return err == nil && svc.CreationTimestamp.Before(&p.CreationTimestamp)
}

// adoptedMetadata returns the labels and annotations of svc, an adopted apex Service, as
// syncService writes them: the user's as they are, with AnnotationAdopted, and without the
// canary.AnnotationMetadata record an earlier canarykit may have written there (its keys stay
// with their values: which of them were the user's is not known). changed reports whether they
// differ from svc's.
func adoptedMetadata(svc *corev1.Service) (labels, annotations map[string]string, changed bool) {
	labels, annotations = maps.Clone(svc.Labels), maps.Clone(svc.Annotations)
	if annotations == nil {
		annotations = map[string]string{}
	}
	delete(annotations, canary.AnnotationMetadata)
	annotations[AnnotationAdopted] = "true"
	return labels, annotations, !maps.Equal(svc.Annotations, annotations)
}

// noteAdoptedApex says once, in the Workload's log, that the Canary's apex metadata is not
// written on the adopted apex Service svc.
func (w *Workload) noteAdoptedApex(svc *corev1.Service) {
	m := w.opts.ApexMetadata
	if m.IsZero() {
		return
	}
	w.mu.Lock()
	noted := w.apexNoted
	w.apexNoted = true
	w.mu.Unlock()
	if noted {
		return
	}
	w.log.Info("spec.service.apex labels and annotations are not written on Service "+svc.Namespace+"/"+svc.Name+
		": it is the user's own Service, which canarykit adopted, and its labels and annotations stay as they are "+
		"(Flagger writes them only on Services it creates); set them on the Service itself",
		"service", svc.Namespace+"/"+svc.Name, "labels", slices.Sorted(maps.Keys(m.Labels)), "annotations", slices.Sorted(maps.Keys(m.Annotations)))
}

// serviceMetadata is the Metadata of the Service name (apex, primary or canary) without the
// label key the Services are named under (the target's selector label key): that label is
// canarykit's, as it is Flagger's.
func (w *Workload) serviceMetadata(name, key string) canary.Metadata {
	t := w.opts.Target
	var m canary.Metadata
	switch name {
	case t.ApexService():
		m = w.opts.ApexMetadata
	case t.PrimaryService():
		m = w.opts.PrimaryMetadata
	case t.CanaryService():
		m = w.opts.CanaryMetadata
	}
	if _, clash := m.Labels[key]; clash {
		m.Labels = maps.Clone(m.Labels)
		delete(m.Labels, key)
	}
	return m
}

// checkHeadless refuses an existing Service whose headlessness is not the options': its
// clusterIP cannot change, and a Service quietly left as it is would not be what the
// Canary asks for.
func (w *Workload) checkHeadless(svc *corev1.Service) error {
	headless := svc.Spec.ClusterIP == corev1.ClusterIPNone
	if headless == w.opts.Headless {
		return nil
	}
	if w.opts.Headless {
		return canary.Permanent(fmt.Errorf("service.headless: service %s/%s exists with clusterIP %q (type %s), and a Service's clusterIP cannot change: "+
			"delete it to have it made headless, or set headless to false", svc.Namespace, svc.Name, svc.Spec.ClusterIP, svc.Spec.Type))
	}
	return canary.Permanent(fmt.Errorf("service.headless: service %s/%s exists headless (clusterIP None), and a Service's clusterIP cannot change: "+
		"delete it to have it made with a cluster IP, or set headless to true", svc.Namespace, svc.Name))
}

// checkService refuses a Service of the target's names that is not the Workload's to write,
// and reports whether it is an apex Service to adopt.
func (w *Workload) checkService(cur *corev1.Service, d app) (adopt bool, err error) {
	if cur.Name == w.opts.Target.ApexService() && unlabelled(cur) && !flaggerControlled(cur) {
		if err := adoptable(cur, d); err != nil {
			return true, err
		}
		return true, w.checkHeadless(cur)
	}
	if err := w.checkOwned(cur, "service", d); err != nil {
		return false, err
	}
	return false, w.checkHeadless(cur)
}

// flaggerControlled reports whether obj's controller is a Flagger Canary: not a Service the
// user keeps, but one Flagger generated (for the Workload's Canary, checkOwned accepts it; for
// another Canary, it refuses it).
func flaggerControlled(obj metav1.Object) bool {
	ref := metav1.GetControllerOfNoCopy(obj)
	return ref != nil && ref.Kind == "Canary" && strings.HasPrefix(ref.APIVersion, "flagger.app/")
}

// unlabelled reports whether obj has no managed-by label at all: made by hand or kept in Git,
// not by another tool that labels what it manages.
func unlabelled(obj metav1.Object) bool {
	_, ok := obj.GetLabels()[canary.LabelManagedBy]
	return !ok
}

// syncAutoscaler makes "<autoscaler>-primary" a copy of the target's autoscaler that scales the
// primary, with the options' replica bounds if set; with update, an existing copy is brought
// level (at promotion, and at a Bootstrap that makes the primary). A copy an earlier canarykit made gets the Workload's Canary recorded.
func (w *Workload) syncAutoscaler(ctx context.Context, nc *nsCache, d app, update bool) error {
	ns, name := d.Namespace, w.opts.Autoscaler
	src, err := nc.hpa(ns, name)
	if apierrors.IsNotFound(err) {
		return canary.Permanent(fmt.Errorf("autoscaler %s/%s (autoscalerRef) not found", ns, name))
	}
	if err != nil {
		return err
	}
	// another app's autoscaler: its bounds and metrics are not the target's to copy
	if err := autoscalerScales("autoscaler", ns, name, src.Spec.ScaleTargetRef.Kind, src.Spec.ScaleTargetRef.Name, d.Name); err != nil {
		return err
	}
	spec := *src.Spec.DeepCopy()
	spec.ScaleTargetRef = autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name + "-primary"}
	if n := w.opts.PrimaryMinReplicas; n > 0 {
		spec.MinReplicas = &n
	}
	if n := w.opts.PrimaryMaxReplicas; n > 0 {
		spec.MaxReplicas = n
	}
	pname := name + "-primary"
	api := w.c.client.AutoscalingV2().HorizontalPodAutoscalers(ns)
	cur, err := nc.hpa(ns, pname)
	if apierrors.IsNotFound(err) {
		h := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: w.managedMeta(d, pname, copiedLabels(src.Labels)), Spec: spec}
		_, err = api.Create(ctx, h, metav1.CreateOptions{})
		if err == nil {
			w.log.Info("created primary autoscaler", "name", pname)
			return nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create autoscaler %s/%s: %w", ns, pname, err)
		}
		cur, err = api.Get(ctx, pname, metav1.GetOptions{}) // made meanwhile: whose is it?
	}
	if err != nil {
		return err
	}
	if err := w.checkOwned(cur, "horizontalpodautoscaler", d); err != nil {
		return err
	}
	stale := update && !equality.Semantic.DeepEqual(cur.Spec, spec)
	if !stale && !unclaimed(cur) {
		return nil
	}
	u := cur.DeepCopy()
	w.claim(&u.ObjectMeta)
	if stale {
		u.Spec = spec
	}
	if _, err := api.Update(ctx, u, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update autoscaler %s/%s: %w", ns, pname, err)
	}
	return nil
}
