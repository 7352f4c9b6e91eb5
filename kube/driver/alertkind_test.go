package driver

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/flagger"
)

// A Canary's alerts name its target's kind as Flagger's do: "New Deployment detected,
// initialization completed." and the field Target "Deployment/podinfo.test" (DaemonSet for a
// DaemonSet target).
func TestAlertsNameTheTargetKind(t *testing.T) {
	for kind, want := range map[string]string{"": "Deployment", "DaemonSet": "DaemonSet"} {
		var mu sync.Mutex
		var bodies []string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			bodies = append(bodies, string(b))
			mu.Unlock()
		}))
		c := &flagger.Canary{Name: "podinfo", Namespace: "test", Target: canary.Target{Namespace: "test", Name: "podinfo"},
			Workload: flagger.Workload{Kind: kind},
			Alerts: []flagger.AlertRef{{Name: "on-call", Severity: "info", Provider: &flagger.AlertProvider{Name: "slack", Namespace: "test",
				Type: "slack", Channel: "general", Username: "flagger", Address: srv.URL}}}}
		d := &Driver{opts: Options{Logger: logr.Discard()}}
		dispatcher, err := d.alerts(context.Background(), c)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- dispatcher.Run(ctx) }()
		dispatcher.OnEvent(canary.Spec{})(canary.Event{Target: c.Target, Reason: canary.ReasonInitialized, Phase: canary.PhaseInitialized})
		require.NoError(t, dispatcher.Flush(ctx))
		cancel()
		require.NoError(t, <-done)
		srv.Close()
		require.Len(t, bodies, 1)
		assert.Contains(t, bodies[0], "New "+want+" detected, initialization completed.")
		assert.Contains(t, bodies[0], want+"/podinfo.test")
	}
}
