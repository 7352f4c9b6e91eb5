package flagger_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/flagger"
)

// A Flagger Canary for Linkerd's Gateway API support: the HTTPRoute attaches to the apex
// Service, and the analysis is converted into canarykit's spec.
func ExampleLoadCanary() {
	c, err := flagger.LoadCanary([]byte(`
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  provider: linkerd
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service:
    port: 9898
    gatewayRefs: [{name: podinfo, group: core, kind: Service, port: 9898}]
  analysis:
    interval: 30s
    threshold: 5
    maxWeight: 50
    stepWeight: 10
    metrics:
      - {name: request-success-rate, thresholdRange: {min: 99}, interval: 1m}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("target:", c.Target)
	fmt.Println("router:", c.Router.Kind, "attached to", c.GatewayRefs[0])
	fmt.Println("strategy:", c.Spec.Strategy(), "step:", c.Spec.StepWeight, "max:", c.Spec.MaxWeight)
	fmt.Println("check:", c.Spec.Metrics[0].Name, c.Spec.Metrics[0].ThresholdRange)

	// a router canarykit cannot drive is refused by path, before anything is touched
	_, err = flagger.LoadCanary([]byte(`
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  provider: appmesh
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898, backends: [backend.test]}
  analysis: {interval: 30s, iterations: 10}
`))
	var ve *canary.ValidationError
	if errors.As(err, &ve) {
		for _, p := range ve.Problems {
			fmt.Println(p.Field)
		}
	}
	// Output:
	// target: podinfo.test
	// router: httproute attached to Service test/podinfo:9898
	// strategy: Canary step: 10 max: 50
	// check: request-success-rate >= 99
	// spec.service.backends
	// spec.provider
}

// A Canary and the MetricTemplate it refers to, in one stream (kubectl get -o yaml writes a
// List of them): the Objects resolve the Canary's templateRef.
func ExampleLoadObjects() {
	objs, err := flagger.LoadObjects([]byte(`
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: error-rate, namespace: ops}
spec:
  provider: {type: prometheus, address: "http://prometheus.ops:9090"}
  query: |
    100 - sum(rate(response_total{namespace="{{ namespace }}", deployment="{{ target }}",
      classification!="failure"}[{{ interval }}])) / sum(rate(response_total{namespace="{{ namespace }}",
      deployment="{{ target }}"}[{{ interval }}])) * 100
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: checkout, namespace: shop}
spec:
  provider: gatewayapi:v1
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: checkout}
  service:
    port: 8080
    gatewayRefs: [{name: public, namespace: gateways}]
  analysis:
    interval: 1m
    iterations: 10
    match: [{headers: {cookie: {regex: "^(.*?;)?(canary=always)(;.*)?$"}}}]
    metrics:
      - name: error-rate
        templateRef: {name: error-rate, namespace: ops}
        thresholdRange: {max: 1}
        interval: 2m
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	c, _ := objs.Canary("shop", "checkout")
	fmt.Println("unresolved:", c.Unresolved())
	if err := c.Resolve(context.Background(), objs); err != nil {
		fmt.Println(err)
		return
	}
	m := c.Spec.Metrics[0]
	query, _ := canary.RenderQuery(m.Query, canary.VarsFor(c.Target, m))
	fmt.Println("strategy:", c.Spec.Strategy(), c.Router.Kind, c.Router.APIVersion, "attached to", c.GatewayRefs[0])
	fmt.Println("server:", c.TemplateRefs[0].Template.Provider.Address)
	fmt.Println("query:", query)
	// Output:
	// unresolved: [MetricTemplate ops/error-rate]
	// strategy: ABTesting httproute v1 attached to Gateway gateways/public
	// server: http://prometheus.ops:9090
	// query: 100 - sum(rate(response_total{namespace="shop", deployment="checkout", classification!="failure"}[2m])) / sum(rate(response_total{namespace="shop", deployment="checkout"}[2m])) * 100
}
