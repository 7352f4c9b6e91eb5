package meshsim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	"github.com/canarykit/canarykit/internal/meshsim/podinfo"
)

// Headers the proxy adds to the requests it forwards to a backend server, saying which pod
// answers (one server plays every pod of a Deployment).
const (
	headerPod   = "X-Meshsim-Pod"
	headerImage = "X-Meshsim-Image"
)

// Endpoint is a pod a Service sends requests to.
type Endpoint struct {
	// Pod is the pod's name, Deployment the Deployment it belongs to.
	Pod, Deployment string
	// Image is the pod's (first container's) image: its version decides its Behavior.
	Image string
}

// endpointCache holds the endpoints of every Service, recomputed from the informers' caches
// when a Service, pod or Deployment changed since the last computation.
type endpointCache struct {
	changes atomic.Uint64 // bumped by the informers' event handlers

	mu    sync.Mutex
	seen  uint64
	valid bool
	bySvc map[string][]Endpoint
	next  map[string]*atomic.Uint64 // round-robin position per Service
}

// endpoints returns service's endpoints and whether the Service exists.
func (m *Mesh) endpoints(service string) ([]Endpoint, bool) {
	c := &m.eps
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.changes.Load(); !c.valid || now != c.seen {
		c.bySvc = m.computeEndpoints()
		c.seen, c.valid = now, true
	}
	eps, ok := c.bySvc[service]
	return eps, ok
}

// nextEndpoint picks service's next endpoint, round-robin (Linkerd balances by latency; with
// identical simulated pods, round-robin spreads load the same way).
func (m *Mesh) nextEndpoint(service string) (Endpoint, bool) {
	eps, _ := m.endpoints(service)
	if len(eps) == 0 {
		return Endpoint{}, false
	}
	c := &m.eps
	c.mu.Lock()
	if c.next == nil {
		c.next = map[string]*atomic.Uint64{}
	}
	n := c.next[service]
	if n == nil {
		n = &atomic.Uint64{}
		c.next[service] = n
	}
	c.mu.Unlock()
	return eps[(n.Add(1)-1)%uint64(len(eps))], true
}

// computeEndpoints maps each Service to the ready pods its selector matches, as the
// EndpointSlice controller would (it cannot here: the kubelet stand-in's pods have no IP). A
// pod is ready when its Ready condition is true and it is not being deleted; it belongs to the
// Deployment whose selector matches its labels (pods of no Deployment are ignored).
func (m *Mesh) computeEndpoints() map[string][]Endpoint {
	out := map[string][]Endpoint{}
	svcs, err1 := m.services.List(labels.Everything())
	pods, err2 := m.pods.List(labels.Everything())
	deps, err3 := m.deployments.List(labels.Everything())
	if err1 != nil || err2 != nil || err3 != nil {
		return out // listers over a local cache do not fail
	}
	type depSel struct {
		name string
		sel  labels.Selector
	}
	sels := make([]depSel, 0, len(deps))
	for _, d := range deps {
		if s, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil && !s.Empty() {
			sels = append(sels, depSel{d.Name, s})
		}
	}
	var ready []Endpoint
	var readyLabels []labels.Set
	for _, p := range pods {
		if !podReady(p) || len(p.Spec.Containers) == 0 {
			continue
		}
		var owner string
		for _, d := range sels {
			if d.sel.Matches(labels.Set(p.Labels)) && (owner == "" || ownedBy(p, d.name)) {
				owner = d.name
			}
		}
		if owner != "" {
			ready = append(ready, Endpoint{Pod: p.Name, Deployment: owner, Image: p.Spec.Containers[0].Image})
			readyLabels = append(readyLabels, labels.Set(p.Labels))
		}
	}
	for _, s := range svcs {
		eps := []Endpoint{}
		if len(s.Spec.Selector) > 0 {
			sel := labels.SelectorFromSet(s.Spec.Selector)
			for i, ep := range ready {
				if sel.Matches(readyLabels[i]) {
					eps = append(eps, ep)
				}
			}
		}
		slices.SortFunc(eps, func(a, b Endpoint) int { return strings.Compare(a.Pod, b.Pod) })
		out[s.Name] = eps
	}
	return out
}

// ownedBy reports whether p's ReplicaSet is named after deployment (the Deployment
// controller names them "<deployment>-<hash>"): the tie-breaker when selectors overlap.
func ownedBy(p *corev1.Pod, deployment string) bool {
	for _, o := range p.OwnerReferences {
		if o.Kind == "ReplicaSet" && strings.HasPrefix(o.Name, deployment+"-") {
			return true
		}
	}
	return false
}

func podReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// backendServer returns the loopback server playing deployment's pods, starting it on first
// use.
func (m *Mesh) backendServer(deployment string) (*loopServer, error) {
	m.serversMu.Lock()
	defer m.serversMu.Unlock()
	if s := m.backends[deployment]; s != nil {
		return s, nil
	}
	if m.closed {
		return nil, ErrClosed
	}
	s, err := startLoopServer(m.podHandler(deployment))
	if err != nil {
		return nil, err
	}
	m.backends[deployment] = s
	m.log.V(1).Info("backend server started", "deployment", deployment, "addr", s.addr)
	return s, nil
}

// deploymentDeleted stops the server of a deleted Deployment.
func (m *Mesh) deploymentDeleted(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	d, ok := obj.(*appsv1.Deployment)
	if !ok {
		return
	}
	m.serversMu.Lock()
	s := m.backends[d.Name]
	delete(m.backends, d.Name)
	m.serversMu.Unlock()
	if s != nil {
		s.close()
	}
}

// podHandler plays the pods of deployment: each request is answered by the pod the proxy
// chose, behaving as its image's version does (health probes excepted), then as podinfo.
func (m *Mesh) podHandler(deployment string) http.Handler {
	app := podinfo.Handler{Instance: func(r *http.Request) podinfo.Instance {
		image := r.Header.Get(headerImage)
		version := imageTag(image)
		if version == "" {
			version = image
		}
		return podinfo.Instance{Hostname: r.Header.Get(headerPod), Version: version}
	}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" && r.URL.Path != "/readyz" {
			delay, fail := m.versions.decide(deployment, r.Header.Get(headerImage), r.URL.Path)
			if !sleep(r.Context(), delay) {
				return
			}
			if fail {
				w.Header().Set("Content-Type", "application/json; charset=utf-8")
				w.WriteHeader(http.StatusInternalServerError)
				_ = json.NewEncoder(w).Encode(map[string]any{"code": 500, "message": "simulated failure"})
				return
			}
		}
		app.ServeHTTP(w, r)
	})
}
