package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
)

// canaryAPIServer answers as an API server where the Lease of test/podinfo does not exist and
// the Canary test/podinfo is answered with code and body.
func canaryAPIServer(t *testing.T, code int, body string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodGet && r.URL.Path == "/apis/flagger.app/v1beta1/namespaces/test/canaries/podinfo" {
			w.WriteHeader(code)
			_, _ = w.Write([]byte(body))
			return
		}
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404,"message":"not found"}`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestStatusReadsTheCanaryObject(t *testing.T) {
	brokenKubeconfig(t)
	const canaryJSON = `{"apiVersion":"flagger.app/v1beta1","kind":"Canary",
"metadata":{"name":"podinfo","namespace":"test","resourceVersion":"12"},
"spec":{"targetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"podinfo"}},
"status":{"phase":"Progressing","canaryWeight":40,"failedChecks":1,"iterations":2,
"lastAppliedSpec":"rev-2","lastPromotedSpec":"rev-1","lastTransitionTime":"2026-01-02T03:05:00Z"}}`
	kubeconfig := writeKubeconfig(t, canaryAPIServer(t, http.StatusOK, canaryJSON))
	code, stdout, stderr := canaryctl(t, "status", "test/podinfo", "--kubeconfig", kubeconfig)
	assert.Equal(t, exitPromoted, code, stderr)
	for _, want := range []string{"phase:          Progressing", "canary weight:  40", "iterations:     2",
		"failed checks:  1", "revision:       rev-2 (promoted: rev-1)", "last change:    2026-01-02T03:05:00Z", "driven by:      nobody"} {
		assert.Contains(t, stdout, want)
	}
	assert.NotContains(t, stdout, "no release has run")
}

func TestStatusFallsBackToTheLease(t *testing.T) {
	brokenKubeconfig(t)
	for name, tc := range map[string]struct {
		code int
		body string
	}{
		"no canary": {http.StatusNotFound, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`},
		"forbidden": {http.StatusForbidden, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403}`},
	} {
		kubeconfig := writeKubeconfig(t, canaryAPIServer(t, tc.code, tc.body))
		code, stdout, stderr := canaryctl(t, "status", "test/podinfo", "--kubeconfig", kubeconfig)
		assert.Equal(t, exitPromoted, code, "%s: %s", name, stderr)
		assert.Equal(t, "podinfo.test: no release has run\n", stdout, name)
	}

	// any other failure is reported
	kubeconfig := writeKubeconfig(t, canaryAPIServer(t, http.StatusOK, `{"apiVersion":"flagger.app/v1beta1","kind":"Canary",
"metadata":{"name":"podinfo","namespace":"test","resourceVersion":"7"},"status":{"phase":"Progressing","canaryWeight":400}}`))
	code, _, stderr := canaryctl(t, "status", "test/podinfo", "--kubeconfig", kubeconfig)
	assert.Equal(t, exitError, code)
	assert.Contains(t, stderr, ".status.canaryWeight")
}
