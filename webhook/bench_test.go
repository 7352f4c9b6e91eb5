package webhook_test

import (
	"context"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/webhook"
	"github.com/canarykit/canarykit/webhook/webhooktest"
)

// BenchmarkAllow measures one hook call over loopback HTTP (keep-alive), unsigned and signed.
func BenchmarkAllow(b *testing.B) {
	lt := &webhooktest.Receiver{Respond: func(int, webhooktest.Request) (int, string) { return 202, "" }}
	url := lt.Start(b)
	for _, bc := range []struct {
		name string
		opts webhook.Options
	}{{"unsigned", webhook.Options{}}, {"signed", webhook.Options{SigningKey: key}}} {
		b.Run(bc.name, func(b *testing.B) {
			c, err := webhook.New(bc.opts)
			if err != nil {
				b.Fatal(err)
			}
			req := gateReq("load-test", canary.HookRollout, url)
			req.Hook.Metadata = map[string]string{"cmd": "hey -z 2m -q 10 -c 2 http://podinfo-canary.test:9898/"}
			b.ReportAllocs()
			for b.Loop() {
				if ok, err := c.Allow(context.Background(), req); !ok {
					b.Fatal(err)
				}
			}
		})
	}
}
