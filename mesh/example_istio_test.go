package mesh_test

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh"
	"github.com/canarykit/canarykit/mesh/istioapi"
)

// Wiring the Istio router for a cluster: the served networking.istio.io version is
// discovered, and each target gets its service: the VirtualService's extra hosts and
// gateways, its routes' match conditions, retries and timeout, the DestinationRules' traffic
// policy, as a Flagger Canary's spec.service gives them. Seed 003's frontend A/B test sends
// Firefox users and the insider cookie to the canary.
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
	router, err := base.WithService(istioapi.Service{
		Hosts:         []string{"app.example.com"},
		Gateways:      []string{"istio-system/public-gateway"},
		Match:         []istioapi.HTTPMatchRequest{{URI: &istioapi.StringMatch{Prefix: "/"}}},
		Timeout:       istioapi.Duration(30 * time.Second),
		Retries:       &istioapi.HTTPRetry{Attempts: 3, PerTryTimeout: istioapi.Duration(time.Second), RetryOn: "gateway-error,connect-failure,refused-stream"},
		TrafficPolicy: &istioapi.TrafficPolicy{TLS: &istioapi.ClientTLSSettings{Mode: "ISTIO_MUTUAL"}},
	})
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
