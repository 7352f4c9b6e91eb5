package mesh_test

import (
	"context"
	"fmt"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh"
)

// Wiring the Istio router for a cluster: the served networking.istio.io version is
// discovered, and each target gets its VirtualService's extra hosts and gateways, as a
// Flagger Canary's spec.service.hosts and spec.service.gateways give them. Seed 003's frontend
// A/B test sends Firefox users and the insider cookie to the canary.
func ExampleNewIstio() {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return
	}
	base, err := mesh.NewIstio(mesh.IstioOptions{
		Client:    dynamic.NewForConfigOrDie(cfg),
		Discovery: discovery.NewDiscoveryClientForConfigOrDie(cfg),
	})
	if err != nil {
		panic(err)
	}
	router, err := base.WithHosts([]string{"app.example.com"}, []string{"istio-system/public-gateway"})
	if err != nil {
		panic(err)
	}
	target := canary.Target{Namespace: "prod", Name: "frontend", Match: []canary.Match{
		{Headers: map[string]canary.StringMatch{"user-agent": {Regex: ".*Firefox.*"}}},
		{Headers: map[string]canary.StringMatch{"cookie": {Regex: "^(.*?;)?(type=insider)(;.*)?$"}}},
	}}
	if err := router.Reconcile(context.Background(), target); err != nil {
		fmt.Println(err)
	}
}
