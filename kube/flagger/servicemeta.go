package flagger

import (
	"slices"
	"strings"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh/gatewayapi"
)

// decodeServiceObjects reads spec.service's fields that shape the generated objects: the
// labels and annotations of the apex, primary and canary Services (apex's also on the route
// object, for the routers Flagger writes them on), the keys others write on the Services
// (unmanagedMetadata), headless and trafficDistribution into m.Workload, and the HTTPRoute's
// backendTimeout into m.BackendTimeout. Each is checked as Kubernetes (or Gateway API) checks
// it, at its path; which provider may carry backendTimeout is checked with the provider
// (checkBackendTimeout).
func decodeServiceObjects(d *decoder, svc *object, m *Canary) {
	w := &m.Workload
	w.ApexMetadata = decodeCustomMetadata(d, svc, "apex")
	w.PrimaryMetadata = decodeCustomMetadata(d, svc, "primary")
	w.CanaryMetadata = decodeCustomMetadata(d, svc, "canary")
	if svc.has("unmanagedMetadata") {
		u := svc.obj("unmanagedMetadata")
		keys := canary.MetadataKeys{Labels: boundedStrs(u, "labels", canary.MaxMetadataEntries), Annotations: boundedStrs(u, "annotations", canary.MaxMetadataEntries)}
		u.done()
		for _, p := range keys.Problems(u.path) {
			d.fail(p.Field, "%s", p.Message)
		}
		w.UnmanagedMetadata = keys
	}
	w.Headless = svc.bool("headless")
	if v := svc.str("trafficDistribution"); v != "" {
		if !slices.Contains(canary.TrafficDistributions, v) {
			d.fail(svc.at("trafficDistribution"), "must be one of %s (as Kubernetes v1.34 accepts), got %s",
				strings.Join(canary.TrafficDistributions, ", "), shown(v))
		}
		w.TrafficDistribution = v
	}
	if v := svc.str("backendTimeout"); v != "" {
		if why := gatewayapi.DurationProblem(v); why != "" {
			d.fail(svc.at("backendTimeout"), "%s", why)
		}
		m.BackendTimeout = v
	}
}

// decodeCustomMetadata reads a Flagger CustomMetadata (labels and annotations, mappings of
// strings) at key, checked as Kubernetes checks an object's metadata (canary.Metadata).
func decodeCustomMetadata(d *decoder, svc *object, key string) canary.Metadata {
	if !svc.has(key) {
		return canary.Metadata{}
	}
	o := svc.obj(key)
	md := canary.Metadata{Labels: metadataMap(o, "labels"), Annotations: metadataMap(o, "annotations")}
	o.done()
	for _, p := range md.Problems(o.path) {
		d.fail(p.Field, "%s", p.Message)
	}
	return md
}

// metadataMap reads a mapping of strings of at most canary.MaxMetadataEntries entries (a
// longer one is reported once, unread).
func metadataMap(o *object, key string) map[string]string {
	if v, ok := o.m[key].(map[string]any); ok && len(v) > canary.MaxMetadataEntries {
		o.seen[key] = true
		o.d.fail(o.at(key), "at most %d entries, got %d", canary.MaxMetadataEntries, len(v))
		return nil
	}
	return o.strMap(key)
}

// checkGatewayTimeouts refuses spec.service.backendTimeout for a provider whose router is not
// a Gateway API HTTPRoute: Flagger writes it into HTTPRoute rules only and ignores it
// elsewhere. Without spec.provider the driver's default router decides (a Note says so). With
// an HTTPRoute, spec.service.timeout is the rules' timeouts.request, as Flagger writes it: a
// Gateway API Duration, which backendTimeout may not exceed (Gateway API's rule).
func checkGatewayTimeouts(d *decoder, spec *object, m *Canary) {
	switch {
	case m.Router.Kind == RouterHTTPRoute:
		request := m.Service.Timeout
		if request == 0 {
			return
		}
		if why := gatewayapi.DurationProblem(request.String()); why != "" {
			d.fail(spec.at("service.timeout"), "%s", why)
			return
		}
		if backend, err := time.ParseDuration(m.BackendTimeout); err == nil && backend > time.Duration(request) {
			d.fail(spec.at("service.backendTimeout"), "%s is longer than spec.service.timeout %s: Gateway API refuses a backend request timeout longer than the request timeout",
				m.BackendTimeout, request)
		}
	case m.BackendTimeout == "":
	case m.Router.Kind == RouterDefault:
		m.Notes = append(m.Notes, "spec.provider is not set: spec.service.backendTimeout is for the driver's default router, which must write a Gateway API HTTPRoute")
	default:
		d.fail(spec.at("service.backendTimeout"), "only a Gateway API HTTPRoute carries it (its rules' timeouts.backendRequest); provider %s writes none, and Flagger ignores it there", shown(m.Router.Provider))
	}
}
