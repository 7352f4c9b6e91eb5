package mesh

import (
	"errors"
	"net/http"
	"testing"

	splitfake "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/split/clientset/versioned/fake"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clienttesting "k8s.io/client-go/testing"

	"github.com/canarykit/canarykit/canary"
)

// webhookDenial is the error the API server returns when a validating admission webhook
// refuses a write: the webhook's code (400 when it gives none below that) and its message
// after the server's fixed wording, with no details.
func webhookDenial(code int32) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: code,
		Message: `admission webhook "weights.policy.example.com" denied the request: canary weight changes are frozen`}}
}

// A TrafficSplit write an admission webhook refuses (400, 403 or 422) is a permanent error that
// says so, whether the step's patch tests the TrafficSplit's generation or not: the same write
// would be refused at every tick, and the engine ends the release on a permanent router error,
// routing all traffic back to the primary. Before, a 422 denial read as a failed JSON patch
// test: a transient error (the route changed, or the patch rejected) retried at every tick.
func TestTrafficSplitAdmissionDenialIsPermanent(t *testing.T) {
	for _, code := range []int32{http.StatusBadRequest, http.StatusForbidden, http.StatusUnprocessableEntity} {
		cs := splitfake.NewSimpleClientset()
		r, err := NewTrafficSplit(TrafficSplitOptions{Client: cs, Version: "v1alpha2"})
		require.NoError(t, err)
		tg := newTarget()
		_, gen, err := r.ReconcileGeneration(ctx(t), tg)
		require.NoError(t, err)
		cs.PrependReactor("*", "trafficsplits", func(a clienttesting.Action) (bool, runtime.Object, error) {
			if a.GetVerb() == "get" || a.GetVerb() == "list" || a.GetVerb() == "watch" {
				return false, nil, nil
			}
			return true, nil, webhookDenial(code)
		})

		_, err = r.SetWeightsAt(ctx(t), tg, canary.CanaryWeight(10), max(gen, 1))
		require.Error(t, err)
		assert.True(t, isPermanent(err), "code %d: want a permanent error, got %v", code, err)
		assert.False(t, errors.Is(err, ErrRouteChanged), "code %d: not a changed route: %v", code, err)
		assert.Contains(t, err.Error(), "denied the request: canary weight changes are frozen", "code %d", code)

		err = r.SetWeights(ctx(t), tg, canary.CanaryWeight(10))
		require.Error(t, err)
		assert.True(t, isPermanent(err), "code %d: want a permanent error, got %v", code, err)
		assert.Contains(t, err.Error(), "denied the request: canary weight changes are frozen", "code %d", code)
	}
}

// The same for the Istio router: a step's patch refused by a webhook with 422 is not read as a
// failed test (which would read the VirtualService and write it whole, to be refused again),
// and ends with a permanent error after that one request.
func TestIstioAdmissionDenialIsPermanent(t *testing.T) {
	dyn := newIstioFake()
	r, err := NewIstio(IstioOptions{Client: dyn, Version: "v1"})
	require.NoError(t, err)
	tg := newTarget()
	require.NoError(t, r.Reconcile(ctx(t), tg))
	dyn.PrependReactor("patch", "virtualservices", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, webhookDenial(http.StatusUnprocessableEntity)
	})
	dyn.ClearActions()
	err = r.SetWeights(ctx(t), tg, canary.CanaryWeight(10))
	requirePermanent(t, err)
	assert.Contains(t, err.Error(), "refused by admission control")
	assert.Len(t, dyn.Actions(), 1, "one request")
}
