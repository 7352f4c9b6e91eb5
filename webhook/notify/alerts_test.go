package notify_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/webhook/notify"
)

// collector is a Notifier that keeps what it gets.
type collector struct {
	mu  sync.Mutex
	got []notify.Notification
}

func (c *collector) Notify(_ context.Context, n notify.Notification) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, n)
	return nil
}

func (c *collector) all() []notify.Notification {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]notify.Notification(nil), c.got...)
}

func (c *collector) lines() []string {
	var out []string
	for _, n := range c.all() {
		out = append(out, n.Severity.String()+" "+n.Message)
	}
	return out
}

// alertsOf feeds events of podinfo to a Dispatcher's OnEvent handler for spec and returns
// what it delivered.
func alertsOf(t *testing.T, cfg notify.Config, spec canary.Spec, events ...canary.Event) *collector {
	t.Helper()
	return alertsFor(t, cfg, spec, podinfo, events...)
}

// alertsFor is alertsOf for events of target.
func alertsFor(t *testing.T, cfg notify.Config, spec canary.Spec, target canary.Target, events ...canary.Event) *collector {
	t.Helper()
	c := &collector{}
	cfg.Routes = []notify.Route{{Notifier: c}}
	d, err := notify.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	h := d.OnEvent(spec)
	for _, e := range events {
		e.Target = target
		h(e)
	}
	require.NoError(t, d.Flush(ctx))
	cancel()
	require.NoError(t, <-done)
	return c
}

func ev(reason canary.Reason, phase canary.Phase, msg string) canary.Event {
	return canary.Event{Reason: reason, Phase: phase, Message: msg}
}

func TestFlaggerAlertPoints(t *testing.T) {
	spec := canary.Spec{StepWeight: 10, MaxWeight: 50, Threshold: 5,
		Webhooks: []canary.Webhook{{Name: "quiet-gate", Type: canary.HookConfirmPromotion, MuteAlert: true},
			{Name: "traffic", Type: canary.HookConfirmRollout, MuteAlert: true}, // another gate of the name: not muted with it
			{Name: "traffic", Type: canary.HookConfirmTrafficIncrease}}}
	c := alertsOf(t, notify.Config{Cluster: "prod-eu"}, spec,
		ev(canary.ReasonInitializing, canary.PhaseInitializing, "Initializing podinfo.test"),
		ev(canary.ReasonInitialized, canary.PhaseInitialized, "Initialization done! podinfo.test"),
		ev(canary.ReasonNewRevision, canary.PhaseProgressing, "New revision detected! Scaling up podinfo.test"),
		ev(canary.ReasonStarted, canary.PhaseProgressing, "Starting canary analysis for podinfo.test"),
		canary.Event{Reason: canary.ReasonWaiting, Phase: canary.PhaseProgressing, Hook: "traffic"},
		canary.Event{Reason: canary.ReasonWaiting, Phase: canary.PhaseProgressing, Hook: "traffic"},
		ev(canary.ReasonAdvanced, canary.PhaseProgressing, "Advance podinfo.test canary weight 10"),
		canary.Event{Reason: canary.ReasonWaiting, Phase: canary.PhaseProgressing, Hook: "traffic"},
		canary.Event{Reason: canary.ReasonWaiting, Phase: canary.PhaseWaitingPromotion, Hook: "quiet-gate"},
		canary.Event{Reason: canary.ReasonWaiting, Phase: canary.PhaseWaitingPromotion, Hook: "promotion"},
		ev(canary.ReasonHalted, canary.PhaseProgressing, "Halt podinfo.test advancement request-success-rate 90.00 < 99"),
		canary.Event{Reason: canary.ReasonRollingBack, Phase: canary.PhaseProgressing, Weights: canary.CanaryWeight(20), FailedChecks: 5,
			Message: "Rolling back podinfo.test failed checks threshold reached 5"},
		ev(canary.ReasonFailed, canary.PhaseFailed, "Canary failed! Scaling down podinfo.test"),
	)
	assert.Equal(t, []string{
		"info New workload detected, initialization completed.",
		"info New revision detected, progressing canary analysis.",
		"warn Canary traffic increase is waiting for approval.",
		"warn Canary traffic increase is waiting for approval.", // closed again after a step
		"warn Canary promotion is waiting for approval.",        // the muted gate is not announced
		"error Failed checks threshold reached 5",
	}, c.lines())
	got := c.all()
	assert.Equal(t, []notify.Field{
		{Name: "Cluster", Value: "prod-eu"},
		{Name: "Target", Value: "podinfo.test"},
		{Name: "Failed checks threshold", Value: "5"},
		{Name: "Progress deadline", Value: "600s"},
		{Name: "Traffic routing", Value: "Weight step: 10 max: 50"},
	}, got[1].Fields)
	assert.Equal(t, []notify.Field{{Name: "Cluster", Value: "prod-eu"}, {Name: "Canary weight", Value: "20"},
		{Name: "Failed checks", Value: "5"}}, got[5].Fields)
	assert.Equal(t, podinfo, got[0].Target)
	assert.Equal(t, "podinfo.test", got[0].Title())
}

func TestRollbackSeverities(t *testing.T) {
	for _, tc := range []struct {
		msg, want string
		cause     canary.Cause
		sev       notify.Severity
	}{
		{"Rolling back podinfo.test manual webhook invoked rollback", "Manual webhook invoked rollback", canary.CauseRollbackHook, notify.SeverityWarn},
		{"Rolling back podinfo.test aborted", "Aborted", canary.CauseAborted, notify.SeverityWarn},
		{"Rolling back podinfo.test progress deadline exceeded: canary 0 of 1 updated replicas are available",
			"Progress deadline exceeded: canary 0 of 1 updated replicas are available", canary.CauseProgressDeadline, notify.SeverityError},
		{"Rolling back podinfo.test failed checks threshold reached 5", "Failed checks threshold reached 5", canary.CauseThreshold, notify.SeverityError},
	} {
		e := ev(canary.ReasonRollingBack, canary.PhaseProgressing, tc.msg)
		e.Cause = tc.cause
		c := alertsOf(t, notify.Config{}, canary.Spec{}, e)
		got := c.all()
		require.Len(t, got, 1)
		assert.Equal(t, tc.sev, got[0].Severity, tc.msg)
		assert.Equal(t, tc.want, got[0].Message)
	}
}

func TestFailedWithoutRollingBack(t *testing.T) {
	// A promotion whose primary never becomes ready fails without a RollingBack event.
	c := alertsOf(t, notify.Config{}, canary.Spec{},
		ev(canary.ReasonNewRevision, canary.PhaseProgressing, ""),
		ev(canary.ReasonFailed, canary.PhaseFailed, "Promotion of podinfo.test failed, primary not ready: timeout"))
	assert.Equal(t, []string{"info New revision detected, progressing canary analysis.",
		"error Promotion of podinfo.test failed, primary not ready: timeout"}, c.lines())
}

func TestSucceededWording(t *testing.T) {
	c := alertsOf(t, notify.Config{}, canary.Spec{SkipAnalysis: true}, ev(canary.ReasonSucceeded, canary.PhaseSucceeded, ""))
	assert.Equal(t, []string{"info Canary analysis was skipped, promotion finished."}, c.lines())
	c = alertsOf(t, notify.Config{}, canary.Spec{Iterations: 5}, ev(canary.ReasonSucceeded, canary.PhaseSucceeded, ""),
		ev(canary.ReasonInitialized, canary.PhaseInitialized, ""))
	assert.Equal(t, "Canary analysis completed successfully, promotion finished.", c.all()[0].Message)
	assert.Contains(t, c.all()[1].Fields, notify.Field{Name: "Traffic routing", Value: "Blue/Green"})
}

func TestClassifyReplacesTheAlertPoints(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := alertsOf(t, notify.Config{Classify: notify.EveryEvent, Cluster: "dev"}, canary.Spec{},
		canary.Event{Time: at, Reason: canary.ReasonAdvanced, Type: canary.EventNormal, Message: "Advance podinfo.test canary weight 10"},
		canary.Event{Reason: canary.ReasonHalted, Type: canary.EventWarning, Message: "Halt podinfo.test advancement"},
		canary.Event{Reason: canary.ReasonFailed, Type: canary.EventWarning, Message: "Canary failed! Scaling down podinfo.test"},
	)
	assert.Equal(t, []string{"info Advance podinfo.test canary weight 10", "warn Halt podinfo.test advancement",
		"error Canary failed! Scaling down podinfo.test"}, c.lines())
	assert.Equal(t, []notify.Field{{Name: "Cluster", Value: "dev"}}, c.all()[0].Fields)
	assert.Equal(t, at, c.all()[0].Time())
}

func TestSeverityText(t *testing.T) {
	for _, s := range []string{"info", "warn", "error"} {
		v, err := notify.ParseSeverity(s)
		require.NoError(t, err)
		assert.Equal(t, s, v.String())
		b, err := v.MarshalText()
		require.NoError(t, err)
		var back notify.Severity
		require.NoError(t, back.UnmarshalText(b))
		assert.Equal(t, v, back)
	}
	v, err := notify.ParseSeverity("warning")
	require.NoError(t, err)
	assert.Equal(t, notify.SeverityWarn, v)
	_, err = notify.ParseSeverity("critical")
	assert.Error(t, err)
}
