package driver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
)

// As Flagger's status: iterations count the analysis under way, and are 0 once it is over
// (Finalising, Succeeded, Failed; Flagger's setStatusPhase and the rollback's status sync
// reset them), whatever the release counted.
func TestIterationsPerPhase(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for phase, want := range map[canary.Phase]int{
		canary.PhaseProgressing:      3,
		canary.PhaseWaitingPromotion: 3,
		canary.PhasePromoting:        3,
		canary.PhaseFinalising:       0,
		canary.PhaseSucceeded:        0,
		canary.PhaseFailed:           0,
	} {
		obj := map[string]any{}
		require.NoError(t, setStatus(obj, canary.Status{Phase: phase, Iterations: 3, FailedChecks: 2, LastTransitionTime: now}, nil, "", now))
		fs, err := decodeStatus(obj)
		require.NoError(t, err)
		assert.Equal(t, want, fs.Iterations, phase)
		assert.Equal(t, 2, fs.FailedChecks, phase)
	}
}
