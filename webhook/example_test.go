package webhook_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/canarykit/canarykit/webhook"
	"github.com/canarykit/canarykit/webhook/webhooktest"
)

// The podinfo demo's hooks, run by the webhook Client against a flagger-loadtester stand-in, through
// a whole simulated release.
func Example() {
	lt := &webhooktest.LoadTester{}
	srv := httptest.NewServer(lt)
	defer srv.Close()

	client, err := webhook.New(webhook.Options{})
	if err != nil {
		panic(err)
	}
	env := canarytest.NewEnv(canary.Target{Namespace: "test", Name: "podinfo"})
	env.Metrics.Set("request-success-rate", canarytest.Constant(99.9))
	cfg := env.Config(canary.Spec{
		Interval: 30 * time.Second, Threshold: 5, MaxWeight: 50, StepWeight: 10,
		Metrics: []canary.Metric{{Name: "request-success-rate", ThresholdRange: canary.AtLeast(99)}},
		Webhooks: []canary.Webhook{
			{Name: "acceptance-test", Type: canary.HookPreRollout, URL: srv.URL + "/", Timeout: 30 * time.Second,
				Metadata: map[string]string{"type": "bash", "cmd": "curl -sd 'test' http://podinfo-canary.test:9898/token | grep token"}},
			{Name: "load-test", Type: canary.HookRollout, URL: srv.URL + "/",
				Metadata: map[string]string{"cmd": "hey -z 2m -q 10 -c 2 http://podinfo-canary.test:9898/"}},
		},
	})
	cfg.Webhooks = client // runs the Spec's webhooks over HTTP

	r, err := canary.New(cfg)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if _, err := r.Run(ctx); err != nil { // bootstrap
		panic(err)
	}
	env.Workload.SetRevision("v1")
	res, err := r.Run(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Phase, res.Weights)
	for _, c := range lt.Commands() {
		fmt.Printf("%s %s blocking=%v\n", c.Payload.Phase, c.Type, c.Blocking)
	}
	// Output:
	// Succeeded [10 20 30 40 50 0]
	// Progressing bash blocking=true
	// Progressing cmd blocking=false
	// Progressing cmd blocking=false
	// Progressing cmd blocking=false
	// Progressing cmd blocking=false
	// Progressing cmd blocking=false
}

// A receiver that accepts only requests signed with its key.
func ExampleVerifier_Middleware() {
	key := []byte("a 32-byte secret shared with you")
	v, err := webhook.NewVerifier(webhook.VerifierConfig{Keys: [][]byte{key}})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := webhook.ReadPayload(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Printf("verified call for %s.%s in phase %s\n", p.Name, p.Namespace, p.Phase)
	})))
	defer srv.Close()

	req := canary.GateRequest{
		Hook:   canary.Webhook{Name: "audit", Type: canary.HookPostRollout, URL: srv.URL},
		Target: canary.Target{Namespace: "test", Name: "podinfo"},
		Phase:  canary.PhaseSucceeded,
	}
	for _, k := range [][]byte{key, []byte("somebody else's key, 32 bytes..")} {
		client, err := webhook.New(webhook.Options{SigningKey: k})
		if err != nil {
			panic(err)
		}
		ok, err := client.Allow(context.Background(), req)
		fmt.Println(ok, err != nil)
	}
	// Output:
	// verified call for podinfo.test in phase Succeeded
	// true false
	// false true
}
