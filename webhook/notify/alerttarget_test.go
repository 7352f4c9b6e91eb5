package notify_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/webhook/notify"
)

// As Flagger's alerts: the field Target names the target workload ("<kind>/<name>.<namespace>",
// spec.targetRef), not the Canary, and the initialization alert names the kind.
func TestAlertsNameTheTargetWorkload(t *testing.T) {
	target := canary.Target{Namespace: "test", Name: "podinfo", Canary: "frontend"}
	events := []canary.Event{ev(canary.ReasonInitialized, canary.PhaseInitialized, ""),
		ev(canary.ReasonNewRevision, canary.PhaseProgressing, "")}
	for _, tc := range []struct{ kind, target, initialized string }{
		{"Deployment", "Deployment/podinfo.test", "New Deployment detected, initialization completed."},
		{"DaemonSet", "DaemonSet/podinfo.test", "New DaemonSet detected, initialization completed."},
		{"", "podinfo.test", "New workload detected, initialization completed."},
	} {
		got := alertsFor(t, notify.Config{Kind: tc.kind}, canary.Spec{StepWeight: 10, MaxWeight: 50}, target, events...).all()
		require.Len(t, got, 2)
		assert.Equal(t, tc.initialized, got[0].Message)
		for _, n := range got {
			assert.Contains(t, n.Fields, notify.Field{Name: "Target", Value: tc.target})
			assert.Equal(t, "frontend.test", n.Title(), "the title names the Canary, as Flagger's author name")
		}
	}
}

// A tick that changed nothing (Analysed, every interval while a release waits for promotion
// approval) is no alert, even with EveryEvent.
func TestAnalysedTicksAreNoAlerts(t *testing.T) {
	analysed := ev(canary.ReasonAnalysed, canary.PhaseWaitingPromotion, "Analysis of podinfo.test passed, waiting for promotion approval gate")
	assert.Empty(t, alertsOf(t, notify.Config{}, canary.Spec{}, analysed).all())
	assert.Empty(t, alertsOf(t, notify.Config{Classify: notify.EveryEvent}, canary.Spec{}, analysed).all())
}
