package flagger

import (
	"strings"
)

// RouterKind is the kind of route object a Canary's traffic is shifted with, chosen from
// spec.provider (and spec.service.gatewayRefs) as Flagger chooses its router.
type RouterKind string

// The router kinds canarykit drives.
const (
	// RouterDefault: spec.provider is empty; the driver's default applies.
	RouterDefault RouterKind = ""
	// RouterSMI is an SMI TrafficSplit (linkerd-smi; the served version discovered, or the
	// one spec.provider names as smi:<version>).
	RouterSMI RouterKind = "smi"
	// RouterHTTPRoute is a Gateway API HTTPRoute (Linkerd >= 2.14, gatewayapi:<version>):
	// its parents are the Canary's GatewayRefs, or the apex Service (GAMMA) without them.
	RouterHTTPRoute RouterKind = "httproute"
	// RouterKubernetes switches the apex Service's selector (blue/green only, no mesh).
	RouterKubernetes RouterKind = "kubernetes"
)

// Router is the router a Canary's spec.provider chooses.
type Router struct {
	// Kind is the route object kind.
	Kind RouterKind
	// APIVersion is the route API version spec.provider pins (e.g. "v1alpha2" for
	// smi:v1alpha2, "v1" for gatewayapi:v1); "" means discover the served one.
	APIVersion string
	// Provider is spec.provider as written.
	Provider string
}

// ParentRef is one of spec.service.gatewayRefs: a Gateway (north-south) or a Service
// (GAMMA, east-west) the HTTPRoute attaches to.
type ParentRef struct {
	// Group and Kind default to gateway.networking.k8s.io and Gateway, as in Gateway API.
	Group, Kind string
	// Name is required; Namespace defaults to the Canary's.
	Name, Namespace string
	// SectionName and Port select a listener (Gateway) or port (Service), if set.
	SectionName string
	Port        int32
}

// parseProvider maps spec.provider to a router, or reports why canarykit cannot drive it.
func parseProvider(provider string, gatewayRefs bool) (Router, string) {
	r := Router{Provider: provider}
	name, version, _ := strings.Cut(provider, ":")
	switch name {
	case "":
		r.Kind = RouterDefault
	case "linkerd":
		r.Kind = RouterSMI
		if gatewayRefs {
			r.Kind = RouterHTTPRoute
		}
	case "smi":
		r.Kind, r.APIVersion = RouterSMI, version
	case "gatewayapi":
		r.Kind, r.APIVersion = RouterHTTPRoute, version
	case "kubernetes":
		r.Kind = RouterKubernetes
	default:
		return r, "canarykit cannot drive provider " + provider
	}
	return r, ""
}
