// Package gatewayapi holds what canarykit checks of Gateway API (gateway.networking.k8s.io)
// values before they reach a cluster: its group name, its Duration syntax (GEP-2257), which
// an HTTPRoute rule's timeouts take (Flagger's spec.service.timeout and backendTimeout), and
// Service, the part of a Canary's spec.service an HTTPRoute carries besides its parents and
// hostnames (match, headers, rewrite), with what of it Gateway API cannot express.
//
// kube/flagger checks a Canary's fields with it, at their paths, and mesh's HTTPRoute router
// checks what it is given to write (mesh.HTTPRoute.WithTimeouts, WithService), so that a value
// the HTTPRoute CRD would refuse is refused before any request.
//
// The package imports neither client-go nor net/http: a program that only loads manifests
// stays small.
package gatewayapi
