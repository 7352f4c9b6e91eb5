package progress

import (
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/stretchr/testify/assert"
)

func TestLine(t *testing.T) {
	e := canary.Event{Type: canary.EventNormal, Reason: canary.ReasonAdvanced, Message: "Advance podinfo.test canary weight 15",
		Weights: canary.CanaryWeight(15), Checks: []canary.CheckResult{
			{Name: "request-success-rate", Value: 99.951, Threshold: canary.AtLeast(99), Verdict: canary.VerdictPass},
			{Name: "request-duration", Verdict: canary.VerdictNoData},
		}}
	assert.Equal(t, "00:01:30  Normal   Advance podinfo.test canary weight 15  [###.................]  request-success-rate 99.95 >= 99  request-duration nodata",
		Line(90*time.Second, e))
	assert.Equal(t, "01:00:05  Warning  Canary failed! Scaling down podinfo.test",
		Line(time.Hour+5*time.Second, canary.Event{Type: canary.EventWarning, Reason: canary.ReasonFailed, Message: "Canary failed! Scaling down podinfo.test"}))
	assert.Equal(t, "[####################]", Bar(100))
	assert.Equal(t, "[....................]", Bar(-5))
}
