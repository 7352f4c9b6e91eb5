package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/require"
)

// promFake is an httptest server speaking the part of Prometheus' HTTP API the provider uses:
// /api/v1/query and /api/v1/query_range. Each request is answered by answer, called with the
// request number (from 1) and the request's form values.
type promFake struct {
	*httptest.Server
	answer func(n int, r request) (status int, body string)

	mu   sync.Mutex
	reqs []request
}

// request is what the fake received.
type request struct {
	Path   string
	Header http.Header
	Form   map[string]string
}

func newPromFake(t *testing.T, answer func(n int, r request) (int, string)) *promFake {
	t.Helper()
	f := &promFake{answer: answer}
	f.Server = newServer(f)
	t.Cleanup(f.Close)
	return f
}

func newServer(f *promFake) *httptest.Server { return httptest.NewServer(http.HandlerFunc(f.serve)) }

func (f *promFake) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := request{Path: r.URL.Path, Header: r.Header.Clone(), Form: map[string]string{}}
	for k := range r.Form {
		req.Form[k] = r.Form.Get(k)
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	n := len(f.reqs)
	f.mu.Unlock()
	status, body := f.answer(n, req)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

func (f *promFake) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.reqs...)
}

// always answers every request the same way.
func always(status int, body string) func(int, request) (int, string) {
	return func(int, request) (int, string) { return status, body }
}

// series is one sample of a vector answer.
type series struct {
	labels map[string]string
	value  string
}

func vectorJSON(ss ...series) string {
	res := make([]map[string]any, 0, len(ss))
	for _, s := range ss {
		res = append(res, map[string]any{"metric": s.labels, "value": []any{1767225600, s.value}})
	}
	return successJSON("vector", res)
}

func scalarJSON(v string) string { return successJSON("scalar", []any{1767225600, v}) }

func matrixJSON(values ...string) string {
	pts := make([][]any, 0, len(values))
	for i, v := range values {
		pts = append(pts, []any{1767225600 + 30*i, v})
	}
	return successJSON("matrix", []map[string]any{{"metric": map[string]string{"pod": "a"}, "values": pts}})
}

func successJSON(typ string, result any) string {
	b, _ := json.Marshal(map[string]any{"status": "success", "data": map[string]any{"resultType": typ, "result": result}})
	return string(b)
}

func errorJSON(typ, msg string) string {
	b, _ := json.Marshal(map[string]any{"status": "error", "errorType": typ, "error": msg})
	return string(b)
}

// fastRetries makes p retry every millisecond, so tests exercise retries without waiting.
func fastRetries(p *Prometheus) *Prometheus {
	p.newBackOff = func() backoff.BackOff { return backoff.NewConstantBackOff(time.Millisecond) }
	return p
}

// newTestProm returns a provider for the fake with fast retries.
func newTestProm(t *testing.T, address string, opts PrometheusOptions) *Prometheus {
	t.Helper()
	opts.Address = address
	p, err := NewPrometheus(opts)
	require.NoError(t, err)
	return fastRetries(p)
}

// ctxFor returns a context with a deadline generous enough for a loaded CI machine.
func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestPromFakeSpeaksTheAPI(t *testing.T) {
	f := newPromFake(t, always(200, vectorJSON(series{map[string]string{"pod": "a"}, "1"})))
	res, err := http.Post(f.URL+"/api/v1/query", "application/x-www-form-urlencoded", strings.NewReader("query=up"))
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, 200, res.StatusCode)
	require.Equal(t, "up", f.requests()[0].Form["query"])
}
