package main

import (
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The self-metrics of every replica follow the Canary's status; a status that is absent or out
// of range is not taken.
func TestSavedStatus(t *testing.T) {
	with := func(status any) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"status": status}}
	}
	st, ok := savedStatus(with(map[string]any{"phase": "Progressing", "canaryWeight": int64(30), "failedChecks": int64(2)}))
	assert.True(t, ok)
	assert.Equal(t, canary.Status{Phase: canary.PhaseProgressing, CanaryWeight: 30, FailedChecks: 2}, st)
	for name, status := range map[string]any{
		"none":       nil,
		"no phase":   map[string]any{"canaryWeight": int64(30)},
		"weight 101": map[string]any{"phase": "Progressing", "canaryWeight": int64(101)},
		"negative":   map[string]any{"phase": "Progressing", "failedChecks": int64(-1)},
		"long phase": map[string]any{"phase": "Progressing-Progressing-Progressing-Progressing"},
		"not a map":  "Succeeded",
	} {
		_, ok := savedStatus(with(status))
		assert.False(t, ok, name)
	}
}
