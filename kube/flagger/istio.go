package flagger

import (
	"fmt"
	"net"
	"slices"
	"strings"
)

// maxIstioNames bounds spec.service.hosts and spec.service.gateways (the Istio router's limit).
const maxIstioNames = 64

// decodeIstioService reads spec.service.hosts and spec.service.gateways: the VirtualService's
// extra hosts (DNS names, optionally under a "*." wildcard, or "*") and the Istio Gateways it
// binds to ("mesh", "<name>" or "<namespace>/<name>").
func decodeIstioService(d *decoder, svc *object, m *Canary) {
	m.Hosts = strList(d, svc, "hosts", func(s string) string {
		if s == "*" || isDNSSubdomain(strings.TrimPrefix(s, "*.")) {
			return ""
		}
		return "a DNS name (lowercase RFC 1123), optionally after \"*.\", or \"*\""
	})
	m.Gateways = strList(d, svc, "gateways", func(s string) string {
		ns, name, qualified := strings.Cut(s, "/")
		if !qualified {
			name = ns
		}
		if (qualified && !isDNSLabel(ns)) || !isDNSSubdomain(name) {
			return "mesh, or a Gateway as <name> or <namespace>/<name> (lowercase RFC 1123)"
		}
		return ""
	})
}

// strList reads a list of distinct strings, each checked by valid (which returns what a value
// must be, or "" when it is fine).
func strList(d *decoder, o *object, key string, valid func(string) string) []string {
	v, ok := o.get(key)
	if !ok || v == nil {
		return nil
	}
	items, isList := v.([]any)
	if !isList {
		d.fail(o.at(key), "must be a list of strings")
		return nil
	}
	if len(items) > maxIstioNames {
		d.fail(o.at(key), "at most %d, got %d", maxIstioNames, len(items))
		return nil
	}
	var out []string
	for i, it := range items {
		at := fmt.Sprintf("%s[%d]", o.at(key), i)
		s, isStr := it.(string)
		switch {
		case !isStr:
			d.fail(at, "must be a string")
		case valid(s) != "":
			d.fail(at, "must be %s, got %s", valid(s), shown(s))
		case slices.Contains(out, s):
			d.fail(at, "%s is listed twice", shown(s))
		default:
			out = append(out, s)
		}
	}
	return out
}

// checkIstio refuses what the Istio router would not honour: hosts and gateways without it
// (no VirtualService to hold them; hosts are also an HTTPRoute's hostnames, as in Flagger)
// and, with it, a TCP service (Flagger routes those with TCP routes; canarykit's
// VirtualService has HTTP routes only).
func checkIstio(d *decoder, spec *object, m *Canary) {
	if m.Router.Kind == RouterDefault && (len(m.Hosts) > 0 || len(m.Gateways) > 0) {
		// the driver's default router decides, as Flagger's -mesh-provider (istio by default)
		// does: the driver refuses them unless it is Istio's (or, for hosts, an HTTPRoute)
		m.Notes = append(m.Notes, "spec.provider is not set: spec.service.hosts and gateways are for the driver's default router, which must be istio (hosts: or a Gateway API HTTPRoute)")
		return
	}
	if m.Router.Kind != RouterIstio {
		if len(m.Hosts) > 0 && m.Router.Kind != RouterHTTPRoute {
			d.fail(spec.at("service.hosts"), "only provider istio (the VirtualService's hosts) or a Gateway API HTTPRoute (its hostnames) uses them (spec.provider is %s)", shown(m.Router.Provider))
		}
		for i, h := range m.Hosts {
			if m.Router.Kind == RouterHTTPRoute && (h == "*" || net.ParseIP(strings.TrimPrefix(h, "*.")) != nil) {
				d.fail(fmt.Sprintf("%s[%d]", spec.at("service.hosts"), i), "%s is not a Gateway API hostname (a DNS name, optionally after \"*.\"; omit hosts for every hostname)", shown(h))
			}
		}
		if len(m.Gateways) > 0 {
			d.fail(spec.at("service.gateways"), "only provider istio writes a VirtualService for them (spec.provider is %s)", shown(m.Router.Provider))
		}
		return
	}
	if strings.EqualFold(m.Workload.AppProtocol, "tcp") {
		d.fail(spec.at("service.appProtocol"), "canarykit's Istio router writes HTTP routes only; a TCP service is not supported yet")
	}
}
