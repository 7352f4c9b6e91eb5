package mesh

import (
	"fmt"
	"maps"

	"github.com/canarykit/canarykit/canary"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Route metadata: the labels and annotations of a Flagger Canary's spec.service.apex go on
// the route object named after the apex (Istio's VirtualService, Gateway API's HTTPRoute), as
// Flagger writes them there: external-dns and other controllers read them from it. They are
// written with canary.ApplyMetadata, so a key removed from them is removed at the route's
// next reshape, and keys others set are left alone. SMI's TrafficSplit and the NGINX canary
// Ingress get none, as in Flagger.

// validMetadata checks m (canary.Metadata.Problems) and returns a copy of it.
func validMetadata(m canary.Metadata) (canary.Metadata, error) {
	if problems := m.Problems(""); len(problems) > 0 {
		return canary.Metadata{}, fmt.Errorf("mesh: %w", &canary.ValidationError{Subject: "route metadata", Problems: problems})
	}
	return copyMetadata(m), nil
}

func copyMetadata(m canary.Metadata) canary.Metadata {
	return canary.Metadata{Labels: maps.Clone(m.Labels), Annotations: maps.Clone(m.Annotations)}
}

// applyMetadata writes m on meta (canary.ApplyMetadata) and reports whether it changed it.
func applyMetadata(meta *metav1.ObjectMeta, m canary.Metadata) bool {
	var changed bool
	meta.Labels, meta.Annotations, changed = canary.ApplyMetadata(meta.Labels, meta.Annotations, m, canary.MetadataKeys{})
	return changed
}

// metadataDrift reports whether writing m on meta would change it.
func metadataDrift(meta *metav1.ObjectMeta, m canary.Metadata) bool {
	_, _, changed := canary.ApplyMetadata(meta.Labels, meta.Annotations, m, canary.MetadataKeys{})
	return changed
}
