package webhooktest

import (
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/canarykit/canarykit/webhook"
)

// Receiver records every request and answers it from Respond (default 200 "ok"). Use it for
// event hooks, generic receivers and notifier endpoints. The zero value is ready to use; safe
// for concurrent use.
type Receiver struct {
	// Respond answers a request; call counts requests from 1. Nil answers 200 "ok".
	Respond func(call int, req Request) (status int, body string)
	// Verifier, if set, answers 401 to requests without a valid signature (recorded too).
	Verifier *webhook.Verifier

	mu       sync.Mutex
	calls    int
	requests []Request
}

// Start serves the Receiver on loopback until the test ends and returns its URL.
func (rc *Receiver) Start(t testing.TB) string { return serve(t, rc) }

// ServeHTTP records r and answers it.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, _ := readRequest(r)
	status, body := http.StatusOK, "ok"
	rc.mu.Lock()
	rc.calls++
	call := rc.calls
	rc.mu.Unlock()
	if err := verify(rc.Verifier, req); err != nil {
		status, body = http.StatusUnauthorized, err.Error()
	} else if rc.Respond != nil {
		status, body = rc.Respond(call, req)
	}
	req.Status = status
	rc.mu.Lock()
	rc.requests = append(rc.requests, req)
	rc.mu.Unlock()
	write(w, status, body)
}

// Requests returns every request received, in order.
func (rc *Receiver) Requests() []Request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.requests)
}

// Statuses answers the calls with the given statuses in order, repeating the last; the body
// is the status text.
func Statuses(statuses ...int) func(int, Request) (int, string) {
	return func(call int, _ Request) (int, string) {
		if len(statuses) == 0 {
			return http.StatusOK, "ok"
		}
		s := statuses[min(call, len(statuses))-1]
		return s, http.StatusText(s)
	}
}
