package mesh

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	clienttesting "k8s.io/client-go/testing"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayfake "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned/fake"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh/istioapi"
)

// preflightAnswer answers the HTTPRoute creations of cs with err, recording the route and
// its options (the fake's tracker would store a dry run's object).
func preflightAnswer(cs *gatewayfake.Clientset, err error) *[]clienttesting.CreateActionImpl {
	var seen []clienttesting.CreateActionImpl
	cs.PrependReactor("create", "httproutes", func(a clienttesting.Action) (bool, runtime.Object, error) {
		seen = append(seen, a.(clienttesting.CreateActionImpl))
		if err != nil {
			return true, nil, err
		}
		return true, a.(clienttesting.CreateAction).GetObject(), nil
	})
	return &seen
}

// The preflight is one dry-run create of the route Reconcile would make (its service's filters
// and the target's A/B match included); the API server's refusal of the route comes back as
// Reconcile's error, and any other answer leaves the verdict to Reconcile.
func TestHTTPRoutePreflightIsOneDryRunCreate(t *testing.T) {
	cors := gatewayService
	cors.CORS = &istioapi.CorsPolicy{AllowOrigin: []string{"https://example.com"}}
	invalid := apierrors.NewInvalid(schema.GroupKind{Group: "gateway.networking.k8s.io", Kind: "HTTPRoute"}, "podinfo",
		field.ErrorList{field.NotSupported(field.NewPath("spec", "rules").Index(0).Child("filters").Index(3).Child("type"), "CORS",
			[]string{"RequestHeaderModifier", "RequestMirror"})})
	for name, c := range map[string]struct {
		answer  error
		refused string // "" for none
	}{
		"accepted":        {nil, ""},
		"refused":         {invalid, "the HTTPRoute CRD refuses the CORS filter (a Canary's spec.service.corsPolicy)"},
		"exists":          {apierrors.NewAlreadyExists(schema.GroupResource{Group: "gateway.networking.k8s.io", Resource: "httproutes"}, "podinfo"), ""},
		"no dry run":      {apierrors.NewBadRequest(`admission webhook "audit.example.com" does not support dry run`), ""},
		"unreachable":     {errors.New("connection refused"), ""},
		"webhook refuses": {apierrors.NewForbidden(schema.GroupResource{Resource: "httproutes"}, "podinfo", errors.New("policy")), ""},
	} {
		t.Run(name, func(t *testing.T) {
			cs := gatewayfake.NewSimpleClientset()
			seen := preflightAnswer(cs, c.answer)
			r := serviceRouter(t, cs, cors)
			tg := newTarget()
			tg.Match = abMatch
			err := r.PreflightRoute(ctx(t), tg)
			if c.refused != "" {
				requirePermanent(t, err)
				assert.ErrorContains(t, err, c.refused)
			} else {
				require.NoError(t, err)
			}
			require.Len(t, *seen, 1, "one request")
			a := (*seen)[0]
			assert.Equal(t, []string{metav1.DryRunAll}, a.GetCreateOptions().DryRun, "a dry run")
			route := a.GetObject().(*gwv1.HTTPRoute)
			assert.Equal(t, tg.ApexService(), route.Name)
			assert.Equal(t, "canarykit", route.Labels[canary.LabelManagedBy])
			require.Len(t, route.Spec.Rules, 2, "the A/B rule, then everything else")
			types := []gwv1.HTTPRouteFilterType{}
			for _, f := range route.Spec.Rules[0].Filters {
				types = append(types, f.Type)
			}
			assert.Contains(t, types, gwv1.HTTPRouteFilterCORS, "the service's filters")
			assert.Equal(t, int32(100), *route.Spec.Rules[1].BackendRefs[0].Weight, "all traffic on the primary")
		})
	}
}

// What Reconcile refuses before any request, the preflight refuses too, with no request.
func TestHTTPRoutePreflightRefusesWhatReconcileRefuses(t *testing.T) {
	cs := gatewayfake.NewSimpleClientset()
	r := serviceRouter(t, cs, gatewayService)
	tg := newTarget()
	tg.Name = ""
	err := r.PreflightRoute(ctx(t), tg)
	require.Error(t, err)
	assert.Equal(t, r.Reconcile(ctx(t), tg).Error(), err.Error())
	assert.Empty(t, cs.Actions())
}
