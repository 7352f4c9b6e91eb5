package webhooktest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/canarykit/canarykit/webhook"
)

// maxBody bounds what the receivers read of a request.
const maxBody = 1 << 20

// Request is one request a receiver got, and what it answered.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
	// Payload is Body decoded as a hook payload (zero when it is not one).
	Payload webhook.Payload
	// Status is the status the receiver answered with.
	Status int
}

// readRequest reads r's body (bounded) and decodes it as a hook payload when it is one.
func readRequest(r *http.Request) (Request, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	req := Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	if err != nil {
		return req, err
	}
	err = json.Unmarshal(body, &req.Payload)
	r.Body = io.NopCloser(bytes.NewReader(body))
	return req, err
}

// serve starts h on loopback until the test ends and returns its URL.
func serve(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// verify checks req's signature when v is set.
func verify(v *webhook.Verifier, req Request) error {
	if v == nil {
		return nil
	}
	return v.Verify(req.Header, req.Body)
}

func write(w http.ResponseWriter, status int, body string) {
	w.WriteHeader(status)
	if body != "" {
		_, _ = io.WriteString(w, body)
	}
}
