package driver

import (
	"bytes"
	"crypto/tls"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport"
	"k8s.io/client-go/util/connrotation"
)

// builtinConfig is cfg for the client of Kubernetes' own resources (Deployments, Services,
// Leases, Events and their informers): protobuf in every request, cheaper to encode and
// decode than JSON, unless cfg names a content type. (client-go's generated requests prefer
// protobuf already; its hand-written ones, such as the Events' sink, would speak JSON.) The
// rate limiter is cfg's.
func builtinConfig(cfg *rest.Config) *rest.Config {
	if cfg.ContentType != "" {
		return cfg
	}
	c := rest.CopyConfig(cfg)
	c.ContentType = runtime.ContentTypeProtobuf
	c.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	return c
}

// customConfig is cfg for the clients of custom resources (Canaries, routes): JSON whatever
// cfg names, since the API server serves custom resources without protobuf and their typed
// clients cannot encode it. The rate limiter is cfg's.
func customConfig(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.ContentType = runtime.ContentTypeJSON
	c.AcceptContentTypes = runtime.ContentTypeJSON
	return c
}

// connections are the driver's pools of connections to the API server, each an http.Client
// of its own transport from which clients are made (NewForConfigAndClient). client-go would
// otherwise share one transport, and so one HTTP/2 connection, among all clients of the same
// TLS settings. The driver gives one pool to the clients of Kubernetes' own resources, one to
// its watches (the informer caches and the Lease watch, kube.Options.WatchClient), one to each
// client of custom resources (each router's, the Canary status', the dynamic client): at
// 1,000 targets on two saturated cores, with every client on the one connection, a step's
// route write reached the API server up to 1.6 s (p99) after the step's last query reached
// Prometheus; with those on connections of their own, 0.8 to 1.0 s (the split the scale
// harness logs; see PERFORMANCE.md). The rate limiter is cfg's: one budget still.
//
// Each pool's transport is built here as client-go builds one (TLS settings, dialer, proxy,
// HTTP/2 with its health check, then the credentials', user agent's and embedder's wrappers
// around it), but outside client-go's process-wide transport cache: a process that makes and
// closes drivers keeps nothing of them, and Close closes their idle connections. (A config
// that client-go would not share, as the driver's are, is an entry of that cache for the life
// of the process.) A client certificate named by file is read again for each new connection,
// and at most every certRecheck before a request, closing the connections made with the one
// before when it changed (client-go does this from a goroutine it never stops). A config with
// a custom Transport keeps it: its clients share its connections, and it is the embedder's to
// close.
//
// With http1 set (Options.HTTP1Requests) the pools of requests speak HTTP/1.1, one request at
// a time on each of their connections, unless the config names its protocols
// (TLSClientConfig.NextProtos): a request over HTTP/1.1 costs the process about a fifth less
// CPU than over HTTP/2 (BenchmarkRequestCPU: 0.43 against 0.55 ms for an Event's creation
// through client-go on the test bed, 0.47 against 0.60 ms for a TrafficSplit's patch), whose
// client starts a goroutine for each request and frames and compresses its headers. The pool
// of the watches keeps HTTP/2: its few long streams share one connection, and HTTP/2's health
// check (a ping after 30 s of silence) finds a connection that died without a word, which an
// HTTP/1.1 watch would wait on until the API server's watch timeout.
type connections struct {
	http1  bool // the pools of requests speak HTTP/1.1
	mu     sync.Mutex
	closes map[*http.Client]func() // each pool's CloseIdleConnections
}

// A pool carries requests, or watches (see connections).
const (
	requestPool = false
	watchPool   = true
)

// userTimeout is how long a connection of the driver's own dialer may leave data
// unacknowledged, its keepalive probes included, before the kernel aborts it (Linux): what
// HTTP/2's health check does for a pool of HTTP/2 (a ping after 30 s of silence, 15 s for its
// answer), done for a pool of HTTP/1.1, whose requests would otherwise wait on a connection
// that died without a word for as long as TCP retransmits.
const userTimeout = 30 * time.Second

// connsPerHost is how many connections a pool of HTTP/1.1 opens at most, and keeps when idle:
// a request finding them all busy waits for the first one free. Without that bound the start
// of 1,000 releases opened 871 connections at once on the test bed (1,156 in the window, each
// a TLS handshake for both ends, most closed again) and the steps' p99 lateness rose to 4.4 s;
// with 25 (client-go's idle connections per host) the route writes queued for a connection
// (2.0 to 5.2 s); with 100, at most 259 were open at once and the lateness was as over HTTP/2.
const connsPerHost = 100

// open returns a new pool's http.Client for clients of cfg (whose rate limiter, credentials,
// wrappers and user agent, by default client-go's, it keeps), for requests or for watches.
func (cs *connections) open(cfg *rest.Config, watches bool) (*http.Client, error) {
	c := rest.CopyConfig(cfg)
	if c.UserAgent == "" {
		// set in the client's transport, as client-go's NewForConfig does
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	if c.Transport != nil {
		return rest.HTTPClientFor(c)
	}
	tc, err := c.TransportConfig() // credentials, an exec plugin's included
	if err != nil {
		return nil, err
	}
	tlsConfig, err := transport.TLSConfigFor(tc)
	if err != nil {
		return nil, err
	}
	if tlsConfig != nil && len(tlsConfig.NextProtos) == 0 && cs.http1 && !watches {
		// HTTP/1.1 alone offered: client-go's defaults then leave HTTP/2 out of the transport
		tlsConfig = tlsConfig.Clone()
		tlsConfig.NextProtos = []string{"http/1.1"}
	}
	// A pool of requests over HTTP/1.1 (one request a connection: a burst would open one each)
	// opens connsPerHost at most. Not one of watches, which hold theirs as long as they last,
	// nor one of HTTP/2, which opens as many as the server's streams call for (one, in practice).
	maxConns := 0
	if !watches && (tlsConfig == nil || len(tlsConfig.NextProtos) > 0 && !slices.Contains(tlsConfig.NextProtos, "h2")) {
		maxConns = connsPerHost
	}
	dial := (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: setUserTimeout(userTimeout)}).DialContext
	if tc.DialHolder != nil {
		dial = tc.DialHolder.Dial
	}
	var rotation *certRotation
	if tc.TLS.ReloadTLSFiles && tlsConfig != nil && tlsConfig.GetClientCertificate != nil {
		d := connrotation.NewDialer(dial)
		dial = d.DialContext
		rotation = &certRotation{load: tlsConfig.GetClientCertificate, conns: d, checked: time.Now()}
		if cert, err := rotation.load(nil); err == nil && cert != nil {
			rotation.seen = cert.Certificate
		}
	}
	proxy := http.ProxyFromEnvironment
	if tc.Proxy != nil {
		proxy = tc.Proxy
	}
	base := utilnet.SetTransportDefaults(&http.Transport{
		Proxy:               proxy,
		TLSHandshakeTimeout: 10 * time.Second,
		TLSClientConfig:     tlsConfig,
		MaxIdleConnsPerHost: connsPerHost,
		MaxConnsPerHost:     maxConns,
		DialContext:         dial,
		DisableCompression:  tc.DisableCompression,
	})
	var inner http.RoundTripper = base
	if maxConns == 0 && tlsConfig != nil {
		inner = &firstConn{next: base} // a pool that may speak HTTP/2
	}
	if rotation != nil {
		rotation.next = inner
		inner = rotation
	}
	rt, err := transport.HTTPWrappersForConfig(tc, inner)
	if err != nil {
		base.CloseIdleConnections()
		return nil, err
	}
	hc := &http.Client{Transport: rt, Timeout: c.Timeout}
	cs.mu.Lock()
	if cs.closes == nil {
		cs.closes = map[*http.Client]func(){}
	}
	cs.closes[hc] = base.CloseIdleConnections
	cs.mu.Unlock()
	return hc, nil
}

// firstConn holds a pool's requests while its first one is in flight, until one has had its
// answer: net/http dials a connection for each request that finds none and learns only from
// the TLS handshake that the server speaks HTTP/2, so a burst on a pool with no connection yet
// (every target starting at once) made a TLS handshake per request, with the API server too,
// and closed all but one of those connections once negotiated. Once one request has had its
// answer, its connection carries the rest (HTTP/2 still opens another when the server's
// streams on it are all in use). A request waiting its turn ends with its context.
type firstConn struct {
	next http.RoundTripper

	mu   sync.Mutex
	warm bool          // a request went through: no more waiting
	busy chan struct{} // closed when the request in flight ends; nil when none is
}

func (f *firstConn) RoundTrip(req *http.Request) (*http.Response, error) {
	for {
		f.mu.Lock()
		if f.warm {
			f.mu.Unlock()
			return f.next.RoundTrip(req)
		}
		busy := f.busy
		if busy == nil {
			done := make(chan struct{})
			f.busy = done
			f.mu.Unlock()
			resp, err := f.next.RoundTrip(req)
			f.mu.Lock()
			f.warm, f.busy = err == nil, nil
			f.mu.Unlock()
			close(done)
			return resp, err
		}
		f.mu.Unlock()
		select {
		case <-busy:
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
}

// WrappedRoundTripper lets client-go's helpers find the transport underneath.
func (f *firstConn) WrappedRoundTripper() http.RoundTripper { return f.next }

// certRecheck is how often, at most, a pool whose client certificate is named by file reads
// the files again, before a request, to close its connections if the certificate changed.
var certRecheck = time.Minute

// certRotation closes a pool's connections, made with a client certificate named by file,
// once the files hold another certificate: the API server checks the certificate of a
// connection at each request, so a connection made with the one replaced would fail once it
// expires. The check runs before a request, at most every certRecheck, and reads the files
// through client-go's loader (which reads them again once its copy is a second old); a new
// connection presents what the files hold then.
type certRotation struct {
	next  http.RoundTripper
	load  func(*tls.CertificateRequestInfo) (*tls.Certificate, error)
	conns *connrotation.Dialer

	mu      sync.Mutex
	checked time.Time
	seen    [][]byte // the certificate chain read last
}

func (r *certRotation) RoundTrip(req *http.Request) (*http.Response, error) {
	r.check()
	return r.next.RoundTrip(req)
}

// WrappedRoundTripper lets client-go's helpers find the transport underneath.
func (r *certRotation) WrappedRoundTripper() http.RoundTripper { return r.next }

func (r *certRotation) check() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) < certRecheck {
		return
	}
	r.checked = time.Now()
	cert, err := r.load(nil)
	if err != nil || cert == nil {
		return // the next handshake reports it
	}
	if r.seen != nil && !slices.EqualFunc(r.seen, cert.Certificate, bytes.Equal) {
		r.conns.CloseAll()
	}
	r.seen = cert.Certificate
}

// drop closes the idle connections of hc's pool, no longer used, and forgets it.
func (cs *connections) drop(hc *http.Client) {
	cs.mu.Lock()
	f := cs.closes[hc]
	delete(cs.closes, hc)
	cs.mu.Unlock()
	if f != nil {
		f()
	}
}

// pools is the number of pools open.
func (cs *connections) pools() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return len(cs.closes)
}

// closeIdle closes the idle connections of every pool opened.
func (cs *connections) closeIdle() {
	cs.mu.Lock()
	closes := make([]func(), 0, len(cs.closes))
	for _, f := range cs.closes {
		closes = append(closes, f)
	}
	cs.mu.Unlock()
	for _, f := range closes {
		f()
	}
}
