package main

import (
	"slices"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/stretchr/testify/assert"
)

// A new revision of an idle target is released at once: the Deployment's event, from the
// driver's caches, kicks its Target (the recheck, an hour here, never comes).
func TestControllerKicksATargetOnItsDeploymentsEvents(t *testing.T) {
	b := newBed(t)
	b.env.Kubelet(t, b.ns, "", testenv.ReadyNow())
	rec := &recorder{}
	b.start("controller-1", Options{OnEvent: rec.add, Recheck: time.Hour})
	b.app("web")
	b.apply(canaryYAML("web", steps20))
	b.poll("web bootstrapped", func() bool {
		return b.image("web-primary") == "web:1" && b.status("web").Phase == canary.PhaseInitialized
	})

	mark := rec.mark()
	b.setImage("web", "web:2")
	b.poll("web:2 promoted", func() bool { return rec.has("web", canary.ReasonSucceeded, mark) })
	assert.True(t, slices.Equal([]int{20, 40}, rec.weights("web", mark)), "weights %v", rec.weights("web", mark))
	assert.Equal(t, "web:2", b.image("web-primary"))
}
