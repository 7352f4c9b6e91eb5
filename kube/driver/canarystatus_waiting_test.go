package driver

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
)

// Flagger v1.44 writes iterations analysis.iterations-1 when a release turns WaitingPromotion:
// -1 for a weighted canary. A Canary Flagger left so loads (its analysis restarts, as the
// README says of one left mid-analysis), iterations read as 0; below -1 is refused.
func TestCanaryStoreLoadsFlaggersWaitingPromotion(t *testing.T) {
	b := newStoreBed()
	b.canaries.edit(func(obj map[string]any) {
		obj["status"] = map[string]any{"phase": "WaitingPromotion", "canaryWeight": int64(0), "failedChecks": int64(0),
			"iterations": int64(-1), "lastAppliedSpec": "5d8f6c7b9", "lastPromotedSpec": "7c9b8d6f5",
			"lastTransitionTime": "2026-01-02T03:00:00Z",
			"conditions": []any{map[string]any{"type": "Promoted", "status": "Unknown", "reason": "WaitingPromotion",
				"message": "Waiting for approval."}}}
	})
	s, _ := b.store(t, "a")
	st, err := s.Load(context.Background(), b.target)
	require.NoError(t, err)
	assert.Equal(t, canary.PhaseWaitingPromotion, st.Phase)
	assert.Equal(t, 0, st.Iterations)
	assert.Equal(t, "5d8f6c7b9", st.LastAppliedSpec)

	_, err = decodeStatus(map[string]any{"status": map[string]any{"iterations": int64(-2)}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), ".status.iterations")
}
