package main

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/kube"
	"github.com/canarykit/canarykit/kube/driver"
	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
)

// hookAnswers answers every webhook 200, or 500 while fail is set.
type hookAnswers struct{ fail atomic.Bool }

func (h *hookAnswers) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		_ = req.Body.Close()
	}
	code := http.StatusOK
	if h.fail.Load() {
		code = http.StatusInternalServerError
	}
	return &http.Response{StatusCode: code, Status: http.StatusText(code), Header: http.Header{},
		Body: io.NopCloser(strings.NewReader("")), Request: req}, nil
}

// With --events=warnings a release that goes well writes no Event; one that fails writes its
// Warnings, and a Canary the controller refuses its Warning. Every event still reaches
// OnEvent (the self-metrics, the alerts).
func TestControllerWritesOnlyWarningsWhenAsked(t *testing.T) {
	b := newBed(t)
	b.env.Kubelet(t, b.ns, "", testenv.ReadyNow())
	rec := &recorder{}
	hooks := &hookAnswers{}
	b.start("controller-1", Options{OnEvent: rec.add, HookTransport: hooks, Events: kube.RecordWarnings})
	b.app("web")
	b.apply(canaryYAML("web", steps20+"    webhooks:\n      - {name: gate, type: rollout, url: http://hooks.test/gate}\n"))
	b.poll("web bootstrapped", func() bool { return b.status("web").Phase == canary.PhaseInitialized })

	b.setImage("web", "web:2")
	b.poll("web:2 promoted", func() bool { return b.status("web").Phase == canary.PhaseSucceeded })
	hooks.fail.Store(true)
	mark := rec.mark()
	b.setImage("web", "web:3")
	b.poll("web:3 rolled back", func() bool {
		return b.status("web").Phase == canary.PhaseFailed && rec.has("web", canary.ReasonFailed, mark)
	})

	// a target's Events are written in order: once the rollback's last Warning is there,
	// every event of both releases before it has been written or left out
	var failed string
	for _, e := range rec.since("web", mark) {
		if e.Reason == canary.ReasonFailed {
			failed = e.Message
		}
	}
	if !assert.NotEmpty(t, failed, "the rollback's Failed event reached OnEvent") {
		return
	}
	var written []corev1.Event
	b.poll("the rollback's Warnings written on the Canary", func() bool {
		written = b.canaryEvents("web", fields.Set{"reason": driver.CanaryEventReason, "source": "canarykit"})
		for _, e := range written {
			if e.Message == failed {
				return true
			}
		}
		return false
	})
	for _, e := range written {
		assert.Equal(t, corev1.EventTypeWarning, e.Type, "only Warnings are written: %s %s", e.Action, e.Message)
	}
	assert.True(t, rec.has("web", canary.ReasonAdvanced, 0) && rec.has("web", canary.ReasonSucceeded, 0),
		"the Normal events still reached OnEvent")

	b.app("bad")
	b.apply(canaryYAML("bad", "    interval: 1s\n    threshold: 1\n    stepWeight: 10\n    maxWeight: 500\n"))
	b.poll("the controller's Warning on a Canary it refuses", func() bool { return len(b.warnings("bad")) > 0 })
	assert.Contains(t, b.warnings("bad")[0], "spec.analysis.maxWeight: must be 1..100, got 500")
}
