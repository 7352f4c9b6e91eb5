package metrics

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
)

// countingServer is a Prometheus stand-in that counts the connections it accepts and answers
// every query with 1, recording each request's Authorization header by query.
type countingServer struct {
	*httptest.Server
	conns atomic.Int32

	mu    sync.Mutex
	auths map[string][]string // query → Authorization headers seen
}

func newCountingServer(t *testing.T, hold <-chan struct{}) *countingServer {
	t.Helper()
	s := &countingServer{auths: map[string][]string{}}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		s.mu.Lock()
		q := r.Form.Get("query")
		s.auths[q] = append(s.auths[q], r.Header.Get("Authorization"))
		s.mu.Unlock()
		if hold != nil {
			<-hold
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(scalarJSON("1")))
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// queryAll runs one query per provider at once, each its own query text, and returns the
// errors.
func queryAll(ctx context.Context, ps []*Prometheus) []error {
	errs := make([]error, len(ps))
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = p.Query(ctx, fmt.Sprintf("up{i=\"%d\"}", i))
		}()
	}
	wg.Wait()
	return errs
}

// Providers built with default options for one server share the process's transport: more
// providers than DefaultMaxConnsPerServer, all querying at once, open at most that many
// connections. (With a transport per provider, each one dials its own.)
func TestProvidersOfOneServerShareBoundedConnections(t *testing.T) {
	srv := newCountingServer(t, nil)
	ps := make([]*Prometheus, 2*DefaultMaxConnsPerServer)
	for i := range ps {
		ps[i] = newTestProm(t, srv.URL, PrometheusOptions{Credentials: Credentials{BearerToken: fmt.Sprintf("token-%d", i)}})
	}
	for round := range 3 {
		for i, err := range queryAll(ctxFor(t, time.Minute), ps) {
			require.NoError(t, err, "round %d provider %d", round, i)
		}
	}
	assert.LessOrEqual(t, int(srv.conns.Load()), DefaultMaxConnsPerServer, "connections accepted")
	assert.Positive(t, srv.conns.Load())
	// Credentials stay per provider over the shared connections.
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for i := range ps {
		q := fmt.Sprintf("up{i=\"%d\"}", i)
		require.Len(t, srv.auths[q], 3, q)
		for _, a := range srv.auths[q] {
			assert.Equal(t, fmt.Sprintf("Bearer token-%d", i), a, q)
		}
	}
}

// A redirect to another server does not carry the provider's credentials or headers; a
// redirect within the configured server does.
func TestPrometheusCredentialsStayOnTheirServer(t *testing.T) {
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("flagger:pw"))
	for _, tc := range []struct {
		name  string
		creds Credentials
		auth  string
	}{
		{"bearer", Credentials{BearerToken: "s3cr3t"}, "Bearer s3cr3t"},
		{"basic", Credentials{Username: "flagger", Password: "pw"}, basic},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := PrometheusOptions{Credentials: tc.creds, Headers: http.Header{"X-Scope-Orgid": {"tenant-1"}}}
			other := newPromFake(t, always(200, scalarJSON("2")))
			elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
			}))
			t.Cleanup(elsewhere.Close)
			p := newTestProm(t, elsewhere.URL, opts)
			v, err := p.Query(ctxFor(t, time.Minute), "up")
			require.NoError(t, err)
			assert.Equal(t, 2.0, v, "the other server answered")
			require.Len(t, other.requests(), 1)
			h := other.requests()[0].Header
			assert.Empty(t, h.Get("Authorization"), "credentials sent to another host")
			assert.Empty(t, h.Get("X-Scope-Orgid"), "headers sent to another host")

			moved := newPromFake(t, always(200, scalarJSON("3")))
			same := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasPrefix(r.URL.Path, "/moved/") {
					moved.serve(w, r)
					return
				}
				http.Redirect(w, r, "/moved"+r.URL.Path, http.StatusTemporaryRedirect)
			}))
			t.Cleanup(same.Close)
			p = newTestProm(t, same.URL, opts)
			v, err = p.Query(ctxFor(t, time.Minute), "up")
			require.NoError(t, err)
			assert.Equal(t, 3.0, v)
			require.Len(t, moved.requests(), 1)
			h = moved.requests()[0].Header
			assert.Equal(t, tc.auth, h.Get("Authorization"), "same server: credentials kept")
			assert.Equal(t, "tenant-1", h.Get("X-Scope-Orgid"))
		})
	}
}

// Prometheus' error text is bounded in errors (and so in events), and an answer larger than
// MaxResponseBytes fails the query rather than being read whole.
func TestPrometheusBoundsWhatItReads(t *testing.T) {
	t.Run("error text", func(t *testing.T) {
		huge := strings.Repeat("é", 50_000) // 100 kB, under the body bound
		f := newPromFake(t, always(422, errorJSON("execution", huge)))
		p := newTestProm(t, f.URL, PrometheusOptions{})
		_, err := p.Query(ctxFor(t, time.Minute), "up")
		require.Error(t, err)
		assert.Less(t, len(err.Error()), 2*MaxErrorTextBytes, "error text bounded")
		assert.Contains(t, err.Error(), "more bytes")
		var qe *QueryError
		require.ErrorAs(t, err, &qe)
		assert.Equal(t, "execution", qe.Type)
	})
	t.Run("server error body", func(t *testing.T) {
		f := newPromFake(t, always(500, strings.Repeat("x", 1<<20)))
		p := newTestProm(t, f.URL, PrometheusOptions{RetryTimeout: 50 * time.Millisecond})
		_, err := p.Query(context.Background(), "up")
		require.ErrorIs(t, err, ErrUnavailable)
		assert.Less(t, len(err.Error()), 2*MaxErrorTextBytes)
	})
	t.Run("result body", func(t *testing.T) {
		big := strings.Repeat("a", MaxResponseBytes+1)
		f := newPromFake(t, always(200, vectorJSON(series{map[string]string{"pod": big}, "1"})))
		p := newTestProm(t, f.URL, PrometheusOptions{})
		_, err := p.Query(ctxFor(t, time.Minute), "up")
		require.ErrorIs(t, err, ErrUnexpectedResult)
		assert.Contains(t, err.Error(), fmt.Sprintf("larger than %d bytes", MaxResponseBytes))
		assert.Len(t, f.requests(), 1, "not retried")
	})
	t.Run("body of exactly the bound", func(t *testing.T) {
		body := scalarJSON("4")
		body += strings.Repeat(" ", MaxResponseBytes-len(body))
		f := newPromFake(t, always(200, body))
		p := newTestProm(t, f.URL, PrometheusOptions{})
		v, err := p.Query(ctxFor(t, time.Minute), "up")
		require.NoError(t, err)
		assert.Equal(t, 4.0, v)
	})
}

// A server that closes every connection is unavailable, not a bad measurement: the error
// matches canary.ErrUnavailable and says which server could not be reached (without the
// password of the address).
func TestPrometheusClosedConnectionsAreUnavailable(t *testing.T) {
	var accepted atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		accepted.Add(1)
		c, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = c.Close()
		}
	}))
	t.Cleanup(srv.Close)
	addr := strings.Replace(srv.URL, "http://", "http://flagger:pw@", 1)
	p := newTestProm(t, addr, PrometheusOptions{RetryTimeout: 200 * time.Millisecond})
	_, err := p.Query(context.Background(), "up")
	require.ErrorIs(t, err, ErrUnavailable)
	require.ErrorIs(t, err, canary.ErrUnavailable, "the engine's sentinel")
	assert.NotErrorIs(t, err, ErrUnexpectedResult)
	msg := err.Error()
	assert.Contains(t, msg, "could not reach Prometheus at "+strings.Replace(srv.URL, "http://", "http://flagger:xxxxx@", 1))
	assert.NotContains(t, msg, ":pw@")
	assert.Contains(t, msg, "EOF")
	assert.Greater(t, int(accepted.Load()), 1, "retried")
}

// A server that does not answer before the caller's deadline is unavailable even when the
// deadline ends the first attempt.
func TestPrometheusNoAnswerBeforeTheDeadlineIsUnavailable(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := newCountingServer(t, release)
	p := newTestProm(t, srv.URL, PrometheusOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := p.Query(ctx, "up")
	require.ErrorIs(t, err, canary.ErrUnavailable)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "could not reach Prometheus at "+srv.URL)
}
