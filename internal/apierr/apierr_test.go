package apierr

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// A resource the server does not serve is told from an object that does not exist.
func TestResourceMissing(t *testing.T) {
	gr := schema.GroupResource{Group: "keda.sh", Resource: "scaledobjects"}
	assert.False(t, ResourceMissing(apierrors.NewNotFound(gr, "podinfo")), "an object not found")
	assert.False(t, ResourceMissing(errors.New("could not find the requested resource")), "not an API error")
	assert.False(t, ResourceMissing(apierrors.NewForbidden(gr, "podinfo", errors.New("no"))))

	// what client-go makes of a 404 without a Status body: an unexpected server response
	unexpected := apierrors.NewGenericServerResponse(404, "get", gr, "podinfo", "404 page not found", 0, true)
	assert.True(t, ResourceMissing(unexpected))
	// what kube-apiserver answers for a resource it does not serve
	status := &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: 404, Reason: metav1.StatusReasonNotFound,
		Message: "the server could not find the requested resource"}}
	assert.True(t, ResourceMissing(status))
}
