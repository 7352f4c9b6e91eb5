package flagger_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/kube/flagger"
)

// A manifest's values quoted in its problems are cut: a 100 KB duration, port name, URL, alert
// name or number made a 100 KB problem line, printed by canaryctl and recorded as a Warning
// Event by the controller on every edit.
func TestProblemsQuoteHugeValuesCut(t *testing.T) {
	huge := strings.Repeat("x", 100_000)
	_, err := flagger.LoadCanary([]byte(`
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898, targetPort: ` + huge + `}
  analysis:
    interval: ` + huge + `
    threshold: 1` + huge + `
    maxWeight: 50
    stepWeight: 10
    alerts:
      - {name: a, severity: ` + huge + `, providerRef: {name: slack}}
      - {name: a, providerRef: {name: slack}}
    webhooks:
      - {name: load, url: "http://` + huge + `"}
      - {name: load, url: "http://` + huge + `"}
    metrics:
      - {name: ` + huge + `, thresholdRange: {min: 99}, query: up}
      - {name: ` + huge + `, thresholdRange: {min: 99}, query: up}
`))
	require.Error(t, err)
	got := problems(t, err)
	for _, field := range []string{"spec.service.targetPort", "spec.analysis.interval", "severity", "duplicate alert"} {
		assert.True(t, containsOne(got, field), "a problem names %s: %q", field, got)
	}
	for _, p := range got {
		assert.Less(t, len(p), 600, "a problem quotes at most a cut value: %.300q", p)
	}
	assert.Less(t, len(err.Error()), 8000)
}

func containsOne(lines []string, s string) bool {
	for _, l := range lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// A value cut for a problem is cut between characters: before, a name of two-byte letters cut
// at an odd byte showed a broken character as an escape (`"éé…\xc3"…`) in the loader's and the
// Spec's problems.
func TestProblemsCutValuesBetweenCharacters(t *testing.T) {
	name := "a" + strings.Repeat("é", 200)
	for field, doc := range map[string]string{
		"spec.service.targetPort": "  service: {port: 9898, targetPort: " + name + "}\n",
		"duplicate metric": "  service: {port: 9898}\n  analysis:\n    interval: 1m\n    threshold: 1\n    maxWeight: 50\n    stepWeight: 10\n" +
			"    metrics:\n      - {name: " + name + ", thresholdRange: {min: 99}, query: up}\n      - {name: " + name + ", thresholdRange: {min: 99}, query: up}\n",
	} {
		_, err := flagger.LoadCanary([]byte(`
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
` + doc))
		require.Error(t, err, field)
		assert.Contains(t, err.Error(), field)
		assert.NotContains(t, err.Error(), `\x`, "a character cut in two")
		assert.Contains(t, err.Error(), `"aéé`, "the value is quoted as it reads")
	}
}
