package mesh

import (
	"errors"
	"net/http"
	"testing"

	splitfake "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/split/clientset/versioned/fake"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/canarykit/canarykit/canary"
)

// A conditional weight write is ErrRouteChanged only when a test operation of its patch failed
// (the API server's bare 422); a 422 that names invalid fields (the patched TrafficSplit failed
// validation or an admission policy) says nothing of the route's generation, and is returned
// as the refusal it is.
func TestSetWeightsAtRouteChangedOnlyForAFailedTest(t *testing.T) {
	for name, c := range map[string]struct {
		err     error
		changed bool
	}{
		"test failed": {apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", schema.GroupResource{}, "", "testing value /metadata/generation failed: test failed", 0, false), true},
		"invalid object": {apierrors.NewInvalid(schema.GroupKind{Group: "split.smi-spec.io", Kind: "TrafficSplit"}, "podinfo",
			field.ErrorList{field.Invalid(field.NewPath("spec", "backends").Index(0).Child("weight"), 500, "must be at most 100")}), false},
	} {
		t.Run(name, func(t *testing.T) {
			split := splitfake.NewSimpleClientset()
			ts, err := NewTrafficSplit(TrafficSplitOptions{Client: split, Version: "v1alpha2"})
			require.NoError(t, err)
			tg := newTarget()
			_, _, err = ts.ReconcileGeneration(ctx(t), tg)
			require.NoError(t, err)
			failOnce(&split.Fake, "patch", "trafficsplits", c.err)

			_, err = ts.SetWeightsAt(ctx(t), tg, canary.CanaryWeight(20), 5)
			require.Error(t, err)
			assert.Equal(t, c.changed, errors.Is(err, ErrRouteChanged), "%v", err)
			if !c.changed {
				assert.Contains(t, err.Error(), "spec.backends[0].weight")
			}
		})
	}
}
