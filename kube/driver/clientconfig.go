package driver

import (
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
