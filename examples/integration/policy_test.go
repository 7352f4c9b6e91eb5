package main

import (
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The team's requirements for its policy, as tests. Each runs a whole release in virtual time.

func TestPolicyIsValid(t *testing.T) {
	require.NoError(t, Policy().Validate())
}

func TestHealthyCanaryIsPromotedWithinTenMinutes(t *testing.T) {
	res, _, err := simulate(Policy(), scenarios()[0])
	require.NoError(t, err)
	assert.Equal(t, canary.PhaseSucceeded, res.Phase)
	assert.LessOrEqual(t, res.Duration(), 10*time.Minute, "analysis time in virtual minutes")
}

func TestErrorsAreRolledBackBeforeHalfTheTraffic(t *testing.T) {
	res, exposure, err := simulate(Policy(), scenarios()[1])
	require.NoError(t, err)
	assert.Equal(t, canary.PhaseFailed, res.Phase)
	assert.Less(t, exposure, 50, "the canary never took half of the traffic")
	assert.Equal(t, "failed checks threshold reached 3", res.Reason)
}

func TestSlowCanaryIsRolledBack(t *testing.T) {
	res, _, err := simulate(Policy(), scenarios()[2])
	require.NoError(t, err)
	assert.Equal(t, canary.PhaseFailed, res.Phase)
}

func TestNoTrafficWaitsInsteadOfFailing(t *testing.T) {
	res, _, err := simulate(Policy(), scenarios()[3])
	require.NoError(t, err)
	assert.Equal(t, canary.PhaseSucceeded, res.Phase, "quiet hours are not a failure")
	assert.Zero(t, res.FailedChecks)
	assert.Greater(t, res.Duration(), 10*time.Minute, "it waited for traffic")
}

func TestCanaryThatNeverStartsFailsAtTheDeadline(t *testing.T) {
	res, exposure, err := simulate(Policy(), scenarios()[4])
	require.NoError(t, err)
	assert.Equal(t, canary.PhaseFailed, res.Phase)
	assert.Zero(t, exposure)
	assert.Contains(t, res.Reason, "progress deadline exceeded")
}

// A policy change is checked the same way: with 20 % steps the bad canary would reach 40 %.
func TestBiggerStepsWouldExposeMore(t *testing.T) {
	p := Policy()
	p.StepWeight = 20
	_, exposure, err := simulate(p, scenario{"errors", canarytest.ByWeight(func(w int) float64 {
		if w >= 30 {
			return 97
		}
		return 99.9
	}), canarytest.Constant(120), canarytest.Health{}})
	require.NoError(t, err)
	assert.Equal(t, 40, exposure)
}
