package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeServer answers the floor as the API server and Prometheus would, and records what it
// was sent.
type fakeServer struct {
	mu      sync.Mutex
	phases  []string // the Canary's status phases and weights written, "Progressing 10"
	weights []int    // the TrafficSplit's canary weights written
	queries []string
	agents  map[string]bool
	created string   // the TrafficSplit created
	events  []string // the Events created: "reason type involved object: message"
}

func (s *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.agents[r.UserAgent()] = true
	s.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	const canaries = "/apis/flagger.app/v1beta1/namespaces/ns/canaries"
	const deployments = "/apis/apps/v1/namespaces/ns/deployments"
	watch := r.URL.Query().Get("watch") == "1"
	switch {
	case r.URL.Path == "/api/v1/query":
		s.mu.Lock()
		s.queries = append(s.queries, r.URL.Query().Get("query"))
		s.mu.Unlock()
		fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"99.5"]}]}}`)
	case r.URL.Path == canaries && !watch:
		fmt.Fprint(w, `{"metadata":{"resourceVersion":"5"},"items":[{"metadata":{"name":"app","resourceVersion":"4"}}]}`)
	case r.URL.Path == deployments && !watch:
		if !strings.Contains(r.Header.Get("Accept"), "as=PartialObjectMetadataList") {
			http.Error(w, "metadata only", http.StatusNotAcceptable)
			return
		}
		fmt.Fprint(w, `{"metadata":{"resourceVersion":"6"},"items":[{"metadata":{"name":"app","generation":3}},{"metadata":{"name":"other","generation":1}}]}`)
	case watch:
		if r.URL.Path == deployments && r.URL.Query().Get("resourceVersion") == "6" {
			// an edit of another Deployment, a status change, then the new revision
			fmt.Fprint(w, `{"type":"MODIFIED","object":{"metadata":{"name":"other","generation":2,"resourceVersion":"7"}}}`+"\n")
			fmt.Fprint(w, `{"type":"MODIFIED","object":{"metadata":{"name":"app","generation":3,"resourceVersion":"8"}}}`+"\n")
			fmt.Fprint(w, `{"type":"MODIFIED","object":{"metadata":{"name":"app","generation":4,"resourceVersion":"9"}}}`+"\n")
			fmt.Fprint(w, `{"type":"MODIFIED","object":{"metadata":{"name":"app","generation":5,"resourceVersion":"10"}}}`+"\n")
			w.(http.Flusher).Flush()
		}
		<-r.Context().Done()
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/namespaces/ns/events":
		var e struct {
			Metadata       struct{ Name, Namespace string }
			InvolvedObject struct{ Kind, Name, Namespace string } `json:"involvedObject"`
			Reason, Type   string
			Message        string
		}
		if err := json.Unmarshal(body, &e); err != nil || e.Metadata.Name == "" || e.Metadata.Namespace != "ns" || e.InvolvedObject.Namespace != "ns" {
			http.Error(w, "bad Event "+string(body), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.events = append(s.events, fmt.Sprintf("%s %s %s %s: %s", e.Reason, e.Type, e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Message))
		s.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	case r.Method == http.MethodPost && r.URL.Path == "/apis/split.smi-spec.io/v1alpha2/namespaces/ns/trafficsplits":
		s.mu.Lock()
		s.created = string(body)
		s.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	case r.Method == http.MethodPatch && r.URL.Path == "/apis/split.smi-spec.io/v1alpha2/namespaces/ns/trafficsplits/app":
		var p struct {
			Spec struct {
				Backends []struct {
					Service string `json:"service"`
					Weight  int    `json:"weight"`
				} `json:"backends"`
			} `json:"spec"`
		}
		if err := json.Unmarshal(body, &p); err != nil || len(p.Spec.Backends) != 2 || p.Spec.Backends[1].Service != "app-canary" ||
			p.Spec.Backends[0].Weight+p.Spec.Backends[1].Weight != 100 || r.Header.Get("Content-Type") != "application/merge-patch+json" {
			http.Error(w, "bad route patch "+string(body), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.weights = append(s.weights, p.Spec.Backends[1].Weight)
		s.mu.Unlock()
		fmt.Fprint(w, `{}`)
	case r.Method == http.MethodPatch && r.URL.Path == canaries+"/app/status":
		var p struct {
			Status struct {
				Phase        string `json:"phase"`
				CanaryWeight int    `json:"canaryWeight"`
			} `json:"status"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.phases = append(s.phases, fmt.Sprintf("%s %d", p.Status.Phase, p.Status.CanaryWeight))
		s.mu.Unlock()
		fmt.Fprint(w, `{}`)
	default:
		http.Error(w, "unexpected "+r.Method+" "+r.URL.String(), http.StatusNotFound)
	}
}

// release runs the floor against a fake API server and Prometheus until its one release has
// ended, and returns what the server was sent.
func release(t *testing.T, events bool) *fakeServer {
	t.Helper()
	s := &fakeServer{agents: map[string]bool{}}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	ended := make(chan struct{})
	f := &floor{api: srv.URL, kube: srv.Client(), prom: srv.Client(), promURL: srv.URL + "/api/v1/query", ns: "ns",
		interval: time.Millisecond, events: events, ended: func(*target) { close(ended) }}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- f.run(ctx) }()
	select {
	case <-ended:
	case err := <-ran:
		t.Fatalf("the floor ended before the release: %v", err)
	}
	assert.Zero(t, f.errs.Load(), "errors") // before the end, whose cut requests may fail
	cancel()
	require.ErrorIs(t, <-ran, context.Canceled)
	s.mu.Lock()
	t.Cleanup(s.mu.Unlock)
	return s
}

func TestAReleaseMakesTheStepsFlaggersUsersSee(t *testing.T) {
	s := release(t, false)
	assert.Contains(t, s.created, `"service":"app"`)
	assert.Contains(t, s.created, `{"service":"app-canary","weight":0}`)
	assert.Equal(t, []int{10, 20, 30, 40, 50, 0}, s.weights, "one release, once, though the generation passed twice")
	assert.Equal(t, []string{"Initialized 0", "Progressing 0", "Progressing 10", "Progressing 20", "Progressing 30",
		"Progressing 40", "Progressing 50", "Promoting 0", "Succeeded 0"}, s.phases)
	require.Len(t, s.queries, 12, "two queries a tick, six ticks")
	for _, q := range s.queries {
		assert.Contains(t, q, `namespace="ns",deployment=~"app"`)
		assert.Contains(t, q, `[1m]`)
	}
	assert.Equal(t, map[string]bool{agent: true}, s.agents, "every request's user agent")
	assert.Empty(t, s.events, "no Event without --events")
}

// With --events a release also writes the ten Events Flagger records on its Canary.
func TestAReleaseWritesFlaggersEvents(t *testing.T) {
	s := release(t, true)
	const c = "Synced Normal Canary app: "
	assert.Equal(t, []string{
		c + "New revision detected! Scaling up app.ns",
		c + "Starting canary analysis for app.ns",
		c + "Advance app.ns canary weight 10",
		c + "Advance app.ns canary weight 20",
		c + "Advance app.ns canary weight 30",
		c + "Advance app.ns canary weight 40",
		c + "Advance app.ns canary weight 50",
		c + "Copying app.ns template spec to app-primary.ns",
		c + "Routing all traffic to primary",
		c + "Promotion completed! Scaling down app.ns",
	}, s.events)
	assert.Equal(t, []int{10, 20, 30, 40, 50, 0}, s.weights)
}
