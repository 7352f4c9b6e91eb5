package driver

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/mesh"
	"github.com/canarykit/canarykit/metrics"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"
)

// knownKind reports whether the driver can build a router of kind k.
func knownKind(k flagger.RouterKind) bool {
	switch k {
	case flagger.RouterSMI, flagger.RouterHTTPRoute, flagger.RouterKubernetes, flagger.RouterNGINX, flagger.RouterIstio:
		return true
	}
	return false
}

// builtinChecks are the queries of Flagger's built-in checks for a router kind, given the
// Driver's default router (def, the mesh its Canaries are in): Istio's for istio, NGINX's for
// nginx, the app's own HTTP metrics for kubernetes outside a Linkerd mesh (Flagger's with a
// mesh provider other than Linkerd's), Linkerd's otherwise (Flagger, in a Linkerd mesh,
// queries Linkerd's proxies for provider kubernetes too).
func builtinChecks(k, def flagger.RouterKind) map[string]string {
	switch k {
	case flagger.RouterNGINX:
		return metrics.NGINX()
	case flagger.RouterIstio:
		return metrics.Istio()
	case flagger.RouterKubernetes:
		if !linkerdMesh(def) {
			return metrics.Kubernetes()
		}
	}
	return metrics.Linkerd()
}

// linkerdMesh reports whether a Driver whose default router is of kind def routes through
// Linkerd: its SMI TrafficSplit or Gateway API HTTPRoute (the default).
func linkerdMesh(def flagger.RouterKind) bool {
	return def == flagger.RouterDefault || def == flagger.RouterSMI || def == flagger.RouterHTTPRoute
}

// routers builds routers on first use and shares them: one per kind and pinned version. Per
// target settings (an HTTPRoute's parents, port and hostnames; an Istio service) are views of
// the shared router.
type routers struct {
	d      *Driver
	mu     sync.Mutex
	by     map[string]canary.MeshRouter // by kind/version
	failed map[string]error             // the kinds/versions that cannot be built (no request is made)
}

func newRouters(d *Driver) *routers {
	return &routers{d: d, by: map[string]canary.MeshRouter{}, failed: map[string]error{}}
}

// choice is the router a Canary gets: its spec.provider's, else the Driver's default, else
// Linkerd's (SMI, or HTTPRoute with gatewayRefs).
func (rs *routers) choice(c *flagger.Canary) flagger.Router {
	r := c.Router
	if r.Kind == flagger.RouterDefault {
		r = rs.d.opts.DefaultRouter
	}
	if r.Kind == flagger.RouterDefault {
		r.Kind = flagger.RouterSMI
		if len(c.GatewayRefs) > 0 {
			r.Kind = flagger.RouterHTTPRoute
		}
	}
	return r
}

// forCanary returns the router of c (Options.Router if set). Errors name the Canary field.
func (rs *routers) forCanary(c *flagger.Canary) (canary.MeshRouter, error) {
	if k := c.Router.Kind; k != flagger.RouterDefault && !knownKind(k) {
		return nil, fmt.Errorf("spec.provider: canarykit cannot drive provider %q", c.Router.Provider)
	}
	if rs.d.opts.Router != nil {
		return rs.d.opts.Router, nil
	}
	choice := rs.choice(c)
	if len(c.GatewayRefs) > 0 && choice.Kind != flagger.RouterHTTPRoute {
		return nil, fmt.Errorf("spec.service.gatewayRefs: only a Gateway API router (HTTPRoute) attaches to them; spec.provider %q routes with %s",
			choice.Provider, choice.Kind)
	}
	// a Canary without spec.provider leaves its hosts, gateways and Istio fields to the
	// default router
	svc := c.Service
	if len(svc.Gateways) > 0 && choice.Kind != flagger.RouterIstio {
		return nil, fmt.Errorf("spec.service.gateways: only the Istio router writes a VirtualService for them; spec.provider %q routes with %s",
			choice.Provider, choice.Kind)
	}
	fields := c.IstioFields()
	if c.RequestTimeoutOff && choice.Kind == flagger.RouterIstio {
		return nil, fmt.Errorf("spec.service.timeout: must be at least 1ms, got 0s: Istio refuses a zero route timeout; leave it out for none (spec.provider %q routes with %s)",
			choice.Provider, choice.Kind)
	}
	if choice.Kind == flagger.RouterHTTPRoute { // Flagger writes these into the route's rules too
		fields = slices.DeleteFunc(fields, func(f string) bool { return slices.Contains(flagger.GatewayFields, f) })
	} else if c.RewriteType != "" {
		return nil, fmt.Errorf("spec.service.rewrite.type: only a Gateway API router (HTTPRoute) has a rewrite type; spec.provider %q routes with %s",
			choice.Provider, choice.Kind)
	}
	if len(fields) > 0 && choice.Kind != flagger.RouterIstio {
		return nil, fmt.Errorf("spec.service.%s: only the Istio router writes them into its VirtualService and DestinationRules; spec.provider %q routes with %s",
			strings.Join(fields, ", "), choice.Provider, choice.Kind)
	}
	if c.Spec.Mirror && choice.Kind != flagger.RouterIstio && choice.Kind != flagger.RouterHTTPRoute {
		// refused here, before anything in the cluster is touched, rather than by the
		// router's Reconcile once the target is bootstrapped
		return nil, fmt.Errorf("spec.analysis.mirror: only the Istio and Gateway API (HTTPRoute) routers copy requests to the canary; spec.provider %q routes with %s: %w",
			choice.Provider, choice.Kind, canary.ErrMirrorUnsupported)
	}
	if c.Spec.SessionAffinity != nil && choice.Kind != flagger.RouterIstio && choice.Kind != flagger.RouterHTTPRoute {
		return nil, fmt.Errorf("spec.analysis.sessionAffinity: only the Istio and Gateway API (HTTPRoute) routers route by cookie and set one; spec.provider %q routes with %s: %w",
			choice.Provider, choice.Kind, canary.ErrSessionAffinityUnsupported)
	}
	if len(svc.Hosts) > 0 && choice.Kind != flagger.RouterIstio && choice.Kind != flagger.RouterHTTPRoute {
		return nil, fmt.Errorf("spec.service.hosts: only the Istio router (the VirtualService's hosts) or an HTTPRoute (its hostnames) uses them; spec.provider %q routes with %s",
			choice.Provider, choice.Kind)
	}
	if len(c.ServiceMirror) > 0 && choice.Kind != flagger.RouterHTTPRoute {
		return nil, fmt.Errorf("spec.service.mirror: only a Gateway API router (HTTPRoute) writes its RequestMirror filters; spec.provider %q routes with %s",
			choice.Provider, choice.Kind)
	}
	if c.BackendTimeout != "" && choice.Kind != flagger.RouterHTTPRoute {
		return nil, fmt.Errorf("spec.service.backendTimeout: only a Gateway API router (HTTPRoute) writes it; spec.provider %q routes with %s",
			choice.Provider, choice.Kind)
	}
	if choice.Kind == flagger.RouterNGINX {
		// loading checks it for provider nginx; a Canary routed by the Driver's default says
		// nothing of NGINX, and Flagger refuses it then too (no ingressRef: "ingress selector
		// is empty"; a cookie under another spelling than cookie: a header match there)
		if err := c.CheckNGINX(); err != nil {
			return nil, err
		}
	}
	base, err := rs.shared(choice)
	if err != nil {
		field := "spec.provider"
		if c.Router.Kind == flagger.RouterDefault {
			field = "Options.DefaultRouter"
		}
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	if ir, ok := base.(*mesh.Istio); ok {
		r, err := ir.WithService(svc)
		if err != nil {
			return nil, fmt.Errorf("spec.service: %w", err)
		}
		if r, err = r.WithMetadata(c.Workload.ApexMetadata); err != nil {
			return nil, fmt.Errorf("spec.service.apex: %w", err)
		}
		if c.Workload.PortDiscovery && (c.Service.Delegation || len(c.Service.Gateways) > 0 && c.Service.Gateways[0] != "mesh") {
			// Flagger tells the gateways (or a delegate's root) which port of the multi-port
			// Services serves the route
			if r, err = r.WithDestinationPort(c.Workload.Port); err != nil {
				return nil, fmt.Errorf("spec.service.port: %w", err)
			}
		}
		return r, nil
	}
	hr, ok := base.(*mesh.HTTPRoute)
	if !ok {
		return base, nil
	}
	parents := make([]gwv1.ParentReference, 0, len(c.GatewayRefs))
	for _, g := range c.GatewayRefs {
		parents = append(parents, parentRef(g))
	}
	r, err := hr.WithParents(c.Workload.Port, parents...)
	if err != nil {
		return nil, fmt.Errorf("spec.service.gatewayRefs: %w", err)
	}
	if r, err = r.WithHostnames(svc.Hosts...); err != nil {
		return nil, fmt.Errorf("spec.service.hosts: %w", err)
	}
	if r, err = r.WithMetadata(c.Workload.ApexMetadata); err != nil {
		return nil, fmt.Errorf("spec.service.apex: %w", err)
	}
	var request string
	switch {
	case svc.Timeout != 0:
		request = svc.Timeout.String()
	case c.RequestTimeoutOff:
		request = "0s" // Gateway API's "no request timeout"
	}
	if r, err = r.WithTimeouts(request, c.BackendTimeout); err != nil {
		return nil, fmt.Errorf("spec.service.timeout, backendTimeout: %w", err)
	}
	if r, err = r.WithService(c.GatewayService()); err != nil {
		return nil, fmt.Errorf("spec.service: %w", err)
	}
	return r, nil
}

// builtins returns Flagger's built-in checks for the data plane c is routed through.
func (rs *routers) builtins(c *flagger.Canary) map[string]string {
	return builtinChecks(rs.choice(c).Kind, rs.d.opts.DefaultRouter.Kind)
}

// parentRef is a Gateway API parent reference for one of a Canary's gatewayRefs; empty fields
// are left for the router's defaults.
func parentRef(g flagger.ParentRef) gwv1.ParentReference {
	p := gwv1.ParentReference{Name: gwv1.ObjectName(g.Name)}
	if g.Group != "" {
		p.Group = ptr.To(gwv1.Group(g.Group))
	}
	if g.Kind != "" {
		p.Kind = ptr.To(gwv1.Kind(g.Kind))
	}
	if g.Namespace != "" {
		p.Namespace = ptr.To(gwv1.Namespace(g.Namespace))
	}
	if g.SectionName != "" {
		p.SectionName = ptr.To(gwv1.SectionName(g.SectionName))
	}
	if g.Port != 0 {
		p.Port = ptr.To(gwv1.PortNumber(g.Port))
	}
	return p
}

// shared returns the router of a kind and version, building it on first use. It makes no
// request (versions are discovered on first use by the router).
func (rs *routers) shared(r flagger.Router) (canary.MeshRouter, error) {
	key := string(r.Kind) + "/" + r.APIVersion
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if got, ok := rs.by[key]; ok {
		return got, nil
	}
	if err, ok := rs.failed[key]; ok {
		return nil, err
	}
	d := rs.d
	log := d.opts.Logger.WithName("mesh")
	var owner mesh.OwnerFunc
	if d.opts.OwnerReferences {
		owner = mesh.DeploymentOwner(d.client.AppsV1())
	}
	var (
		router canary.MeshRouter
		err    error
		hc     *http.Client // a connection of its own for the router of custom resources
	)
	switch r.Kind {
	case flagger.RouterSMI, flagger.RouterHTTPRoute, flagger.RouterIstio:
		if hc, err = d.conns.open(d.config, requestPool); err != nil {
			return nil, err
		}
	}
	switch r.Kind {
	case flagger.RouterSMI:
		var split *splitClients
		var specs *specsClients
		if split, err = newSplitClients(d.config, hc, d.client.Discovery()); err != nil {
			return nil, err
		}
		if specs, err = newSpecsClients(d.config, hc, d.client.Discovery()); err != nil {
			return nil, err
		}
		router, err = mesh.NewTrafficSplit(mesh.TrafficSplitOptions{Client: split, Specs: specs, Discovery: d.client.Discovery(),
			Version: r.APIVersion, Owner: owner, Logger: log})
	case flagger.RouterHTTPRoute:
		var gw *gatewayclient.Clientset
		if gw, err = gatewayclient.NewForConfigAndClient(d.config, hc); err != nil {
			return nil, err
		}
		router, err = mesh.NewHTTPRoute(mesh.HTTPRouteOptions{Client: gw, Discovery: d.client.Discovery(), Version: r.APIVersion,
			Services: d.client.CoreV1(), Owner: owner, Logger: log})
	case flagger.RouterIstio:
		var dyn *dynamic.DynamicClient
		if dyn, err = dynamic.NewForConfigAndClient(d.config, hc); err != nil {
			return nil, err
		}
		router, err = mesh.NewIstio(mesh.IstioOptions{Client: dyn, Discovery: d.client.Discovery(), Version: r.APIVersion,
			Owner: owner, Logger: log})
	case flagger.RouterKubernetes:
		if r.APIVersion != "" {
			return nil, fmt.Errorf("the kubernetes router has no version, got %q", r.APIVersion)
		}
		router, err = mesh.NewKubernetes(mesh.KubernetesOptions{Client: d.client.CoreV1(), Logger: log})
	case flagger.RouterNGINX:
		if r.APIVersion != "" {
			return nil, fmt.Errorf("the nginx router has no version, got %q", r.APIVersion)
		}
		router, err = mesh.NewNGINX(mesh.NGINXOptions{Client: d.client.NetworkingV1(), AnnotationPrefix: d.opts.NGINXAnnotationPrefix,
			Owner: owner, Logger: log, Cache: d.cluster})
	default:
		return nil, fmt.Errorf("canarykit cannot drive provider %q", r.Provider)
	}
	if err != nil {
		// the same next time: not tried again, so no try opens another connection
		rs.failed[key] = err
		if hc != nil {
			d.conns.drop(hc)
		}
		return nil, err
	}
	rs.by[key] = router
	return router, nil
}
