package istioapi

import (
	"fmt"
	"slices"
	"strings"

	"github.com/canarykit/canarykit/canary"
)

// BoundToMesh reports whether s's VirtualService applies to the mesh's sidecars: its gateways
// are none (Istio's default, "mesh") or include "mesh". A delegate has no gateways of its own.
func (s Service) BoundToMesh() bool {
	return !s.Delegation && (len(s.Gateways) == 0 || slices.Contains(s.Gateways, "mesh"))
}

// HostConflicts is what s's hosts would route beyond the target whose apex Service is apex in
// namespace, at their paths ("hosts[i]"), when its VirtualService is bound to the mesh
// (BoundToMesh): there a host is a destination the sidecars of the whole mesh route by, so
// a host naming another Service of the cluster would send that Service's traffic to the
// target's pods. Refused: "*" (Istio refuses it there too), a short name other than apex (a
// Service of namespace, as Istio reads short names), a name.namespace.svc[.domain] name of
// another Service (any namespace's apex name when namespace is "", not known yet), and a wildcard over Services' names ("*.svc.cluster.local",
// "*.<namespace>.svc.cluster.local", "*.cluster.local", "*.local"). Hosts of a VirtualService
// bound to gateways only are what those gateways serve, and left to them.
func (s Service) HostConflicts(namespace, apex string) []canary.FieldError {
	if !s.BoundToMesh() {
		return nil
	}
	var out []canary.FieldError
	for i, h := range s.Hosts {
		if why := meshHostConflict(h, namespace, apex); why != "" {
			out = append(out, canary.FieldError{Field: fmt.Sprintf("hosts[%d]", i), Message: why})
		}
	}
	return out
}

// meshHostConflict says why host, on a VirtualService bound to the mesh, routes beyond the
// target's apex Service apex of namespace ("" when it does not).
func meshHostConflict(host, namespace, apex string) string {
	const then = "a VirtualService bound to the mesh gateway would route it to this target; list the target's own hosts, or bind the VirtualService to gateways only (spec.service.gateways without mesh)"
	if host == "*" {
		return `"*" on a VirtualService bound to the mesh gateway would take every Service's traffic (Istio refuses it there); name the hosts`
	}
	labels := strings.Split(host, ".")
	if labels[0] == "*" {
		rest := strings.Join(labels[1:], ".")
		if rest == "local" || rest == "cluster.local" || slices.Contains(labels[1:], "svc") {
			return fmt.Sprintf("%s covers the cluster's Services, not only %s: %s", shownHost(host), apex, then)
		}
		return ""
	}
	switch {
	case len(labels) == 1 && host != apex:
		return fmt.Sprintf("%s is the short name of Service %s/%s, not of the apex Service %s: %s", shownHost(host), namespace, host, apex, then)
	case len(labels) >= 3 && labels[2] == "svc" && (labels[0] != apex || namespace != "" && labels[1] != namespace):
		return fmt.Sprintf("%s names Service %s/%s, not the apex Service %s/%s: %s", shownHost(host), labels[1], labels[0], namespace, apex, then)
	}
	return ""
}

// shownHost quotes a host for a message, cut short.
func shownHost(h string) string { return fmt.Sprintf("%q", cut(h)) }
