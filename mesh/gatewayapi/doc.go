// Package gatewayapi holds what canarykit checks of Gateway API (gateway.networking.k8s.io)
// values before they reach a cluster: its group name, and its Duration syntax (GEP-2257),
// which an HTTPRoute rule's timeouts take (Flagger's spec.service.timeout and backendTimeout).
//
// kube/flagger checks a Canary's fields with it, at their paths, and mesh's HTTPRoute router
// checks what it is given to write (mesh.HTTPRoute.WithTimeouts), so that a value the
// HTTPRoute CRD would refuse is refused before any request.
//
// The package imports neither client-go nor net/http: a program that only loads manifests
// stays small.
package gatewayapi
