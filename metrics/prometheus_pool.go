package metrics

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Defaults of PoolOptions.
//
// The connection bound follows from how Prometheus serves queries: it evaluates at most
// --query.max-concurrency queries at once (20 by default) and refuses connections beyond
// --web.max-connections (512 by default). More connections than the evaluation slots only
// queue inside Prometheus, so 32 per server keeps every slot busy with room for slow answers
// in flight, while a process with a thousand rollouts stays far below the connection limit.
// A burst of 2,000 queries of ~10 ms each drains through 32 connections in well under a
// second, inside the default 5 s query timeout. The idle pool is as large as the bound: the
// connections a burst opened are kept for the next analysis tick instead of being closed and
// redialled (net/http keeps 2 per host unless told otherwise).
const (
	// DefaultMaxConnsPerServer bounds the connections a Pool opens to one Prometheus server.
	DefaultMaxConnsPerServer = 32
	// DefaultIdleConnTimeout closes a connection idle that long: longer than common analysis
	// intervals (10 s to 1 m), so connections survive between ticks, and short enough that a
	// server no provider queries any more holds nothing for long.
	DefaultIdleConnTimeout = 90 * time.Second
	// DefaultMaxServers is how many servers' transports a Pool keeps. A process rarely talks
	// to more than a handful of Prometheus servers; past the bound the least recently used
	// transport leaves the pool (its idle connections are closed; providers still holding it
	// keep working).
	DefaultMaxServers = 64
)

// PoolOptions size a Pool. Zero fields mean the default.
type PoolOptions struct {
	// MaxConnsPerServer bounds the connections (idle, dialling and in use) to one server;
	// queries beyond it wait for a free connection within their context. Default
	// DefaultMaxConnsPerServer.
	MaxConnsPerServer int
	// MaxIdleConnsPerServer is how many idle connections to one server are kept for reuse.
	// Default: MaxConnsPerServer.
	MaxIdleConnsPerServer int
	// IdleConnTimeout closes idle connections. Default DefaultIdleConnTimeout.
	IdleConnTimeout time.Duration
	// MaxServers bounds the transports kept. Default DefaultMaxServers.
	MaxServers int
}

// Pool shares HTTP transports among metrics providers (Prometheus, Datadog): every provider
// built with the same
// Pool for the same server (scheme, host and TLS settings) sends its requests over one
// transport with bounded connections, while credentials and headers stay per provider. A
// process (an operator with one provider per target) creates one Pool and passes it in
// PrometheusOptions.Pool (DatadogOptions.Pool). Safe for concurrent use.
type Pool struct {
	opts PoolOptions

	mu      sync.Mutex
	servers map[poolKey]*poolEntry
	uses    uint64 // a logical clock for least-recently-used eviction
}

type poolKey struct {
	scheme, host string
	ca           [sha256.Size]byte // zero: the system pool
	insecure     bool
}

type poolEntry struct {
	t       *http.Transport
	lastUse uint64
}

// NewPool returns an empty pool.
func NewPool(opts PoolOptions) *Pool {
	if opts.MaxConnsPerServer <= 0 {
		opts.MaxConnsPerServer = DefaultMaxConnsPerServer
	}
	if opts.MaxIdleConnsPerServer <= 0 {
		opts.MaxIdleConnsPerServer = opts.MaxConnsPerServer
	}
	if opts.IdleConnTimeout <= 0 {
		opts.IdleConnTimeout = DefaultIdleConnTimeout
	}
	if opts.MaxServers <= 0 {
		opts.MaxServers = DefaultMaxServers
	}
	return &Pool{opts: opts, servers: map[poolKey]*poolEntry{}}
}

// defaultPool serves the providers whose options name no Pool.
var defaultPool = NewPool(PoolOptions{})

// CloseIdleConnections closes the idle connections of every transport in the pool.
func (p *Pool) CloseIdleConnections() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.servers {
		e.t.CloseIdleConnections()
	}
}

// Servers returns how many servers' transports the pool holds.
func (p *Pool) Servers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.servers)
}

// transport returns the shared transport for address (an absolute URL, validated) with the
// given TLS settings, creating it on first use.
func (p *Pool) transport(address string, ca []byte, insecure bool) *http.Transport {
	u, _ := url.Parse(address) // validated by PrometheusOptions.validate
	k := poolKey{scheme: strings.ToLower(u.Scheme), host: strings.ToLower(u.Host), insecure: insecure}
	if len(ca) > 0 {
		k.ca = sha256.Sum256(ca)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.uses++
	if e, ok := p.servers[k]; ok {
		e.lastUse = p.uses
		return e.t
	}
	if len(p.servers) >= p.opts.MaxServers {
		p.evictOldest()
	}
	t := p.newTransport(ca, insecure)
	p.servers[k] = &poolEntry{t: t, lastUse: p.uses}
	return t
}

// evictOldest drops the least recently used transport; p.mu is held.
func (p *Pool) evictOldest() {
	var oldest poolKey
	var oldestUse uint64
	first := true
	for k, e := range p.servers {
		if first || e.lastUse < oldestUse {
			oldest, oldestUse, first = k, e.lastUse, false
		}
	}
	if e, ok := p.servers[oldest]; ok {
		e.t.CloseIdleConnections()
		delete(p.servers, oldest)
	}
}

// newTransport is a clone of http.DefaultTransport (proxy from the environment, dial and TLS
// handshake timeouts, HTTP/2) with the pool's bounds and the TLS settings.
func (p *Pool) newTransport(ca []byte, insecure bool) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxConnsPerHost = p.opts.MaxConnsPerServer
	t.MaxIdleConnsPerHost = p.opts.MaxIdleConnsPerServer
	t.MaxIdleConns = p.opts.MaxIdleConnsPerServer // one host per transport
	t.IdleConnTimeout = p.opts.IdleConnTimeout
	if len(ca) > 0 || insecure {
		t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure} //nolint:gosec // the user's choice, as in Flagger
		if len(ca) > 0 {
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(ca)
			t.TLSClientConfig.RootCAs = pool
		}
	}
	return t
}
