package flagger

import (
	"fmt"

	"github.com/canarykit/canarykit/canary"
)

// name reads an object name (a lowercase RFC 1123 subdomain) at key, reporting a malformed
// one, or a missing one when required.
func (o *object) name(key string, required bool) string {
	s := o.str(key)
	switch {
	case s == "" && required:
		o.d.fail(o.at(key), "required")
	case s != "" && !canary.IsDNSSubdomain(s):
		o.d.fail(o.at(key), "%s is not a valid Kubernetes name (lowercase RFC 1123)", shown(s))
	}
	return s
}

// namespace reads a namespace (a lowercase RFC 1123 label) at key, reporting a malformed
// one; def (checked where it was read) when the key is absent, null or empty.
func (o *object) namespace(key, def string) string {
	s := o.str(key)
	switch {
	case s == "":
		return def
	case !canary.IsDNSLabel(s):
		o.d.fail(o.at(key), "%s is not a valid namespace (lowercase RFC 1123 label)", shown(s))
	}
	return s
}

// strOr returns the string at key, or def when the key is absent or null. Unlike str, an
// explicit empty string is kept (Gateway API's core group is "").
func (o *object) strOr(key, def string) string {
	if v, ok := o.m[key]; !ok || v == nil {
		o.seen[key] = true
		return def
	}
	return o.str(key)
}

// checkServiceNames reports a target name or service name that cannot name the Services
// canarykit creates: the apex (spec.service.name, or the target's name without it) and its
// "-primary" and "-canary" Services, which must be DNS-1035 labels of at most 63 characters,
// and the primary Deployment "<target>-primary", whose name is a label value of its pods.
func checkServiceNames(d *decoder, spec *object, m *Canary) {
	const primary = "-primary"
	target, service := m.Target.Name, m.Target.Service
	if target != "" && canary.IsDNSSubdomain(target) && len(target+primary) > 63 {
		d.fail(spec.at("targetRef.name"), "%s is too long: %s must fit in 63 characters", shown(target), shown(target+primary))
		target = "" // reported
	}
	why := func(apex string) string {
		return fmt.Sprintf("is not a valid Service name: want a DNS-1035 label (lowercase letters, digits and '-', starting with a letter, no dots) of at most %d characters, so that %s fits in 63",
			63-len(primary), shown(apex+primary))
	}
	switch {
	case service != "":
		if !isServiceName(service) || len(service+primary) > 63 {
			d.fail(spec.at("service.name"), "%s %s", shown(service), why(service))
		}
	case target != "" && canary.IsDNSSubdomain(target) && !isServiceName(target):
		d.fail(spec.at("targetRef.name"), "%s names the apex Service when spec.service.name is not set, and %s; set spec.service.name",
			shown(target), why(target))
	}
}

// isServiceName tells whether s is a DNS-1035 label (a Service name): a lowercase RFC 1123
// label that starts with a letter.
func isServiceName(s string) bool { return canary.IsDNSLabel(s) && s[0] >= 'a' && s[0] <= 'z' }
