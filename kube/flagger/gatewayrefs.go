package flagger

import (
	"fmt"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh/gatewayapi"
)

// maxGatewayRefs is Gateway API's limit on an HTTPRoute's parentRefs.
const maxGatewayRefs = 32

// ParentRef is one of spec.service.gatewayRefs: a Gateway (north-south) or a Service
// (GAMMA, east-west) the HTTPRoute attaches to, as Gateway API's ParentReference has it.
type ParentRef struct {
	// Group and Kind default to gateway.networking.k8s.io and Gateway, as in Gateway API. A
	// Service parent is in the core group: "" (Gateway API's spelling) or "core" (Linkerd's),
	// kept as written.
	Group, Kind string
	// Name is required; Namespace defaults to the Canary's.
	Name, Namespace string
	// SectionName and Port select a listener (Gateway) or port (Service), if set (0: none).
	SectionName string
	Port        int32
}

// IsService tells whether the parent is a Service (GAMMA: east-west traffic in the mesh)
// rather than a Gateway.
func (p ParentRef) IsService() bool { return p.Kind == "Service" }

// String returns "Kind namespace/name", with ":sectionName" and ":port" if set.
func (p ParentRef) String() string {
	s := p.Kind + " " + p.Namespace + "/" + p.Name
	if p.SectionName != "" {
		s += ":" + p.SectionName
	}
	if p.Port != 0 {
		s += fmt.Sprintf(":%d", p.Port)
	}
	return s
}

// decodeGatewayRefs reads spec.service.gatewayRefs, defaulting and validating each entry by
// path; namespace is the Canary's.
func decodeGatewayRefs(d *decoder, svc *object, namespace string) []ParentRef {
	items := svc.list("gatewayRefs")
	if len(items) > maxGatewayRefs {
		d.fail(svc.at("gatewayRefs"), "at most %d parents (Gateway API's limit), got %d", maxGatewayRefs, len(items))
		return nil
	}
	var refs []ParentRef
	var at []int // each ref's index in the list
	for i, o := range items {
		before := len(d.problems)
		p := ParentRef{
			Group:       o.strOr("group", gatewayapi.Group),
			Kind:        o.strOr("kind", "Gateway"),
			Name:        o.name("name", true),
			Namespace:   o.namespace("namespace", namespace),
			SectionName: o.str("sectionName"),
		}
		switch p.Kind {
		case "Gateway":
			if p.Group != gatewayapi.Group {
				d.fail(o.at("group"), "a Gateway is in group %s, got %s", gatewayapi.Group, shown(p.Group))
			}
		case "Service":
			if p.Group != "" && p.Group != "core" {
				d.fail(o.at("group"), `a Service is in the core group ("" or core), got %s`, shown(p.Group))
			}
		default:
			d.fail(o.at("kind"), "must be Gateway (north-south) or Service (GAMMA, east-west), got %s", shown(p.Kind))
		}
		if p.SectionName != "" && !canary.IsDNSSubdomain(p.SectionName) {
			d.fail(o.at("sectionName"), "%s is not a valid section name (lowercase RFC 1123)", shown(p.SectionName))
		}
		if o.has("port") {
			p.Port = o.port("port")
		}
		o.done()
		if len(d.problems) > before {
			continue // reported; not compared with the others
		}
		for j, q := range refs {
			if q == p {
				d.fail(fmt.Sprintf("%s[%d]", svc.at("gatewayRefs"), i), "the same parent as gatewayRefs[%d] (%s)", at[j], p)
			}
		}
		refs, at = append(refs, p), append(at, i)
	}
	return refs
}
