package webhook

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/webhook/internal/httpx"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrStatus: the hook answered with a status outside 200–202.
	ErrStatus = errors.New("unexpected status")
	// ErrInvalidHook: the hook cannot be called (no URL, or not an http(s) URL).
	ErrInvalidHook = errors.New("invalid webhook")
	// ErrInvalidOptions: New or NewVerifier refused their configuration.
	ErrInvalidOptions = errors.New("invalid webhook options")
	// ErrSignature: a request's signature is missing, malformed, expired or wrong.
	ErrSignature = errors.New("invalid webhook signature")
	// ErrRedirect: the hook redirected to another host or port, or from https down to http;
	// the client does not follow, so neither the payload nor its signature reach a host the
	// hook's URL does not name.
	ErrRedirect = httpx.ErrRedirectRefused
)

// Error is a failed hook call: which hook, where, what came back. Its message is never empty:
// it names the hook and URL and quotes up to 512 bytes of the response body.
type Error struct {
	Hook string
	Type canary.HookType
	// URL is the hook's URL without user information or query values.
	URL string
	// StatusCode is the last response's status, 0 when no response arrived.
	StatusCode int
	// Body is an excerpt of the last response's body (at most 512 bytes, trimmed).
	Body string
	// Attempts counts the requests made (1 + retries used).
	Attempts int
	// Err is the cause: ErrStatus (wrapped) for a response, the transport error otherwise.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "webhook %q", e.Hook)
	if e.Type != "" {
		fmt.Fprintf(&b, " (%s)", e.Type)
	}
	if e.URL != "" {
		fmt.Fprintf(&b, " POST %s", e.URL)
	}
	b.WriteString(": ")
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, "status %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	} else if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("failed")
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	if e.StatusCode != 0 {
		b.WriteString(": " + httpx.Quote(e.Body))
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }
