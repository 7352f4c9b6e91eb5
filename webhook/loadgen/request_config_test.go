package loadgen_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/webhook/loadgen"
)

// A method or header that no request can carry (a CR or LF spliced in, a name that is not an
// HTTP token) is refused by New, named, without quoting the header's value (a credential),
// instead of failing every request of every run.
func TestNewRefusesMethodsAndHeadersNoRequestCanCarry(t *testing.T) {
	_, err := loadgen.New(loadgen.Config{URL: "http://podinfo-canary.test:9898/",
		Method: "GET / HTTP/1.1\r\nHost: admin.internal\r\n\r\nGET",
		Header: http.Header{
			"X-Api-Key":   {"ok", "s3cret\r\nX-Injected: 1"},
			"Bad Name":    {"v"},
			"X-Canary":    {"always\tand tab"},
			"Accept-Type": {"text/plain; é"},
		}})
	require.ErrorIs(t, err, loadgen.ErrInvalidConfig)
	for _, want := range []string{`Method: must be an HTTP token, got "GET / HTTP/1.1\r\nHost: admin.internal\r\n\r\nGET"`,
		`Header: name "Bad Name" is not an HTTP token`, `Header["X-Api-Key"][1]: the value holds a control character`} {
		assert.Contains(t, err.Error(), want)
	}
	assert.NotContains(t, err.Error(), "s3cret")
	assert.NotContains(t, err.Error(), "X-Canary", "a tab is allowed in a value")
	assert.NotContains(t, err.Error(), "Accept-Type", "so are bytes past ASCII")

	_, err = loadgen.New(loadgen.Config{URL: "http://podinfo-canary.test:9898/", Method: "PURGE",
		Header: http.Header{"X-Api-Key": {"s3cret"}}})
	require.NoError(t, err, "any token is a method")
}
