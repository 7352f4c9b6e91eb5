package meshsim

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/canarykit/canarykit/internal/testenv/linkerdexp"
)

// maxResponse bounds the response bodies the proxy buffers (podinfo's are a few hundred bytes).
const maxResponse = 16 << 20

// headerProxyError is the header Linkerd's proxy puts on the answers it makes itself.
const headerProxyError = "L5d-Proxy-Error"

// RoundTrip sends a request as a meshed pod's outbound proxy would. A request to
// http://<service>.<namespace>[.svc[.cluster.local]][:port]/… (the mesh's namespace or an
// alias) is routed: by the Service's route objects (see the package documentation) to a
// backend Service, then round-robin to one of its ready pods, whose server answers; the answer
// is recorded in the Exporter as that pod's inbound proxy would record it, and counted in
// Traffic. When no route matches or the backend has no ready pod, the proxy answers itself
// (404, 500 or 503, with an l5d-proxy-error header), recorded in Traffic only. A request to a
// Service the namespace lacks, or to a port the Service lacks, fails as DNS or the connection
// would (ErrUnknownService, ErrNoPort). Requests to any other host pass through unchanged.
func (m *Mesh) RoundTrip(req *http.Request) (*http.Response, error) {
	service, port, meshed := m.resolve(req.URL.Scheme, req.URL.Host)
	if !meshed {
		return m.passthrough.RoundTrip(req)
	}
	if req.URL.Scheme != "http" {
		closeBody(req)
		return nil, fmt.Errorf("meshsim: %s: only http is simulated (Linkerd's mTLS is transparent to apps)", req.URL.Redacted())
	}
	m.serversMu.Lock()
	closed, extra := m.closed, m.extras[service]
	m.serversMu.Unlock()
	if closed {
		closeBody(req)
		return nil, ErrClosed
	}
	if extra != nil {
		resp, _, err := m.forward(req, extra.addr, nil)
		return resp, err
	}
	svc, err := m.services.Get(service)
	if apierrors.IsNotFound(err) {
		closeBody(req)
		return nil, fmt.Errorf("meshsim: lookup %s: %w", req.URL.Hostname(), ErrUnknownService)
	}
	if err != nil {
		closeBody(req)
		return nil, fmt.Errorf("meshsim: lookup %s: %w", req.URL.Hostname(), err)
	}
	hasPort := false
	for _, p := range svc.Spec.Ports {
		hasPort = hasPort || int64(p.Port) == port
	}
	if !hasPort {
		closeBody(req)
		return nil, fmt.Errorf("meshsim: dial %s:%d: %w", req.URL.Hostname(), port, ErrNoPort)
	}

	d := m.table.Load().lookup(service, port, req).decide(service)
	key := Key{Service: service, Route: d.route, Backend: d.backend, Weight: d.weight, TotalWeight: d.total}
	if d.status != 0 {
		return m.proxyAnswer(req, d, key, d.status, d.reason), nil
	}
	ep, ok := m.nextEndpoint(d.backend)
	if !ok {
		return m.proxyAnswer(req, d, key, http.StatusServiceUnavailable, "no ready endpoints for service "+d.backend), nil
	}
	srv, err := m.backendServer(ep.Deployment)
	if err != nil {
		return m.proxyAnswer(req, d, key, http.StatusBadGateway, err.Error()), nil
	}
	resp, latency, err := m.forward(req, srv.addr, map[string]string{headerPod: ep.Pod, headerImage: ep.Image})
	if err != nil {
		if req.Context().Err() != nil {
			return nil, err
		}
		return m.proxyAnswer(req, d, key, http.StatusBadGateway, err.Error()), nil
	}
	m.recordPod(ep, d.backend, req.URL.Host, resp.StatusCode, latency)
	key.Deployment = ep.Deployment
	m.meter.add(key, resp.StatusCode, d.declared)
	return resp, nil
}

// resolve says whether a request to host is for the mesh, and for which Service and port.
func (m *Mesh) resolve(scheme, hostport string) (service string, port int64, meshed bool) {
	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		host, portStr = hostport, ""
	}
	labels := strings.Split(strings.TrimSuffix(strings.ToLower(host), "."), ".")
	if len(labels) < 2 || !m.aliases[labels[1]] || labels[0] == "" {
		return "", 0, false
	}
	switch rest := strings.Join(labels[2:], "."); rest {
	case "", "svc", "svc.cluster.local":
	default:
		return "", 0, false
	}
	switch {
	case portStr != "":
		port, err = strconv.ParseInt(portStr, 10, 32)
		if err != nil {
			return "", 0, false
		}
	case scheme == "https":
		port = 443
	default:
		port = 80
	}
	return labels[0], port, true
}

// forward sends req to the server at addr with extra headers and returns its answer with the
// body read, and how long that took: from sending the request to the end of the response
// stream, what Linkerd's response_latency_ms measures.
func (m *Mesh) forward(req *http.Request, addr string, headers map[string]string) (*http.Response, time.Duration, error) {
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host = "http", addr
	if out.Host == "" {
		out.Host = req.URL.Host
	}
	for k, v := range headers {
		out.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := m.upstream.RoundTrip(out)
	if err != nil {
		return nil, 0, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	resp.Body.Close()
	latency := time.Since(start)
	if err != nil {
		return nil, 0, fmt.Errorf("read answer of %s: %w", req.URL.Host, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.TransferEncoding = nil
	resp.Request = req
	return resp, latency, nil
}

// recordPod records an answer of ep's pod, reached through service by a request addressed to
// authority, as its proxy (Linkerd's, or Istio's sidecar) reports it.
func (m *Mesh) recordPod(ep Endpoint, service, authority string, status int, latency time.Duration) {
	m.exporter.RecordAddressed(linkerdexp.Workload{Namespace: m.ns, Deployment: ep.Deployment}, ep.Pod, authority, status, latency)
	m.formats.pod(ep.Deployment, service, status, latency)
}

// proxyAnswer is an answer the proxy makes itself to a request decided as d, counted in
// Traffic under key.
func (m *Mesh) proxyAnswer(req *http.Request, d decision, key Key, status int, reason string) *http.Response {
	m.meter.add(key, status, d.declared)
	return m.answer(req, status, reason)
}

// answer is an answer a proxy or controller makes itself.
func (m *Mesh) answer(req *http.Request, status int, reason string) *http.Response {
	closeBody(req)
	body := reason + "\n"
	return &http.Response{
		Status:     fmt.Sprintf("%d %s", status, http.StatusText(status)),
		StatusCode: status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{
			"Content-Type":   {"text/plain; charset=utf-8"},
			headerProxyError: {reason},
		},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// ServeService makes h reachable inside the mesh as http://<name>.<namespace>/ (any port),
// served on loopback: a stand-in for an unmeshed in-cluster service such as the demo manifests'
// flagger-loadtester. It takes precedence over a Service of the same name. Its requests are
// neither routed nor recorded.
func (m *Mesh) ServeService(name string, h http.Handler) error {
	s, err := startLoopServer(h)
	if err != nil {
		return err
	}
	m.serversMu.Lock()
	if m.closed {
		m.serversMu.Unlock()
		s.close()
		return ErrClosed
	}
	if old := m.extras[name]; old != nil {
		m.listeners = append(m.listeners, old) // closed with the mesh: requests may be in flight
	}
	m.extras[name] = s
	m.serversMu.Unlock()
	return nil
}

// Listen serves a loopback listener whose requests go through the mesh to
// http://<service>.<namespace>:<port>, for tools outside the process (a browser, hey, curl),
// and returns its URL. It closes with the mesh.
func (m *Mesh) Listen(service string, port int) (string, error) {
	target := fmt.Sprintf("%s.%s:%d", service, m.ns, port)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host, pr.Out.Host = "http", target, target
		},
		Transport: m,
	}
	s, err := startLoopServer(rp)
	if err != nil {
		return "", err
	}
	m.serversMu.Lock()
	if m.closed {
		m.serversMu.Unlock()
		s.close()
		return "", ErrClosed
	}
	m.listeners = append(m.listeners, s)
	m.serversMu.Unlock()
	return s.URL(), nil
}
