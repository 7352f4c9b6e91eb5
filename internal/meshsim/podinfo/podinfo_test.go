package podinfo_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/canarykit/canarykit/internal/meshsim/podinfo"
)

func do(t *testing.T, h http.Handler, method, target, body string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, strings.NewReader(body)))
	var v map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &v)
	return rec, v
}

func TestPodinfoAPI(t *testing.T) {
	h := podinfo.Handler{Instance: func(*http.Request) podinfo.Instance {
		return podinfo.Instance{Hostname: "podinfo-7d9f-abcde", Version: "3.1.0"}
	}}
	rec, v := do(t, h, "GET", "/", "")
	assert.Equal(t, 200, rec.Code)
	assert.Equal(t, "podinfo-7d9f-abcde", v["hostname"])
	assert.Equal(t, "3.1.0", v["version"])
	assert.Equal(t, "application/json; charset=utf-8", rec.Header().Get("Content-Type"))

	rec, v = do(t, h, "POST", "/token", "test")
	assert.Equal(t, 200, rec.Code)
	assert.NotEmpty(t, v["token"])
	assert.Contains(t, rec.Body.String(), "token") // the demo manifests' `| grep token`

	rec, v = do(t, h, "GET", "/status/503", "")
	assert.Equal(t, 503, rec.Code)
	assert.Equal(t, 503.0, v["status"])
	rec, _ = do(t, h, "GET", "/status/abc", "")
	assert.Equal(t, 400, rec.Code)

	rec, v = do(t, h, "GET", "/delay/0.001", "")
	assert.Equal(t, 200, rec.Code)
	assert.Equal(t, 0.001, v["delay"])

	rec, v = do(t, h, "GET", "/version", "")
	assert.Equal(t, "3.1.0", v["version"])
	for _, p := range []string{"/healthz", "/readyz"} {
		rec, v = do(t, h, "GET", p, "")
		assert.Equal(t, 200, rec.Code)
		assert.Equal(t, "OK", v["status"])
	}
	rec, _ = do(t, h, "POST", "/echo", "hello")
	assert.Equal(t, 202, rec.Code)
	assert.Equal(t, "hello", rec.Body.String())

	rec, _ = do(t, h, "GET", "/nope", "")
	assert.Equal(t, 404, rec.Code)
	rec, _ = do(t, h, "GET", "/token", "") // POST only
	assert.Equal(t, 404, rec.Code)
}

func TestDelayEndsWithTheRequest(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := httptest.NewRecorder()
	podinfo.Handler{}.ServeHTTP(rec, httptest.NewRequest("GET", "/delay/600", nil).WithContext(ctx))
	assert.Empty(t, rec.Body.String(), "returns without answering once the request is gone")
}

func TestZeroHandlerDefaults(t *testing.T) {
	_, v := do(t, podinfo.Handler{}, "GET", "/", "")
	assert.Equal(t, "podinfo", v["hostname"])
	assert.Equal(t, "unknown", v["version"])
}
