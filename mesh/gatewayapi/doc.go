// Package gatewayapi holds what canarykit checks of Gateway API (gateway.networking.k8s.io)
// values before they reach a cluster: its group name, its Duration syntax (GEP-2257), which
// an HTTPRoute rule's timeouts take (Flagger's spec.service.timeout and backendTimeout), and
// Service, the part of a Canary's spec.service an HTTPRoute carries besides its parents and
// hostnames (match, headers, rewrite, mirror, corsPolicy), with what of it Gateway API cannot
// express.
//
// A mirror entry (Mirror) is a core Service: Gateway API's other backend kinds are
// implementation-specific, and canarykit refuses them. One in another namespace is written as
// given, as Flagger writes it: Gateway API needs a ReferenceGrant in that namespace (from
// HTTPRoutes of the Canary's namespace to Services) before a controller sends it copies;
// without one the route's status reports ResolvedRefs False, RefNotPermitted. A CORS policy is
// mapped as Flagger maps it (allowOrigin to allowOrigins, methods, headers, exposed headers,
// maxAge in seconds, allowCredentials), plus the exact entries of allowOrigins, which Flagger
// drops; the CORS filter is an experimental-channel filter (the standard channel's HTTPRoute
// CRD, v1.4 included, refuses it).
//
// kube/flagger checks a Canary's fields with it, at their paths, and mesh's HTTPRoute router
// checks what it is given to write (mesh.HTTPRoute.WithTimeouts, WithService), so that a value
// the HTTPRoute CRD would refuse is refused before any request.
//
// The package imports neither client-go nor net/http: a program that only loads manifests
// stays small.
package gatewayapi
