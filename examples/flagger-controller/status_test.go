package main

import (
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/stretchr/testify/assert"
)

// The self-metrics of every replica follow the Canary's status; a status that is absent, out
// of range or of another type is not taken.
func TestSavedStatus(t *testing.T) {
	st, ok := savedStatus([]byte(`{"phase":"Progressing","canaryWeight":30,"failedChecks":2,"conditions":[]}`))
	assert.True(t, ok)
	assert.Equal(t, canary.Status{Phase: canary.PhaseProgressing, CanaryWeight: 30, FailedChecks: 2}, st)
	st, ok = savedStatus([]byte(`{"phase":"Initialized","canaryWeight":null}`))
	assert.True(t, ok, "weight and failed checks may be absent")
	assert.Equal(t, canary.Status{Phase: canary.PhaseInitialized}, st)
	for name, status := range map[string]string{
		"none":         ``,
		"null":         `null`,
		"no phase":     `{"canaryWeight":30}`,
		"weight 101":   `{"phase":"Progressing","canaryWeight":101}`,
		"negative":     `{"phase":"Progressing","failedChecks":-1}`,
		"long phase":   `{"phase":"Progressing-Progressing-Progressing-Progressing"}`,
		"not a map":    `"Succeeded"`,
		"phase number": `{"phase":3}`,
		"weight text":  `{"phase":"Progressing","canaryWeight":"30"}`,
		"weight float": `{"phase":"Progressing","canaryWeight":30.5}`,
	} {
		_, ok := savedStatus([]byte(status))
		assert.False(t, ok, name)
	}
}
