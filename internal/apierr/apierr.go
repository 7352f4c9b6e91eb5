// Package apierr reads what an API server's error says beyond apimachinery's own helpers, for
// the packages that talk to it (kube, mesh).
package apierr

import (
	"errors"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ResourceMissing reports whether err says the API server does not serve the resource at all
// ("the server could not find the requested resource": its CRD is not installed, or the API
// group is served by something else, such as Linkerd ≥ 2.12 without the linkerd-smi extension
// for TrafficSplits), as opposed to an object of it not existing.
func ResourceMissing(err error) bool {
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
