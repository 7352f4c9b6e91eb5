package notify_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/canarykit/canarykit/webhook/notify"
)

// Alerts of a simulated release that waits for promotion approval, routed by severity.
func ExampleDispatcher_OnEvent() {
	// Each route collects its messages (routes are delivered to in parallel).
	var mu sync.Mutex
	got := map[string][]string{}
	collect := func(route string) notify.Notifier {
		return notify.NotifierFunc(func(_ context.Context, n notify.Notification) error {
			mu.Lock()
			defer mu.Unlock()
			got[route] = append(got[route], fmt.Sprintf("%-5s %s: %s", n.Severity, n.Title(), n.Message))
			return nil
		})
	}
	d, err := notify.New(notify.Config{Routes: []notify.Route{
		{Name: "chat", Notifier: collect("chat")},
		{Name: "pager", Notifier: collect("pager"), MinSeverity: notify.SeverityWarn},
	}})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = d.Run(ctx); close(done) }()

	env := canarytest.NewEnv(canary.Target{Namespace: "test", Name: "podinfo"})
	env.Gates.Set("approval", canarytest.OpenAfter(2)) // closed twice, then approved
	spec := canary.Spec{Interval: time.Minute, StepWeight: 50,
		Webhooks: []canary.Webhook{{Name: "approval", Type: canary.HookConfirmPromotion, URL: "http://gate.test/"}}}
	cfg := env.Config(spec)
	cfg.OnEvent = d.OnEvent(spec)
	r, err := canary.New(cfg)
	if err != nil {
		panic(err)
	}
	if _, err := r.Run(ctx); err != nil {
		panic(err)
	}
	env.Workload.SetRevision("v1")
	if _, err := r.Run(ctx); err != nil {
		panic(err)
	}
	if err := d.Flush(ctx); err != nil {
		panic(err)
	}
	cancel()
	<-done
	for _, route := range []string{"chat", "pager"} {
		fmt.Println(route)
		for _, line := range got[route] {
			fmt.Println("  " + line)
		}
	}
	// Output:
	// chat
	//   info  podinfo.test: New workload detected, initialization completed.
	//   info  podinfo.test: New revision detected, progressing canary analysis.
	//   warn  podinfo.test: Canary promotion is waiting for approval.
	//   info  podinfo.test: Canary analysis completed successfully, promotion finished.
	// pager
	//   warn  podinfo.test: Canary promotion is waiting for approval.
}
