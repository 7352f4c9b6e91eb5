package mesh

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	specsv1alpha4 "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/specs/v1alpha4"
	splitv1alpha2 "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/split/v1alpha2"
	splitv1alpha4 "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/split/v1alpha4"
	specsclient "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/specs/clientset/versioned"
	specsfake "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/specs/clientset/versioned/fake"
	splitclient "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/split/clientset/versioned"
	splitfake "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/split/clientset/versioned/fake"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	clienttesting "k8s.io/client-go/testing"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayfake "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned/fake"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh/istioapi"
)

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
		"webhook denies":  {webhookDenial(http.StatusBadRequest), "refused by admission control"},
	} {
		t.Run(name, func(t *testing.T) {
			cs := gatewayfake.NewSimpleClientset()
			seen := answerCreates(&cs.Fake, "httproutes", c.answer)
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

// answerCreates answers f's creations of resource with err (nil: the object as sent), recording
// them, storing nothing (the fakes' trackers would store a dry run's object).
func answerCreates(f *clienttesting.Fake, resource string, err error) *[]clienttesting.CreateActionImpl {
	var seen []clienttesting.CreateActionImpl
	f.PrependReactor("create", resource, func(a clienttesting.Action) (bool, runtime.Object, error) {
		seen = append(seen, a.(clienttesting.CreateActionImpl))
		if err != nil {
			return true, nil, err
		}
		return true, a.(clienttesting.CreateAction).GetObject(), nil
	})
	return &seen
}

// teamDenial is an admission webhook's denial, as the API server words it, with code.
func teamDenial(code int32) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: code,
		Message: `admission webhook "team-label.example.com" denied the request: every route names its team`}}
}

// dryRunAnswers are the answers a preflight's dry-run creation of an object of gk may get, and
// whether each refuses the route: only the API server's refusal of the object (422 Invalid, or
// an admission webhook's denial whatever its code) does.
func dryRunAnswers(gk schema.GroupKind) map[string]struct {
	err     error
	refuses bool
} {
	gr := schema.GroupResource{Group: gk.Group, Resource: strings.ToLower(gk.Kind) + "s"}
	return map[string]struct {
		err     error
		refuses bool
	}{
		"accepted": {nil, false},
		"refused": {apierrors.NewInvalid(gk, "podinfo", field.ErrorList{field.Forbidden(field.NewPath("metadata", "labels"),
			`ValidatingAdmissionPolicy 'team-label' denied request: every route names its team`)}), true},
		"exists":          {apierrors.NewAlreadyExists(gr, "podinfo"), false},
		"no dry run":      {apierrors.NewBadRequest(`admission webhook "audit.example.com" does not support dry run`), false},
		"unreachable":     {errors.New("connection refused"), false},
		"webhook refuses": {apierrors.NewForbidden(gr, "podinfo", errors.New("policy")), false},
		// a webhook's denial, as the API server words it, with the webhook's code or 400
		"webhook denies, 400": {teamDenial(http.StatusBadRequest), true},
		"webhook denies, 403": {teamDenial(http.StatusForbidden), true},
	}
}

// requireDryRuns checks that every creation in seen was a dry run.
func requireDryRuns(t *testing.T, seen []clienttesting.CreateActionImpl) {
	t.Helper()
	for _, a := range seen {
		require.Equal(t, []string{metav1.DryRunAll}, a.GetCreateOptions().DryRun, "%s %s: a dry run", a.GetVerb(), a.GetResource().Resource)
	}
}

// The TrafficSplit preflight dry-runs the HTTPRouteGroup of an A/B target, then the TrafficSplit,
// as Reconcile would create them; a refusal of either is Reconcile's error for it.
func TestTrafficSplitPreflightIsADryRunOfEachObject(t *testing.T) {
	for _, refused := range []string{"trafficsplits", "httproutegroups"} {
		kind := map[string]string{"trafficsplits": "TrafficSplit", "httproutegroups": "HTTPRouteGroup"}[refused]
		for name, c := range dryRunAnswers(schema.GroupKind{Group: SplitGroup, Kind: kind}) {
			t.Run(refused+"/"+name, func(t *testing.T) {
				cs, specs := splitfake.NewSimpleClientset(), specsfake.NewSimpleClientset()
				answers := map[string]error{refused: c.err}
				splits := answerCreates(&cs.Fake, "trafficsplits", answers["trafficsplits"])
				groups := answerCreates(&specs.Fake, "httproutegroups", answers["httproutegroups"])
				r, err := NewTrafficSplit(TrafficSplitOptions{Client: cs, Specs: specs, Version: "v1alpha4"})
				require.NoError(t, err)
				tg := newTarget()
				tg.Match = abMatch
				err = r.PreflightRoute(ctx(t), tg)
				if c.refuses {
					requirePermanent(t, err)
					assert.ErrorContains(t, err, "create "+kind)
					assert.ErrorContains(t, err, "every route names its team")
				} else {
					require.NoError(t, err)
				}
				require.Len(t, *groups, 1) // dry runs: TestCreateDryRunAsksTheServerForOne
				g := (*groups)[0].GetObject().(*specsv1alpha4.HTTPRouteGroup)
				assert.Equal(t, tg.ApexService(), g.Name)
				assert.Len(t, g.Spec.Matches, 2, "the target's match conditions")
				if c.refuses && refused == "httproutegroups" {
					assert.Empty(t, *splits, "the TrafficSplit is not asked about once its group is refused")
					return
				}
				require.Len(t, *splits, 1)
				s := (*splits)[0].GetObject().(*splitv1alpha4.TrafficSplit)
				assert.Equal(t, tg.ApexService(), s.Name)
				assert.Equal(t, "canarykit", s.Labels[canary.LabelManagedBy])
				assert.Equal(t, tg.Name, s.Annotations[canary.AnnotationTarget])
				require.Len(t, s.Spec.Backends, 2)
				assert.Equal(t, tg.PrimaryService(), s.Spec.Backends[1].Service)
				assert.Equal(t, 100, s.Spec.Backends[1].Weight, "all traffic on the primary")
				assert.Len(t, s.Spec.Matches, 1, "the HTTPRouteGroup")
			})
		}
	}
}

// What Reconcile refuses before writing, the TrafficSplit preflight refuses with no creation:
// a target it cannot route, a CRD the API server does not serve.
func TestTrafficSplitPreflightRefusesWhatReconcileRefuses(t *testing.T) {
	t.Run("mirror", func(t *testing.T) {
		cs := splitfake.NewSimpleClientset()
		r, err := NewTrafficSplit(TrafficSplitOptions{Client: cs, Version: "v1alpha2"})
		require.NoError(t, err)
		tg := newTarget()
		tg.Mirror = 100
		err = r.PreflightRoute(ctx(t), tg)
		requirePermanent(t, err)
		assert.Equal(t, r.Reconcile(ctx(t), tg).Error(), err.Error())
		assert.Empty(t, cs.Actions())
	})
	t.Run("no CRD", func(t *testing.T) {
		cs := splitfake.NewSimpleClientset()
		r, err := NewTrafficSplit(TrafficSplitOptions{Client: cs, Discovery: discoveryServing("v1")})
		require.NoError(t, err)
		err = r.PreflightRoute(ctx(t), newTarget())
		requirePermanent(t, err)
		assert.ErrorIs(t, err, ErrCRDMissing)
		assert.Empty(t, cs.Actions())
	})
}

// createOptions records the options of every creation through a dynamic client (client-go's
// fake drops them).
type createOptions struct {
	dynamic.Interface
	seen *[]metav1.CreateOptions
}

func (c createOptions) Resource(gvr schema.GroupVersionResource) dynamic.NamespaceableResourceInterface {
	return createOptionsOf{c.Interface.Resource(gvr), c.seen}
}

type createOptionsOf struct {
	dynamic.NamespaceableResourceInterface
	seen *[]metav1.CreateOptions
}

func (c createOptionsOf) Namespace(ns string) dynamic.ResourceInterface {
	return createOptionsIn{c.NamespaceableResourceInterface.Namespace(ns), c.seen}
}

type createOptionsIn struct {
	dynamic.ResourceInterface
	seen *[]metav1.CreateOptions
}

func (c createOptionsIn) Create(ctx context.Context, obj *unstructured.Unstructured, o metav1.CreateOptions, sub ...string) (*unstructured.Unstructured, error) {
	*c.seen = append(*c.seen, o)
	return c.ResourceInterface.Create(ctx, obj, o, sub...)
}

// The Istio preflight dry-runs the primary's and the canary's DestinationRules and the
// VirtualService as Reconcile would create them, and reports every refusal, each as
// Reconcile's error for its object.
func TestIstioPreflightIsADryRunOfEachObject(t *testing.T) {
	for _, refused := range []string{"destinationrules", "virtualservices"} {
		kind := map[string]string{"destinationrules": "DestinationRule", "virtualservices": "VirtualService"}[refused]
		for name, c := range dryRunAnswers(schema.GroupKind{Group: IstioGroup, Kind: kind}) {
			t.Run(refused+"/"+name, func(t *testing.T) {
				dyn := newIstioFake()
				seen := map[string]*[]clienttesting.CreateActionImpl{}
				for _, res := range []string{"destinationrules", "virtualservices"} {
					var answer error
					if res == refused {
						answer = c.err
					}
					seen[res] = answerCreates(&dyn.Fake, res, answer)
				}
				var opts []metav1.CreateOptions
				r, err := NewIstio(IstioOptions{Client: createOptions{dyn, &opts}, Discovery: discoveryServing(IstioGroup + "/v1")})
				require.NoError(t, err)
				tg := newTarget()
				err = r.PreflightRoute(ctx(t), tg)
				if c.refuses {
					requirePermanent(t, err)
					assert.ErrorContains(t, err, "create "+kind+" test/")
					assert.ErrorContains(t, err, "every route names its team")
				} else {
					require.NoError(t, err)
				}
				rules, vs := *seen["destinationrules"], *seen["virtualservices"]
				require.Len(t, rules, 2, "every object is asked about")
				require.Len(t, vs, 1)
				require.Len(t, opts, 3)
				for _, o := range opts {
					assert.Equal(t, []string{metav1.DryRunAll}, o.DryRun, "a dry run")
				}
				var names []string
				for _, a := range rules {
					u := a.GetObject().(*unstructured.Unstructured)
					names = append(names, u.GetName())
					host, _, _ := unstructured.NestedString(u.Object, "spec", "host")
					assert.Equal(t, u.GetName(), host)
				}
				assert.Equal(t, []string{tg.PrimaryService(), tg.CanaryService()}, names)
				v := vs[0].GetObject().(*unstructured.Unstructured)
				assert.Equal(t, tg.ApexService(), v.GetName())
				assert.Equal(t, "canarykit", v.GetLabels()[canary.LabelManagedBy])
				spec, _, err := unstructured.NestedMap(v.Object, "spec")
				require.NoError(t, err)
				assert.Equal(t, canary.AllPrimary(), vsRouteWeights(t, spec, "http", tg))
			})
		}
	}
}

// What Reconcile refuses before writing, the Istio preflight refuses with no creation.
func TestIstioPreflightRefusesWhatReconcileRefuses(t *testing.T) {
	t.Run("no CRD", func(t *testing.T) {
		dyn := newIstioFake()
		r, err := NewIstio(IstioOptions{Client: dyn, Discovery: discoveryServing("v1")})
		require.NoError(t, err)
		err = r.PreflightRoute(ctx(t), newTarget())
		requirePermanent(t, err)
		assert.ErrorIs(t, err, ErrCRDMissing)
		assert.Empty(t, dyn.Actions())
	})
	t.Run("TCP A/B", func(t *testing.T) {
		dyn := newIstioFake()
		r, err := NewIstio(IstioOptions{Client: dyn, Discovery: discoveryServing(IstioGroup + "/v1")})
		require.NoError(t, err)
		r, err = r.WithService(tcpService())
		require.NoError(t, err)
		tg := newTarget()
		tg.Match = abMatch
		err = r.PreflightRoute(ctx(t), tg)
		requirePermanent(t, err)
		assert.Equal(t, r.Reconcile(ctx(t), tg).Error(), err.Error())
		assert.Empty(t, dyn.Actions())
	})
}

// The NGINX preflight reads the user's Ingress and dry-runs the canary Ingress Reconcile would
// make from it; the API server's refusal of it is Reconcile's error.
func TestNGINXPreflightIsADryRunOfTheCanaryIngress(t *testing.T) {
	for name, c := range dryRunAnswers(schema.GroupKind{Group: "networking.k8s.io", Kind: "Ingress"}) {
		t.Run(name, func(t *testing.T) {
			tg := newTarget()
			cs := fake.NewClientset(userIngress(tg))
			seen := answerCreates(&cs.Fake, "ingresses", c.err)
			err := newNGINX(t, NGINXOptions{Client: cs.NetworkingV1()}).PreflightRoute(ctx(t), tg)
			if c.refuses {
				requirePermanent(t, err)
				assert.ErrorContains(t, err, "create Ingress test/"+CanaryIngressName(tg))
				assert.ErrorContains(t, err, "every route names its team")
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, []string{"get", "create"}, verbs(&cs.Fake, 0)[:2], "the user's Ingress read, the canary Ingress dry-run")
			require.Len(t, *seen, 1)
			requireDryRuns(t, *seen)
			ing := (*seen)[0].GetObject().(*networkingv1.Ingress)
			assert.Equal(t, CanaryIngressName(tg), ing.Name)
			assert.Equal(t, "true", ing.Annotations[ann+"canary"])
			assert.Equal(t, "0", ing.Annotations[ann+"canary-weight"], "all traffic on the primary")
			assert.Equal(t, tg.CanaryService(), ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name)
			_, err = cs.NetworkingV1().Ingresses(tg.Namespace).Get(ctx(t), ing.Name, metav1.GetOptions{})
			assert.True(t, apierrors.IsNotFound(err), "nothing stored: %v", err)
		})
	}
}

// What Reconcile refuses before writing, the NGINX preflight refuses with no creation: a user's
// Ingress that routes nothing to the apex Service, or is a canary Ingress, permanently; a
// missing one as Reconcile does, to be asked again (it may be applied with the Canary).
func TestNGINXPreflightRefusesWhatReconcileRefuses(t *testing.T) {
	for name, c := range map[string]struct {
		ingress   func(*networkingv1.Ingress) // changes the user's Ingress; nil: none
		match     []canary.Match
		permanent bool
		msg       string
	}{
		"no apex backend": {func(ing *networkingv1.Ingress) { ing.Spec.Rules[0].HTTP.Paths = ing.Spec.Rules[0].HTTP.Paths[1:] }, nil, true, "has no backend for service"},
		"a canary":        {func(ing *networkingv1.Ingress) { ing.Annotations[ann+"canary"] = "true" }, nil, true, "is itself a canary Ingress"},
		"a canary, True":  {func(ing *networkingv1.Ingress) { ing.Annotations[ann+"canary"] = "True" }, nil, true, `is itself a canary Ingress (nginx.ingress.kubernetes.io/canary: "True")`},
		"a canary, 1":     {func(ing *networkingv1.Ingress) { ing.Annotations[ann+"canary"] = "1" }, nil, true, "is itself a canary Ingress"},
		"missing":         {nil, nil, false, "get Ingress test/"},
		"match":           {func(*networkingv1.Ingress) {}, []canary.Match{{Headers: map[string]canary.StringMatch{"x-a": {Exact: "1"}, "x-b": {Exact: "2"}}}}, true, "ingress-nginx"},
	} {
		t.Run(name, func(t *testing.T) {
			tg := newTarget()
			tg.Match = c.match
			var objs []runtime.Object
			if c.ingress != nil {
				ing := userIngress(tg)
				c.ingress(ing)
				objs = append(objs, ing)
			}
			cs := fake.NewClientset(objs...)
			r := newNGINX(t, NGINXOptions{Client: cs.NetworkingV1()})
			err := r.PreflightRoute(ctx(t), tg)
			require.Error(t, err)
			assert.Equal(t, c.permanent, canary.IsPermanent(err), "%v", err)
			assert.ErrorContains(t, err, c.msg)
			assert.Equal(t, r.Reconcile(ctx(t), tg).Error(), err.Error(), "Reconcile's error")
			for _, a := range cs.Actions() {
				assert.NotEqual(t, "create", a.GetVerb(), "no creation")
			}
		})
	}
}

// A version client's dry-run creation asks the API server for one (dryRun=All) and stores
// nothing it did not mean to: the SMI clientsets' fakes drop the option, so this is proven
// through the real clientsets, against a server that records the requests.
func TestCreateDryRunAsksTheServerForOne(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(b)
	}))
	defer srv.Close()
	cfg := &rest.Config{Host: srv.URL}
	splits, err := splitclient.NewForConfig(cfg)
	require.NoError(t, err)
	specs, err := specsclient.NewForConfig(cfg)
	require.NoError(t, err)
	var want []string
	for v, c := range splitVersions(splits) {
		require.NoError(t, c.createDryRun(ctx(t), "test", &split{meta: metav1.ObjectMeta{Name: "podinfo"}, service: "podinfo"}), v)
		want = append(want, "POST /apis/split.smi-spec.io/"+v+"/namespaces/test/trafficsplits?dryRun=All")
	}
	for v, c := range groupVersions(specs) {
		require.NoError(t, c.createDryRun(ctx(t), "test", &routeGroup{meta: metav1.ObjectMeta{Name: "podinfo"}}), v)
		want = append(want, "POST /apis/specs.smi-spec.io/"+v+"/namespaces/test/httproutegroups?dryRun=All")
	}
	mu.Lock()
	defer mu.Unlock()
	assert.ElementsMatch(t, want, seen)
	assert.Len(t, seen, 6, "four TrafficSplit versions, two HTTPRouteGroup versions")
}

// A route object of the router's name there already is read when the dry run says so: one
// someone else manages is refused as Reconcile refuses it (ErrNotOwned), before the target's
// workload is touched; one the router made for the target passes.
func TestPreflightRefusesARouteObjectSomeoneElseOwns(t *testing.T) {
	foreign := func(tg canary.Target, name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: tg.Namespace, Labels: map[string]string{canary.LabelManagedBy: "argocd"}}
	}
	ours := func(tg canary.Target, name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: tg.Namespace, Labels: map[string]string{canary.LabelManagedBy: "canarykit"},
			Annotations: map[string]string{canary.AnnotationTarget: tg.Name}}
	}
	for _, c := range []struct {
		router string
		// preflight runs the router's preflight for tg with an object of meta in its fake
		preflight func(t *testing.T, tg canary.Target, meta func(canary.Target, string) metav1.ObjectMeta) error
		kind      string
	}{
		{"HTTPRoute", func(t *testing.T, tg canary.Target, meta func(canary.Target, string) metav1.ObjectMeta) error {
			cs := gatewayfake.NewSimpleClientset(&gwv1.HTTPRoute{ObjectMeta: meta(tg, tg.ApexService())})
			return serviceRouter(t, cs, gatewayService).PreflightRoute(ctx(t), tg)
		}, "HTTPRoute"},
		{"TrafficSplit", func(t *testing.T, tg canary.Target, meta func(canary.Target, string) metav1.ObjectMeta) error {
			cs := splitfake.NewSimpleClientset(&splitv1alpha2.TrafficSplit{ObjectMeta: meta(tg, tg.ApexService())})
			r, err := NewTrafficSplit(TrafficSplitOptions{Client: cs, Version: "v1alpha2"})
			require.NoError(t, err)
			return r.PreflightRoute(ctx(t), tg)
		}, "TrafficSplit"},
		{"Istio", func(t *testing.T, tg canary.Target, meta func(canary.Target, string) metav1.ObjectMeta) error {
			vs := &unstructured.Unstructured{Object: map[string]any{"apiVersion": IstioGroup + "/v1", "kind": "VirtualService"}}
			m := meta(tg, tg.ApexService())
			vs.SetName(m.Name)
			vs.SetNamespace(m.Namespace)
			vs.SetLabels(m.Labels)
			vs.SetAnnotations(m.Annotations)
			r, err := NewIstio(IstioOptions{Client: newIstioFake(vs), Discovery: discoveryServing(IstioGroup + "/v1")})
			require.NoError(t, err)
			return r.PreflightRoute(ctx(t), tg)
		}, "VirtualService"},
		{"NGINX", func(t *testing.T, tg canary.Target, meta func(canary.Target, string) metav1.ObjectMeta) error {
			canaryIngress := userIngress(tg)
			canaryIngress.ObjectMeta = meta(tg, CanaryIngressName(tg))
			cs := fake.NewClientset(userIngress(tg), canaryIngress)
			return newNGINX(t, NGINXOptions{Client: cs.NetworkingV1()}).PreflightRoute(ctx(t), tg)
		}, "Ingress"},
	} {
		t.Run(c.router, func(t *testing.T) {
			tg := newTarget()
			err := c.preflight(t, tg, foreign)
			require.ErrorIs(t, err, ErrNotOwned)
			requirePermanent(t, err)
			assert.ErrorContains(t, err, c.kind+" "+tg.Namespace+"/")
			assert.ErrorContains(t, err, canary.LabelManagedBy+"=argocd")
			require.NoError(t, c.preflight(t, newTarget(), ours), "the router's own object for the target")
		})
	}
}
