package main

import (
	"time"

	"github.com/canarykit/canarykit/canary"
)

// Policy is the team's rollout policy for its HTTP services: 10 % steps to 60 % every minute,
// success rate at least 99 % and p99 latency at most 300 ms, three strikes, and "no traffic" is
// not a failure but a reason to wait (the service is quiet at night).
func Policy() canary.Spec {
	return canary.Spec{
		Interval:   time.Minute,
		Threshold:  3,
		MaxWeight:  60,
		StepWeight: 10,
		Metrics: []canary.Metric{
			{Name: "request-success-rate", ThresholdRange: canary.AtLeast(99), Interval: 2 * time.Minute, OnNoData: canary.NoDataHold},
			{Name: "request-duration", ThresholdRange: canary.AtMost(300), Interval: time.Minute, OnNoData: canary.NoDataHold},
		},
		ProgressDeadline: 5 * time.Minute,
	}
}
