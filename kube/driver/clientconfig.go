package driver

import (
	"net"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
)

// builtinConfig is cfg for the client of Kubernetes' own resources (Deployments, Services,
// Leases, Events and their informers): protobuf in every request, cheaper to encode and
// decode than JSON, unless cfg names a content type. (client-go's generated requests prefer
// protobuf already; its hand-written ones, such as the Events' sink, would speak JSON.) The clients of custom resources (Canaries, routes) keep
// cfg's JSON: the API server serves custom resources without protobuf. The rate limiter is
// cfg's.
func builtinConfig(cfg *rest.Config) *rest.Config {
	if cfg.ContentType != "" {
		return cfg
	}
	c := rest.CopyConfig(cfg)
	c.ContentType = runtime.ContentTypeProtobuf
	c.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	return c
}

// ownConnection is cfg for clients that each have a connection of their own to the API
// server. client-go shares one transport, and so one HTTP/2 connection, among all clients of
// the same TLS settings; a config with a dialer gets a new transport for every client made from
// it. The driver gives one to its watches (the informer caches and the Lease watch,
// kube.Options.WatchClient) and one to each client of custom resources (each router's, the
// Canary status'): at 1,000 targets on two saturated cores, with every client on the one
// connection, a step's route write reached the API server up to 1.6 s (p99) after the step's
// last query reached Prometheus; with those on connections of their own, 0.8 to 1.0 s (the split the scale
// harness logs; see the README). The rate limiter is cfg's: one budget still. A config with a
// custom Transport keeps it, and its clients share its connections.
func ownConnection(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	if c.Dial == nil {
		c.Dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	return c
}
