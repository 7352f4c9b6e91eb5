package mesh_test

import (
	"context"
	"fmt"

	splitclient "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/split/clientset/versioned"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	gatewayclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"
	gatewayfake "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned/fake"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh"
)

// Routing a target with an HTTPRoute: a new route starts at 100 % primary, SetWeights shifts
// traffic, Weights reads it back from the cluster (here a fake clientset).
func ExampleNewHTTPRoute() {
	ctx := context.Background()
	router, err := mesh.NewHTTPRoute(mesh.HTTPRouteOptions{Client: gatewayfake.NewSimpleClientset(), Port: 9898})
	if err != nil {
		panic(err)
	}
	target := canary.Target{Namespace: "test", Name: "podinfo"}
	if err := router.Reconcile(ctx, target); err != nil {
		panic(err)
	}
	w, _ := router.Weights(ctx, target)
	fmt.Println(w)
	if err := router.SetWeights(ctx, target, canary.CanaryWeight(10)); err != nil {
		panic(err)
	}
	w, _ = router.Weights(ctx, target)
	fmt.Println(w)
	fmt.Println(router.SetWeights(ctx, target, canary.Weights{Primary: 80, Canary: 10}))
	// Output:
	// primary=100 canary=0
	// primary=90 canary=10
	// invalid weights: primary 80 + canary 10 must be 0..100 each and sum to 100
}

// Wiring a router for a cluster: HTTPRoute where Linkerd ≥ 2.14 routes with Gateway API,
// TrafficSplit through the linkerd-smi extension otherwise.
func Example_linkerd() {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return
	}
	kube := kubernetes.NewForConfigOrDie(cfg)
	disc := discovery.NewDiscoveryClientForConfigOrDie(cfg)
	var router canary.MeshRouter
	if useGatewayAPI := true; useGatewayAPI {
		router, err = mesh.NewHTTPRoute(mesh.HTTPRouteOptions{
			Client:    gatewayclient.NewForConfigOrDie(cfg),
			Discovery: disc,
			Services:  kube.CoreV1(), // backendRefs use the apex Service's port
			Owner:     mesh.DeploymentOwner(kube.AppsV1()),
		})
	} else {
		router, err = mesh.NewTrafficSplit(mesh.TrafficSplitOptions{
			Client:    splitclient.NewForConfigOrDie(cfg),
			Discovery: disc, // picks v1alpha2 (and reads v1alpha1) under linkerd-smi
			Owner:     mesh.DeploymentOwner(kube.AppsV1()),
		})
	}
	if err != nil {
		panic(err)
	}
	_ = canary.Config{Router: router /* , Target, Spec, Workload, Metrics, Store ... */}
}

// Routing a target through ingress-nginx: the user's Ingress "podinfo-public" is copied to
// "podinfo-public-canary", whose canary-weight annotation carries the canary's share.
func ExampleNewNGINX() {
	ctx := context.Background()
	pathType := networkingv1.PathTypePrefix
	client := kubefake.NewClientset(&networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo-public", Namespace: "test"},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "app.example.com", IngressRuleValue: networkingv1.IngressRuleValue{
			HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &pathType,
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "podinfo",
					Port: networkingv1.ServiceBackendPort{Number: 9898}}}}}}}}}},
	})
	router, err := mesh.NewNGINX(mesh.NGINXOptions{Client: client.NetworkingV1()})
	if err != nil {
		panic(err)
	}
	target := canary.Target{Namespace: "test", Name: "podinfo", Ingress: "podinfo-public"}
	if err := router.Reconcile(ctx, target); err != nil {
		panic(err)
	}
	if err := router.SetWeights(ctx, target, canary.CanaryWeight(20)); err != nil {
		panic(err)
	}
	ing, _ := client.NetworkingV1().Ingresses("test").Get(ctx, mesh.CanaryIngressName(target), metav1.GetOptions{})
	fmt.Println(ing.Name, "->", ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name)
	fmt.Println(ing.Annotations["nginx.ingress.kubernetes.io/canary-weight"])
	w, _ := router.Weights(ctx, target)
	fmt.Println(w)
	// Output:
	// podinfo-public-canary -> podinfo-canary
	// 20
	// primary=80 canary=20
}
