package driver

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// protocolOf sends one GET through hc to cfg's server (which answers 404, over HTTP/2 when
// the client offers it) and returns the protocol of the answer and the connection it went on.
func protocolOf(t *testing.T, cfg *rest.Config, hc *http.Client) (string, net.Conn) {
	t.Helper()
	var conn net.Conn
	ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { conn = i.Conn }})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.Host+"/api/v1/namespaces/ns/services/podinfo", nil)
	require.NoError(t, err)
	resp, err := hc.Do(req)
	require.NoError(t, err)
	_, err = io.Copy(io.Discard, resp.Body) // read whole: the connection goes back to the pool, open
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	return resp.Proto, conn
}

// Every pool speaks HTTP/2 to a server that speaks both; with Options.HTTP1Requests the pools
// of requests speak HTTP/1.1 and the watches' HTTP/2 still, and a config that names its
// protocols keeps them in every pool.
func TestPoolProtocols(t *testing.T) {
	cfg, _, _ := tlsServer(t)
	for _, c := range []struct {
		name              string
		http1             bool
		nextProtos        []string
		requests, watches string
	}{
		{name: "default", requests: "HTTP/2.0", watches: "HTTP/2.0"},
		{name: "HTTP1Requests", http1: true, requests: "HTTP/1.1", watches: "HTTP/2.0"},
		{name: "HTTP1Requests and the config's protocols", http1: true, nextProtos: []string{"h2", "http/1.1"}, requests: "HTTP/2.0", watches: "HTTP/2.0"},
		{name: "the config's protocols, HTTP/2 first", nextProtos: []string{"h2", "http/1.1"}, requests: "HTTP/2.0", watches: "HTTP/2.0"},
		{name: "the config's protocols, HTTP/1.1 alone", nextProtos: []string{"http/1.1"}, requests: "HTTP/1.1", watches: "HTTP/1.1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := rest.CopyConfig(cfg)
			cfg.NextProtos = c.nextProtos
			conns := &connections{http1: c.http1}
			defer conns.closeIdle()
			requests, err := conns.open(cfg, requestPool)
			require.NoError(t, err)
			watches, err := conns.open(cfg, watchPool)
			require.NoError(t, err)
			got, _ := protocolOf(t, cfg, requests)
			assert.Equal(t, c.requests, got, "requests")
			got, _ = protocolOf(t, cfg, watches)
			assert.Equal(t, c.watches, got, "watches")
		})
	}
}

// New gives the driver's clients the pools of requests: the Kubernetes client speaks HTTP/2,
// or HTTP/1.1 with Options.HTTP1Requests.
func TestDriverRequestsProtocol(t *testing.T) {
	cfg, _, _ := tlsServer(t)
	for http1, want := range map[bool]string{false: "HTTP/2.0", true: "HTTP/1.1"} {
		var got []string
		cfg := rest.CopyConfig(cfg)
		cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
			return roundTrip(func(r *http.Request) (*http.Response, error) {
				resp, err := rt.RoundTrip(r)
				if err == nil {
					got = append(got, resp.Proto)
				}
				return resp, err
			})
		}
		d, err := New(Options{Config: cfg, HTTP1Requests: http1})
		require.NoError(t, err)
		_, err = d.Client().CoreV1().Services("ns").Get(context.Background(), "podinfo", metav1.GetOptions{})
		require.Error(t, err)
		d.Close()
		assert.Equal(t, []string{want}, got, "HTTP1Requests %v", http1)
	}
}

// tcpConn is the TCP connection under c (a TLS connection's).
func tcpConn(t *testing.T, c net.Conn) *net.TCPConn {
	t.Helper()
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	tcp, ok := c.(*net.TCPConn)
	require.True(t, ok, "%T", c)
	return tcp
}

// A pool of HTTP/1.1 opens connsPerHost connections at most: a burst of requests on a slow
// server waits for them instead of opening one each (the start of 1,000 releases opened 871
// at once), and they stay open for the next requests.
func TestHTTP1PoolBoundsItsConnections(t *testing.T) {
	const burst = connsPerHost + 35
	var mu sync.Mutex
	inside := 0
	arrived, release := make(chan struct{}, burst), make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inside++
		mu.Unlock()
		arrived <- struct{}{}
		<-release
		w.WriteHeader(http.StatusNotFound)
	}))
	srv.EnableHTTP2 = true
	opened := countConnections(srv)
	srv.StartTLS()
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	cfg := &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{CAData: ca}, QPS: -1}
	conns := &connections{http1: true}
	defer conns.closeIdle()
	hc, err := conns.open(cfg, requestPool)
	require.NoError(t, err)

	errs := make(chan error, burst)
	for range burst {
		go func() {
			resp, err := hc.Get(srv.URL + "/api")
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			errs <- err
		}()
	}
	for range connsPerHost { // every connection the pool may open is in use
		<-arrived
	}
	close(release)
	for range burst {
		require.NoError(t, <-errs)
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, burst, inside, "requests served")
	assert.Equal(t, connsPerHost, opened(), "connections opened for %d requests at once", burst)
}

// countConnections counts the connections srv (not yet started) accepts.
func countConnections(srv *httptest.Server) func() int {
	var mu sync.Mutex
	n := 0
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			n++
			mu.Unlock()
		}
	}
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}
