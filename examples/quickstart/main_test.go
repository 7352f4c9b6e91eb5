package main

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQuickstartPromotesThenRollsBack(t *testing.T) {
	var out strings.Builder
	require.NoError(t, run(&out, 0))
	s := out.String()
	for _, want := range []string{
		"Advance podinfo.test canary weight 10",
		"Advance podinfo.test canary weight 50",
		"Promotion completed! Scaling down podinfo.test",
		"=> 3.1.1 Succeeded",
		"Rolling back podinfo.test failed checks threshold reached 5",
		"=> 3.1.2 Failed",
	} {
		assert.Contains(t, s, want)
	}
	assert.Less(t, strings.Index(s, "=> 3.1.1 Succeeded"), strings.Index(s, "=> 3.1.2 Failed"))
}

func TestTheManifestIsTheSeeds(t *testing.T) {
	seed, err := os.ReadFile("../../kube/flagger/testdata/canary-002-linkerd-canary.yaml")
	require.NoError(t, err)
	assert.Equal(t, string(seed), string(canaryYAML))
}
