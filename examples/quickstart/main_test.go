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
	// every check says its verdict; a halt names its failed check once
	assert.Contains(t, s, "✔ request-success-rate")
	assert.NotRegexp(t, `request-success-rate (8\d|9[0-8])\.\d\d >= 99`, s, "a failed check never reads as a passing one")
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "Halt podinfo.test advancement") {
			assert.Equal(t, 1, strings.Count(l, "request-success-rate"), l)
		}
	}
	assert.NotContains(t, s, "\x1b", "not a terminal: plain lines")
}

func TestTheManifestIsTheSeeds(t *testing.T) {
	seed, err := os.ReadFile("../../kube/flagger/testdata/canary-002-linkerd-canary.yaml")
	require.NoError(t, err)
	assert.Equal(t, string(seed), string(canaryYAML))
}

// The README shows the quickstart's output (steps elided with "..."): it must be what run prints.
func TestTheREADMEShowsWhatItPrints(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	_, block, ok := strings.Cut(string(readme), "this; on a terminal the steps")
	require.True(t, ok, "the README introduces the quickstart's output")
	_, block, _ = strings.Cut(block, "```\n")
	block, _, ok = strings.Cut(block, "```")
	require.True(t, ok)
	var out strings.Builder
	require.NoError(t, run(&out, 0))
	printed := strings.Split(out.String(), "\n")
	i := 0
	for _, want := range strings.Split(strings.TrimSuffix(block, "\n"), "\n") {
		if want == "..." {
			continue
		}
		for i < len(printed) && printed[i] != want {
			i++
		}
		require.Less(t, i, len(printed), "the README shows a line run does not print (in this order):\n%s", want)
	}
}
