package flagger

import (
	"fmt"
	"slices"
	"strings"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/textcut"
)

// RouterKind is the kind of route object a Canary's traffic is shifted with, chosen from
// spec.provider (and spec.service.gatewayRefs) as Flagger chooses its router.
type RouterKind string

// The router kinds canarykit drives.
const (
	// RouterDefault: spec.provider is empty and there are no gatewayRefs; the driver's
	// default applies.
	RouterDefault RouterKind = ""
	// RouterSMI is an SMI TrafficSplit (linkerd-smi; the served version discovered, or the
	// one spec.provider names as smi:<version>).
	RouterSMI RouterKind = "smi"
	// RouterHTTPRoute is a Gateway API HTTPRoute (Linkerd >= 2.14, gatewayapi:<version>):
	// its parents are the Canary's GatewayRefs, or the apex Service (GAMMA) without them.
	RouterHTTPRoute RouterKind = "httproute"
	// RouterKubernetes switches the apex Service's selector (blue/green only, no mesh).
	RouterKubernetes RouterKind = "kubernetes"
	// RouterNGINX is an ingress-nginx canary Ingress copied from spec.ingressRef.
	RouterNGINX RouterKind = "nginx"
	// RouterIstio is an Istio VirtualService and DestinationRules (provider istio; the served
	// networking.istio.io version discovered), with the Canary's Service (hosts, gateways and
	// Istio fields).
	RouterIstio RouterKind = "istio"
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

// The route API versions spec.provider may pin.
var (
	smiVersions     = []string{"v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4"}
	gatewayVersions = []string{"v1", "v1beta1"}
	// flaggerProviders are the providers Flagger drives and canarykit does not (yet).
	flaggerProviders = []string{"appmesh", "contour", "gloo", "skipper", "traefik", "osm", "kuma", "apisix", "knative"}
)

// SupportedProviders lists the spec.provider values canarykit drives ("" aside: the driver's
// default router).
func SupportedProviders() []string {
	out := []string{"linkerd", "kubernetes", "istio", "nginx"}
	for _, v := range gatewayVersions {
		out = append(out, "gatewayapi:"+v)
	}
	for _, v := range smiVersions {
		out = append(out, "smi:"+v)
	}
	return out
}

// parseProvider maps spec.provider to a router as Flagger does, or says why canarykit cannot
// drive it. gatewayRefs tells whether spec.service.gatewayRefs are given: with them, linkerd
// and an empty provider mean an HTTPRoute (Linkerd >= 2.14), the only route they attach.
func parseProvider(provider string, gatewayRefs bool) (Router, string) {
	r := Router{Provider: provider}
	supported := "; supported: " + strings.Join(SupportedProviders(), ", ")
	name, version, _ := strings.Cut(provider, ":")
	switch {
	case provider == "" || provider == "linkerd":
		r.Kind = RouterSMI
		if provider == "" {
			r.Kind = RouterDefault
		}
		if gatewayRefs {
			r.Kind = RouterHTTPRoute
		}
	case provider == "kubernetes":
		r.Kind = RouterKubernetes
	case provider == "nginx":
		r.Kind = RouterNGINX
	case provider == "istio":
		r.Kind = RouterIstio
	case name == "gatewayapi":
		if !slices.Contains(gatewayVersions, version) {
			return r, fmt.Sprintf("%s: Gateway API HTTPRoute version must be one of %s%s",
				shown(provider), strings.Join(gatewayVersions, ", "), supported)
		}
		r.Kind, r.APIVersion = RouterHTTPRoute, version
	case name == "smi":
		// Flagger writes smi:<version>:<mesh>; canarykit's data plane is Linkerd's
		v, mesh, hasMesh := strings.Cut(version, ":")
		switch {
		case !slices.Contains(smiVersions, v):
			return r, fmt.Sprintf("%s: SMI TrafficSplit version must be one of %s%s",
				shown(provider), strings.Join(smiVersions, ", "), supported)
		case hasMesh && mesh != "linkerd":
			return r, fmt.Sprintf("canarykit drives SMI TrafficSplits for linkerd only, got mesh %s in %s%s",
				shown(mesh), shown(provider), supported)
		}
		r.Kind, r.APIVersion = RouterSMI, v
	case slices.Contains(flaggerProviders, name):
		return r, fmt.Sprintf("canarykit cannot drive provider %s yet%s", shown(provider), supported)
	default:
		return r, fmt.Sprintf("unknown provider %s%s", shown(provider), supported)
	}
	return r, ""
}

// word writes a value read from a manifest as it is when it is a plain lowercase word (a type
// name such as datadog), else as shown does.
func word(s string) string {
	if canary.IsDNSLabel(s) {
		return s
	}
	return shown(s)
}

// shownValue is v for a message: a string as shown quotes it, anything else (a number, a
// list, a mapping of a manifest) as %v writes it, cut to the same length.
func shownValue(v any) string {
	if s, ok := v.(string); ok {
		return shown(s)
	}
	return textcut.Bytes(fmt.Sprint(v), shownLimit)
}

// shown quotes a value read from a manifest for a message, cut to 64 bytes.
func shown(s string) string { return textcut.Quote(s, shownLimit) }

// shownLimit is how many bytes of a manifest's value a message quotes.
const shownLimit = 64
