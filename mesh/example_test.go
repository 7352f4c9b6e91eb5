package mesh_test

import (
	"context"
	"fmt"

	splitclient "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/split/clientset/versioned"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
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
