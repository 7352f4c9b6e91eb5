package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary/progress"
)

// assertNoTerminalControl fails when out holds a byte a terminal acts on (other than the line
// ends canaryctl writes itself) or a bidirectional override.
func assertNoTerminalControl(t *testing.T, out string) {
	t.Helper()
	for _, line := range strings.SplitAfter(out, "\n") {
		line = strings.TrimSuffix(line, "\n")
		assert.Equal(t, line, progress.Printable(line), "printed as is: %q", line)
	}
}

// A Canary's status is written by whoever may write the object: status printed its strings as
// they were, so a revision or message could clear the terminal, retitle it or forge lines.
func TestStatusEscapesControlCharacters(t *testing.T) {
	brokenKubeconfig(t)
	const canaryJSON = `{"apiVersion":"flagger.app/v1beta1","kind":"Canary",
"metadata":{"name":"podinfo","namespace":"test","resourceVersion":"12"},
"spec":{"targetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"podinfo"}},
"status":{"phase":"Progressing","canaryWeight":40,"failedChecks":1,"iterations":2,
"lastAppliedSpec":"rev-2\u001b]0;owned\u0007\u001b[2J","lastPromotedSpec":"rev-1\r\n  driven by:      me","lastTransitionTime":"2026-01-02T03:05:00Z",
"conditions":[{"type":"canarykit.dev/Analysis","status":"True","reason":"RollingBack","message":"{\"rollingBack\":true,\"message\":\"bad\\u001b[31m red\"}"}]}}`
	kubeconfig := writeKubeconfig(t, canaryAPIServer(t, http.StatusOK, canaryJSON))
	code, stdout, stderr := canaryctl(t, "status", "test/podinfo", "--kubeconfig", kubeconfig)
	require.Equal(t, exitPromoted, code, stderr)
	assertNoTerminalControl(t, stdout)
	assert.Contains(t, stdout, `revision:       rev-2\x1b]0;owned\a\x1b[2J (promoted: rev-1\r\n  driven by:      me)`)
	assert.Contains(t, stdout, `bad\x1b[31m red`)
	assert.Equal(t, 8, strings.Count(stdout, "\n"), stdout)

	// an error the API server wrote
	kubeconfig = writeKubeconfig(t, canaryAPIServer(t, http.StatusInternalServerError,
		`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"InternalError","code":500,"message":"boom\u001b[2J\r\nfake line"}`))
	code, _, stderr = canaryctl(t, "status", "test/podinfo", "--kubeconfig", kubeconfig, "--request-timeout", "5s")
	assert.Equal(t, exitError, code)
	assertNoTerminalControl(t, stderr)
	assert.Contains(t, stderr, `boom\x1b[2J\r\nfake line`)
}

// validate printed the messages of what it checks as they came: a metric's name in a
// template's parse error, for one, kept its escape sequence.
func TestValidateEscapesControlCharacters(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "canary.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898}
  analysis:
    interval: 30s
    stepWeight: 10
    metrics:
      - name: "q\e]0;owned\a"
        query: "up{{ nope\e[2J }}"
`), 0o600))
	code, stdout, stderr := canaryctl(t, "validate", "-f", file)
	assert.Equal(t, exitRolledBack, code, stderr)
	assertNoTerminalControl(t, stdout)
	assert.Contains(t, stdout, `q\x1b]0;owned\a`)
}
