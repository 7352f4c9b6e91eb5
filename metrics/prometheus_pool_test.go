package metrics

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Providers given one Pool share its bound: many providers querying one server at once never
// open more connections than MaxConnsPerServer.
func TestPoolBoundsConnectionsPerServer(t *testing.T) {
	srv := newCountingServer(t, nil)
	pool := NewPool(PoolOptions{MaxConnsPerServer: 3})
	ps := make([]*Prometheus, 20)
	for i := range ps {
		ps[i] = newTestProm(t, srv.URL, PrometheusOptions{Pool: pool})
	}
	for range 3 {
		for _, err := range queryAll(ctxFor(t, time.Minute), ps) {
			require.NoError(t, err)
		}
	}
	assert.LessOrEqual(t, int(srv.conns.Load()), 3)
	assert.Positive(t, srv.conns.Load())
	assert.Equal(t, 1, pool.Servers())
}

// Different servers, or one server with different TLS settings, get their own transports;
// a path prefix or credentials do not make another one. The pool keeps at most MaxServers.
func TestPoolKeysAndBound(t *testing.T) {
	pool := NewPool(PoolOptions{MaxServers: 2})
	a := pool.transport("http://prom-a:9090", nil, false)
	assert.Same(t, a, pool.transport("http://PROM-A:9090/prefix", nil, false), "same server")
	assert.NotSame(t, a, pool.transport("https://prom-a:9090", nil, false), "other scheme")
	assert.Equal(t, 2, pool.Servers())
	assert.NotSame(t, a, pool.transport("http://prom-a:9090", nil, true), "other TLS settings")
	assert.Equal(t, 2, pool.Servers(), "bounded")

	b := NewPool(PoolOptions{}).transport("http://prom-b:9090", nil, false)
	assert.Equal(t, DefaultMaxConnsPerServer, b.MaxConnsPerHost)
	assert.Equal(t, DefaultMaxConnsPerServer, b.MaxIdleConnsPerHost)
	assert.Equal(t, DefaultIdleConnTimeout, b.IdleConnTimeout)
}

// The least recently used transport leaves a full pool; the others stay shared.
func TestPoolEvictsLeastRecentlyUsed(t *testing.T) {
	pool := NewPool(PoolOptions{MaxServers: 2})
	a := pool.transport("http://a:1", nil, false)
	b := pool.transport("http://b:1", nil, false)
	assert.Same(t, a, pool.transport("http://a:1", nil, false)) // a used after b
	pool.transport("http://c:1", nil, false)                    // evicts b
	assert.Same(t, a, pool.transport("http://a:1", nil, false))
	assert.NotSame(t, b, pool.transport("http://b:1", nil, false), "b was evicted")
}

func TestPoolAndTransportConflict(t *testing.T) {
	_, err := NewPrometheus(PrometheusOptions{Address: "http://prom:9090", Pool: NewPool(PoolOptions{}), Transport: http.DefaultTransport})
	require.ErrorIs(t, err, ErrInvalidOptions)
	assert.Contains(t, err.Error(), "Transport: cannot be combined with Pool")
}

// Two providers of one pool and server with different tokens never send each other's.
func TestPoolKeepsCredentialsPerProvider(t *testing.T) {
	srv := newCountingServer(t, nil)
	pool := NewPool(PoolOptions{MaxConnsPerServer: 1})
	ps := []*Prometheus{
		newTestProm(t, srv.URL, PrometheusOptions{Pool: pool, Credentials: Credentials{BearerToken: "one"}}),
		newTestProm(t, srv.URL, PrometheusOptions{Pool: pool, Credentials: Credentials{BearerToken: "two"}}),
		newTestProm(t, srv.URL, PrometheusOptions{Pool: pool}),
	}
	for range 10 {
		for _, err := range queryAll(ctxFor(t, time.Minute), ps) {
			require.NoError(t, err)
		}
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for i, want := range []string{"Bearer one", "Bearer two", ""} {
		q := fmt.Sprintf("up{i=\"%d\"}", i)
		require.Len(t, srv.auths[q], 10)
		for _, a := range srv.auths[q] {
			assert.Equal(t, want, a, q)
		}
	}
	assert.Equal(t, int32(1), srv.conns.Load())
}
