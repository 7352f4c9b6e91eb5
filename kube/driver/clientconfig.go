package driver

import (
	"net"
	"net/http"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport"
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
// harness logs; see the README). The rate limiter is cfg's: one budget still.
//
// Each pool is made once per driver (one for each router kind and version), from a config
// with a dialer of its own, which client-go keys anew in its process-wide transport cache:
// each pool is one entry there, kept for the life of the process (four at New and one per
// router: a process that makes and closes drivers accumulates them, and Close closes their
// idle connections). The clients made each from such a config, as the SMI clientsets do
// (NewForConfig: one transport per version and group), made 15 a driver. Pools kept out of
// the cache (a config with a Proxy is never cached) would leave nothing behind, but at 1,000
// targets their steps' p99 lateness was 1.18 to 1.46 s in four runs, against 0.31 to 0.59 s
// in three with these: why is not known (the transports client-go builds are the same). A config
// with a custom Transport keeps it: its clients share its connections, and it is the
// embedder's to close. A config that names its client certificate by file also leaves,
// with each pool, a goroutine client-go starts to reread the files and never stops.
type connections struct {
	mu     sync.Mutex
	closes map[*http.Client]func() // each pool's CloseIdleConnections
}

// open returns a new pool's http.Client for clients of cfg (whose rate limiter, credentials,
// wrappers and user agent, by default client-go's, it keeps).
func (cs *connections) open(cfg *rest.Config) (*http.Client, error) {
	c := rest.CopyConfig(cfg)
	if c.UserAgent == "" {
		// set in the client's transport, as client-go's NewForConfig does
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	if c.Transport != nil {
		return rest.HTTPClientFor(c)
	}
	if c.Dial == nil {
		// client-go's own dialer, but a transport of its own
		c.Dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	var base *http.Transport
	c.WrapTransport = transport.Wrappers(func(rt http.RoundTripper) http.RoundTripper {
		base, _ = rt.(*http.Transport)
		return rt
	}, cfg.WrapTransport)
	hc, err := rest.HTTPClientFor(c)
	if err != nil {
		return nil, err
	}
	if base != nil {
		cs.mu.Lock()
		if cs.closes == nil {
			cs.closes = map[*http.Client]func(){}
		}
		cs.closes[hc] = base.CloseIdleConnections
		cs.mu.Unlock()
	}
	return hc, nil
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
