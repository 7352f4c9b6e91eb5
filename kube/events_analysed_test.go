package kube

import (
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"

	"github.com/canarykit/canarykit/canary"
)

// A tick that changed nothing (Analysed: the release waiting for promotion approval) is no
// Event, on the target or on a Canary: Flagger records none then.
func TestAnalysedTicksAreNoEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := newEventAPI()
		api.open()
		events := api.events(t, EventsOptions{})
		target := canary.Target{Namespace: "test", Name: "podinfo"}
		quiet := canary.Event{Type: canary.EventNormal, Reason: canary.ReasonAnalysed, Message: "Analysis of podinfo.test passed, waiting for promotion approval gate"}
		events.For(target)(quiet)
		obj := corev1.ObjectReference{APIVersion: "flagger.app/v1beta1", Kind: "Canary", Namespace: "test", Name: "podinfo"}
		events.ForObject(target, obj, "Synced")(quiet)
		events.For(target)(advanced(10))
		synctest.Wait()
		written := api.written()
		if assert.Len(t, written, 1) {
			assert.Equal(t, string(canary.ReasonAdvanced), written[0].Action)
		}
		assert.Zero(t, events.Dropped())
	})
}
