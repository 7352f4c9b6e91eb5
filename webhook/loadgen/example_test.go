package loadgen_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/webhook/loadgen"
)

// A bounded run against a loopback "canary": at most 25 requests, 4 at a time.
func ExampleGenerator() {
	var served atomic.Int64
	canarySrv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served.Add(1) }))
	defer canarySrv.Close()

	g, err := loadgen.New(loadgen.Config{URL: canarySrv.URL, Rate: 500, Concurrency: 4, Duration: time.Minute, MaxRequests: 25})
	if err != nil {
		panic(err)
	}
	// What the Rollout does at each analysis tick (through Config.Gates: g.Hooks("load-test")).
	ok, err := g.Allow(context.Background(), canary.GateRequest{Hook: canary.Webhook{Name: "load-test", Type: canary.HookRollout}})
	fmt.Println("passed:", ok, err)
	if err := g.Wait(context.Background()); err != nil {
		panic(err)
	}
	st := g.Stats()
	fmt.Println("served:", served.Load(), "requests:", st.Requests, "errors:", st.Errors)
	// Output:
	// passed: true <nil>
	// served: 25 requests: 25 errors: 0
}
