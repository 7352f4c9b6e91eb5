package kubegate_test

import (
	"context"
	"fmt"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/webhook/kubegate"
)

// Manual promotion: the Rollout consults the gate through Config.Gates; an operator (or
// kubectl patch) opens it.
func ExampleGates() {
	ctx := context.Background()
	client := fake.NewClientset() // kubernetes.NewForConfig(restConfig) in real use
	gates, err := kubegate.New(kubegate.Config{Client: client.CoreV1(), Target: canary.Target{Namespace: "test", Name: "podinfo"}})
	if err != nil {
		panic(err)
	}
	hooks, err := gates.Hooks(canary.HookConfirmPromotion, canary.HookRollback)
	if err != nil {
		panic(err)
	}
	for _, h := range hooks {
		fmt.Println("hook:", h.Type, h.Name) // for canary.Config.Gates
	}

	promotion := canary.GateRequest{Hook: canary.Webhook{Type: canary.HookConfirmPromotion}}
	open, _ := gates.Allow(ctx, promotion)
	fmt.Println("promotion open:", open)
	if err := gates.Approve(ctx, canary.HookConfirmPromotion); err != nil {
		panic(err)
	}
	open, _ = gates.Allow(ctx, promotion)
	fmt.Println("promotion open:", open, "in configmap", gates.ConfigMap())
	// Output:
	// hook: confirm-promotion manual-confirm-promotion
	// hook: rollback manual-rollback
	// hook: post-rollout manual-gates-reset
	// promotion open: false
	// promotion open: true in configmap podinfo-canarykit-gates
}
