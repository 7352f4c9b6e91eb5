package meshsim

import (
	"fmt"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// KindIngress is the Route.Kind of requests an Ingress decided.
const KindIngress = "Ingress"

// annotationPrefix is ingress-nginx's annotation prefix.
const annotationPrefix = "nginx.ingress.kubernetes.io/"

// IngressOptions configure a simulated ingress controller.
type IngressOptions struct {
	// Meshed puts the controller in the mesh (a Linkerd proxy beside it, with the
	// l5d-dst-override header of Linkerd's ingress guide): its requests to a Service are
	// routed by the Service's route objects. Unmeshed (the default, and seed 000's setup) it
	// sends each request straight to one of the Service's ready pods, as ingress-nginx does,
	// and no TrafficSplit or HTTPRoute of the mesh sees it.
	Meshed bool
}

// Ingress is a simulated ingress-nginx controller in front of the mesh's namespace: an
// http.RoundTripper for requests to any host (the ingress's address), routed by the
// namespace's Ingresses (networking.k8s.io/v1) as ingress-nginx routes them:
//
//   - the main Ingress (no canary annotation) whose rule matches the request's host (a rule
//     without host matches any) and path (Exact, or Prefix element by element;
//     ImplementationSpecific as Prefix), the longest path first; else a defaultBackend;
//   - a canary Ingress (annotation nginx.ingress.kubernetes.io/canary: "true") with the same
//     host and path takes the request by canary-by-header (the header's value "always", or
//     equal to canary-by-header-value, or matching the regular expression
//     canary-by-header-pattern; "never" keeps it off), then canary-by-cookie (the cookie's
//     value "always"; "never" keeps it off), then canary-weight out of canary-weight-total
//     (default 100), chosen by smooth weighted round-robin;
//   - no Ingress for the host and path: 404, answered by the controller.
//
// Every request is recorded as ingress-nginx's metrics
// (nginx_ingress_controller_requests{namespace,ingress,service,canary,status} and
// nginx_ingress_controller_request_duration_seconds), with ingress the main Ingress's name and
// canary the canary upstream's name ("<namespace>-<service>-<port>") when the canary took it,
// and counted in Traffic under Service "ingress/<main Ingress>" and Route
// {KindIngress, canary Ingress, its resourceVersion} (the annotations that carry the weight
// do not change an Ingress's generation).
type Ingress struct {
	m    *Mesh
	opts IngressOptions
}

var _ http.RoundTripper = (*Ingress)(nil)

// Ingress returns a simulated ingress controller over the mesh's namespace.
func (m *Mesh) Ingress(opts IngressOptions) *Ingress { return &Ingress{m: m, opts: opts} }

// Client returns an HTTP client whose requests go through the ingress.
func (in *Ingress) Client() *http.Client { return &http.Client{Transport: in} }

// ingressBackend is a Service and port an Ingress sends to.
type ingressBackend struct {
	service string
	port    int64
	portKey string // the port as the Ingress names it, for the upstream name
}

// ingressRoute is what the Ingresses decide for one request.
type ingressRoute struct {
	main    *networkingv1.Ingress
	primary ingressBackend
	canary  *networkingv1.Ingress // nil: no canary Ingress for the host and path
	alt     ingressBackend
}

// RoundTrip routes req as ingress-nginx would (see Ingress).
func (in *Ingress) RoundTrip(req *http.Request) (*http.Response, error) {
	m := in.m
	m.serversMu.Lock()
	closed := m.closed
	m.serversMu.Unlock()
	if closed {
		closeBody(req)
		return nil, ErrClosed
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	r, ok := in.route(host, req.URL.Path)
	if !ok {
		key := Key{Service: "ingress/"}
		return m.proxyAnswer(req, decision{}, key, http.StatusNotFound, "no Ingress rule for "+host+req.URL.Path), nil
	}
	b, canaryName, route, declared := r.primary, "", Route{}, []backendWeight(nil)
	weight, total := 1.0, 1.0
	if r.canary != nil {
		route = Route{Kind: KindIngress, Name: r.canary.Name, Generation: resourceVersion(r.canary.ResourceVersion)}
		takes, w, t := in.canaryTakes(r, route, req)
		if takes {
			b, canaryName = r.alt, fmt.Sprintf("%s-%s-%s", m.ns, r.alt.service, r.alt.portKey)
		}
		declared = []backendWeight{{service: r.primary.service, milli: int64(t-w) * 1000}, {service: r.alt.service, milli: int64(w) * 1000}}
		weight, total = float64(w), float64(t)
		if b == r.primary {
			weight = float64(t - w)
		}
	}
	key := Key{Service: "ingress/" + r.main.Name, Route: route, Backend: b.service, Weight: weight, TotalWeight: total}
	resp, latency, dep, err := in.send(req, b)
	if err != nil {
		return nil, err
	}
	key.Deployment = dep
	m.formats.ingress(r.main.Name, b.service, canaryName, resp.StatusCode, latency)
	m.meter.add(key, resp.StatusCode, declared)
	return resp, nil
}

// send forwards req to b: through the mesh when the controller is meshed, else straight to
// one of the Service's ready pods. It returns the answering Deployment ("" when nobody but a
// proxy or the controller answered).
func (in *Ingress) send(req *http.Request, b ingressBackend) (*http.Response, time.Duration, string, error) {
	m := in.m
	start := time.Now()
	if in.opts.Meshed {
		out := req.Clone(req.Context())
		out.URL.Scheme, out.URL.Host = "http", fmt.Sprintf("%s.%s:%d", b.service, m.ns, b.port)
		resp, err := m.RoundTrip(out)
		if err != nil {
			return nil, 0, "", err
		}
		return resp, time.Since(start), "", nil // the mesh counts who answered
	}
	ep, ok := m.nextEndpoint(b.service)
	if !ok {
		return m.answer(req, http.StatusServiceUnavailable, "no ready endpoints for service "+b.service), time.Since(start), "", nil
	}
	srv, err := m.backendServer(ep.Deployment)
	if err != nil {
		return m.answer(req, http.StatusBadGateway, err.Error()), time.Since(start), "", nil
	}
	resp, latency, err := m.forward(req, srv.addr, map[string]string{headerPod: ep.Pod, headerImage: ep.Image})
	if err != nil {
		if req.Context().Err() != nil {
			return nil, 0, "", err
		}
		return m.answer(req, http.StatusBadGateway, err.Error()), time.Since(start), "", nil
	}
	// the pod's own proxy still sees the request inbound, addressed to the ingress's host
	m.recordPod(ep, b.service, req.Host, resp.StatusCode, latency)
	return resp, latency, ep.Deployment, nil
}

// canaryTakes decides whether the canary Ingress takes req, and returns the weights.
func (in *Ingress) canaryTakes(r ingressRoute, route Route, req *http.Request) (bool, int, int) {
	a := r.canary.Annotations
	weight, _ := strconv.Atoi(a[annotationPrefix+"canary-weight"])
	total := 100
	if t, err := strconv.Atoi(a[annotationPrefix+"canary-weight-total"]); err == nil && t > 0 {
		total = t
	}
	weight = min(max(weight, 0), total)
	if h := a[annotationPrefix+"canary-by-header"]; h != "" {
		v := req.Header.Get(h)
		switch value, pattern := a[annotationPrefix+"canary-by-header-value"], a[annotationPrefix+"canary-by-header-pattern"]; {
		case value != "":
			if v == value {
				return true, weight, total
			}
		case pattern != "":
			if re, err := regexp.Compile(pattern); err == nil && v != "" && re.MatchString(v) {
				return true, weight, total
			}
		case v == "always":
			return true, weight, total
		case v == "never":
			return false, weight, total
		}
	}
	if c := a[annotationPrefix+"canary-by-cookie"]; c != "" {
		if ck, err := req.Cookie(c); err == nil {
			switch ck.Value {
			case "always":
				return true, weight, total
			case "never":
				return false, weight, total
			}
		}
	}
	k := pickerKey{uid: r.canary.UID, Route: route}
	p, _ := in.m.ingressPick.LoadOrStore(k, newPicker([]backendWeight{
		{service: "primary", milli: int64(total-weight) * 1000}, {service: "canary", milli: int64(weight) * 1000}}))
	b, ok := p.(*picker).pick()
	return ok && b.service == "canary", weight, total
}

// route finds the main and canary Ingresses of host and path.
func (in *Ingress) route(host, path string) (ingressRoute, bool) {
	list, _ := in.m.ingresses.List(labels.Everything())
	slices.SortFunc(list, func(a, b *networkingv1.Ingress) int { return strings.Compare(a.Name, b.Name) })
	var mains, canaries []*networkingv1.Ingress
	for _, ing := range list {
		if ing.Annotations[annotationPrefix+"canary"] == "true" {
			canaries = append(canaries, ing)
		} else {
			mains = append(mains, ing)
		}
	}
	main, mb, rulePath, ok := matchIngresses(mains, host, path)
	if !ok {
		return ingressRoute{}, false
	}
	r := ingressRoute{main: main, primary: mb}
	for _, c := range canaries {
		if cm, cb, cp, ok := matchIngresses([]*networkingv1.Ingress{c}, host, path); ok && cp == rulePath && cm != nil {
			r.canary, r.alt = c, cb
			break
		}
	}
	return r, true
}

// matchIngresses returns the Ingress, backend and rule path ("" for a defaultBackend) that
// route host and path: the longest matching rule path of any, else the first defaultBackend.
func matchIngresses(ings []*networkingv1.Ingress, host, path string) (*networkingv1.Ingress, ingressBackend, string, bool) {
	var best *networkingv1.Ingress
	var bestB ingressBackend
	bestPath, found := "", false
	for _, ing := range ings {
		for _, rule := range ing.Spec.Rules {
			if rule.Host != "" && !hostMatches(rule.Host, host) || rule.HTTP == nil {
				continue
			}
			for _, p := range rule.HTTP.Paths {
				if p.Backend.Service == nil || !ingressPathMatches(p, path) {
					continue
				}
				if !found || len(p.Path) > len(bestPath) {
					best, bestB, bestPath, found = ing, backendOf(p.Backend), p.Path, true
				}
			}
		}
	}
	if found {
		return best, bestB, bestPath, true
	}
	for _, ing := range ings {
		if d := ing.Spec.DefaultBackend; d != nil && d.Service != nil {
			return ing, backendOf(*d), "", true
		}
	}
	return nil, ingressBackend{}, "", false
}

func backendOf(b networkingv1.IngressBackend) ingressBackend {
	out := ingressBackend{service: b.Service.Name, port: int64(b.Service.Port.Number), portKey: strconv.Itoa(int(b.Service.Port.Number))}
	if b.Service.Port.Name != "" {
		out.portKey = b.Service.Port.Name
	}
	return out
}

func hostMatches(rule, host string) bool {
	if rest, ok := strings.CutPrefix(rule, "*."); ok {
		_, tail, found := strings.Cut(host, ".")
		return found && tail == rest
	}
	return strings.EqualFold(rule, host)
}

func ingressPathMatches(p networkingv1.HTTPIngressPath, path string) bool {
	if path == "" {
		path = "/"
	}
	if p.PathType != nil && *p.PathType == networkingv1.PathTypeExact {
		return path == p.Path
	}
	return pathMatch{kind: pathPrefix, value: cmpOr(p.Path, "/")}.matches(path)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// resourceVersion reads an object's resourceVersion as a number (the API server's is etcd's
// revision); 0 when it is not one.
func resourceVersion(rv string) int64 {
	n, _ := strconv.ParseInt(rv, 10, 64)
	return n
}
