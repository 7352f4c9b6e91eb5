package loadgen_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
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
		`Header: name "Bad Name" is not an HTTP token`, `Header["X-Api-Key"][1]: the value holds a line break or another control character`} {
		assert.Contains(t, err.Error(), want)
	}
	assert.NotContains(t, err.Error(), "s3cret")
	assert.NotContains(t, err.Error(), "X-Canary", "a tab is allowed in a value")
	assert.NotContains(t, err.Error(), "Accept-Type", "so are bytes past ASCII")

	_, err = loadgen.New(loadgen.Config{URL: "http://podinfo-canary.test:9898/", Method: "PURGE",
		Header: http.Header{"X-Api-Key": {"s3cret"}}})
	require.NoError(t, err, "any token is a method")
}

// A Host entry of Config.Header is the requests' Host (hey's -host): before, Go's client
// dropped it without a word (it sends req.Host, never the header's entry) and the load reached
// the URL's virtual host instead. The connection still goes to the URL's address.
func TestHostHeaderIsTheRequestsHost(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		got.Store(r.Host + " " + r.Header.Get("X-A"))
	}))
	t.Cleanup(srv.Close)
	for _, host := range []string{"podinfo.example", "podinfo.example:8080", "10.0.0.1", "[::1]:9898"} {
		g := newGen(t, loadgen.Config{URL: srv.URL + "/", Header: http.Header{"host": {host}, "X-A": {"1"}}, MaxRequests: 1})
		_, err := allow(t, g)
		require.NoError(t, err)
		wait(t, g)
		assert.Equal(t, host+" 1", got.Load(), host)
		assert.Equal(t, loadgen.Stats{Runs: 1, Requests: 1}, g.Stats())
	}
	for _, bad := range [][]string{{"a.example", "b.example"}, {""}, {"a.example/admin"}, {"user@a.example"}, {"a.example:port"},
		{"a example"}, {"[::1"}, {"[10.0.0.1]"}, {"a.example:123456"}} {
		_, err := loadgen.New(loadgen.Config{URL: srv.URL + "/", Header: http.Header{"Host": bad}})
		require.ErrorIs(t, err, loadgen.ErrInvalidConfig, "%q", bad)
		assert.ErrorContains(t, err, `Header["Host"]: want one host name or address, with an optional port`, "%q", bad)
	}
}

// Concurrency is bounded: each worker is a goroutine holding a connection, and a hey command's
// -c 100000000 would have started as many.
func TestNewBoundsConcurrency(t *testing.T) {
	_, err := loadgen.New(loadgen.Config{URL: "http://podinfo-canary.test:9898/", Concurrency: loadgen.MaxConcurrency + 1})
	require.ErrorIs(t, err, loadgen.ErrInvalidConfig)
	assert.ErrorContains(t, err, "Concurrency: must be at most 1000, got 1001")
	_, err = loadgen.New(loadgen.Config{URL: "http://podinfo-canary.test:9898/", Concurrency: loadgen.MaxConcurrency})
	require.NoError(t, err)
}

// A Host given under two names that are the one header (http.Header's keys are not always
// canonical: "host" and "Host") is refused as two values are: each entry held one value and
// passed, and the requests' Host was whichever of the two the map gave last.
func TestNewRefusesAHostGivenTwice(t *testing.T) {
	_, err := loadgen.New(loadgen.Config{URL: "http://podinfo-canary.test:9898/",
		Header: http.Header{"host": {"a.example"}, "Host": {"b.example"}}})
	require.ErrorIs(t, err, loadgen.ErrInvalidConfig)
	assert.ErrorContains(t, err, `Header: "Host" and "host" are one header, the requests' Host: give it once`)
	assert.NotContains(t, err.Error(), "a.example")
}
