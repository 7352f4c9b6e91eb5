package loadgen_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/webhook/loadgen"
)

// collector records the requests a host should never receive.
type collector struct {
	mu      sync.Mutex
	headers []http.Header
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.headers = append(c.headers, r.Header.Clone())
}

func (c *collector) received() []http.Header {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.headers
}

// credentials are what a load test's Config sends to its own host only.
func credentials() http.Header {
	return http.Header{"Authorization": {"Bearer s3cret"}, "Cookie": {"session=s3cret"}, "X-Api-Key": {"s3cret"}}
}

// A canary (or whatever answers at its URL) redirecting to another host, port or scheme gets
// no request sent there: not the load, and not the Config's credentials. The redirect is the
// answer, counted in Unfollowed, and no failure.
func TestRedirectElsewhereIsNotFollowed(t *testing.T) {
	for _, tc := range []struct {
		name string
		// to is the Location given the canary's own URL and the other host's
		to func(own, other string) string
	}{
		{"another port", func(_, other string) string { return other + "/collect" }},
		{"another host name", func(_, other string) string {
			return "http://localhost:" + other[strings.LastIndex(other, ":")+1:] + "/collect"
		}},
		{"another scheme", func(own, _ string) string { return "https" + strings.TrimPrefix(own, "http") + "/collect" }},
	} {
		for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
			http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
			for _, client := range []*http.Client{nil, {}} {
				name := tc.name + "/" + http.StatusText(status) + "/default client"
				if client != nil {
					name = strings.Replace(name, "default client", "Config.Client", 1)
				}
				t.Run(name, func(t *testing.T) {
					other := &collector{}
					otherSrv := httptest.NewServer(other)
					t.Cleanup(otherSrv.Close)
					var own string
					canarySrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						http.Redirect(w, r, tc.to(own, otherSrv.URL), status)
					}))
					t.Cleanup(canarySrv.Close)
					own = canarySrv.URL
					withUser := "http://load:s3cret@" + strings.TrimPrefix(own, "http://") + "/"
					g := newGen(t, loadgen.Config{URL: withUser, Header: credentials(), Method: http.MethodPost,
						Body: []byte("payload"), Rate: 1000, MaxRequests: 3, Client: client})
					_, err := allow(t, g)
					require.NoError(t, err)
					require.NoError(t, g.Wait(t.Context()))
					assert.Empty(t, other.received(), "the other host received requests")
					st := g.Stats()
					assert.Equal(t, uint64(3), st.Requests)
					assert.Zero(t, st.Errors, "a redirect not followed is the canary's answer: %s", st.LastError)
					assert.Equal(t, uint64(3), st.Unfollowed)
				})
			}
		}
	}
}

// A redirect on the canary's own scheme, host and port is followed with every header: they
// stay with the host they belong to.
func TestRedirectToTheSameHostIsFollowed(t *testing.T) {
	var got atomic.Value
	mux := http.NewServeMux()
	mux.HandleFunc("/old", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/new", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/new", func(w http.ResponseWriter, r *http.Request) { got.Store(r.Header.Clone()) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	g := newGen(t, loadgen.Config{URL: srv.URL + "/old", Header: credentials(), MaxRequests: 1})
	_, err := allow(t, g)
	require.NoError(t, err)
	require.NoError(t, g.Wait(t.Context()))
	h, ok := got.Load().(http.Header)
	require.True(t, ok, "the redirect was not followed")
	for k, v := range credentials() {
		assert.Equal(t, v, h.Values(k), k)
	}
	assert.Equal(t, loadgen.Stats{Runs: 1, Requests: 1}, g.Stats())
}

// A redirect loop on the same host is followed MaxRedirects times, then its last redirect is
// the answer.
func TestRedirectLoopIsBounded(t *testing.T) {
	var asked atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		http.Redirect(w, r, "/again", http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	g := newGen(t, loadgen.Config{URL: srv.URL + "/", MaxRequests: 1})
	_, err := allow(t, g)
	require.NoError(t, err)
	require.NoError(t, g.Wait(t.Context()))
	assert.Equal(t, int32(1+loadgen.MaxRedirects), asked.Load())
	assert.Equal(t, loadgen.Stats{Runs: 1, Requests: 1, Unfollowed: 1}, g.Stats())
}

// NoRedirects (hey's -disable-redirects) follows none, even on the URL's own origin: the 3xx
// is the answer.
func TestNoRedirectsFollowsNone(t *testing.T) {
	var asked atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		http.Redirect(w, r, "/again", http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	g := newGen(t, loadgen.Config{URL: srv.URL + "/", MaxRequests: 2, NoRedirects: true})
	_, err := allow(t, g)
	require.NoError(t, err)
	require.NoError(t, g.Wait(t.Context()))
	assert.Equal(t, int32(2), asked.Load())
	assert.Equal(t, loadgen.Stats{Runs: 1, Requests: 2, Unfollowed: 2}, g.Stats())
}
