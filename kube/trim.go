package kube

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// trimCached is the caches' transform: it drops what no reader of a cached object uses, before
// the object is stored. That is every object's managedFields (stripManagedFields), and the data
// of the ConfigMaps and Secrets config tracking leaves out: those that opted out, and Secrets of
// a type it does not track (service-account tokens, registry credentials, and the release
// records some package managers keep in Secrets, often the largest objects of a namespace).
// Their data is never read from the caches: trackedConfigs skips them, syncConfigs copies only
// tracked configs and writes a primary copy's data from its original, and RemoveGenerated reads
// only metadata. A Secret's type cannot change, and a config that opts back in arrives as an
// update, which is transformed again, with its data. An autoscaler's status is dropped too:
// only its spec is read (the primary's copy, the target's minimum replicas), and the updates of
// a primary's autoscaler leave the status, a subresource, as the API server has it. So is a
// KEDA ScaledObject's (a subresource too, in KEDA's CRD), and an Ingress's (the NGINX router
// copies only its spec, labels and annotations).
func trimCached(obj any) (any, error) {
	obj, err := stripManagedFields(obj)
	if err != nil {
		return obj, err
	}
	switch o := obj.(type) {
	case *corev1.Secret:
		if trackingDisabled(o.Annotations) || !trackedSecretType(o.Type) {
			o.Data, o.StringData = nil, nil
		}
	case *corev1.ConfigMap:
		if trackingDisabled(o.Annotations) {
			o.Data, o.BinaryData = nil, nil
		}
	case *autoscalingv2.HorizontalPodAutoscaler:
		o.Status = autoscalingv2.HorizontalPodAutoscalerStatus{}
	case *networkingv1.Ingress: // the NGINX router copies its spec and metadata
		o.Status = networkingv1.IngressStatus{}
	case *unstructured.Unstructured: // a KEDA ScaledObject: its spec and metadata are read
		delete(o.Object, "status")
	}
	return obj, nil
}
