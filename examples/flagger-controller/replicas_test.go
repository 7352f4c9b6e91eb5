package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
)

// byReplica keeps the release events of every replica, with who emitted them.
type byReplica struct {
	mu     sync.Mutex
	events []replicaEvent
}

type replicaEvent struct {
	id string
	e  canary.Event
}

func (r *byReplica) recorder(id string) func(canary.Event) {
	return func(e canary.Event) {
		r.mu.Lock()
		r.events = append(r.events, replicaEvent{id, e})
		r.mu.Unlock()
	}
}

// advanced lists, for a target, the weights it advanced to and who announced each, in order.
// A replica that crashes after writing a step's route but before announcing it never
// announces that step; its successor resumes from the route and announces the weight it
// resumed at. Such a Resumed event counts as the step when no one announced the weight
// before it, so a step repeated or skipped still shows.
func (r *byReplica) advanced(target string) (weights []int, ids []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range r.events {
		if ev.e.Target.Name != target || ev.e.Weights.Canary <= 0 {
			continue
		}
		step := ev.e.Reason == canary.ReasonAdvanced
		if ev.e.Reason == canary.ReasonResumed {
			step = len(weights) == 0 || ev.e.Weights.Canary > weights[len(weights)-1]
		}
		if step {
			weights = append(weights, ev.e.Weights.Canary)
			ids = append(ids, ev.id)
		}
	}
	return weights, ids
}

// splitWatch records every version of the namespace's TrafficSplits: the canary weight
// sequence each went through.
type splitWatch struct {
	mu      sync.Mutex
	weights map[string][]int
}

func (b *bed) watchSplits(ctx context.Context) *splitWatch {
	sw := &splitWatch{weights: map[string][]int{}}
	f := dynamicinformer.NewFilteredDynamicSharedInformerFactory(b.dyn, 0, b.ns, nil)
	inf := f.ForResource(schema.GroupVersionResource{Group: "split.smi-spec.io", Version: "v1alpha2", Resource: "trafficsplits"}).Informer()
	record := func(obj any) {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return
		}
		weight := -1
		backends, _ := u.Object["spec"].(map[string]any)["backends"].([]any)
		for _, be := range backends {
			if m := be.(map[string]any); m["service"] == u.GetName()+"-canary" {
				v, _ := m["weight"].(int64)
				weight = int(v)
			}
		}
		sw.mu.Lock()
		sw.weights[u.GetName()] = append(sw.weights[u.GetName()], weight)
		sw.mu.Unlock()
	}
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: record, UpdateFunc: func(_, obj any) { record(obj) }})
	require.NoError(b.t, err)
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	return sw
}

func (sw *splitWatch) of(name string) []int {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return slices.Clone(sw.weights[name])
}

// Three replicas share three Canaries with no leader. The replica driving "alpha" is killed
// mid-release (its connections cut, so it releases nothing); the others continue its
// Canaries from the saved step once its leases expire. Per Canary, the status and route
// writes come from one replica at a time (the audit log: the victim's writes all precede its
// successor's), and every weight step happens once: none repeated, none skipped.
func TestReplicasShareTheWorkAndSurviveACrash(t *testing.T) {
	b := newBed(t)
	b.env.Kubelet(t, b.ns, "", testenv.ReadyNow())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	names := []string{"alpha", "beta", "gamma"}
	ids := []string{"replica-1", "replica-2", "replica-3"}
	const lease = 8 * time.Second // renewed every 4 s; short enough for the test, long enough for a loaded machine
	events := &byReplica{}
	replicas := map[string]*replica{}
	registries := map[string]*prometheus.Registry{}
	for _, id := range ids {
		registries[id] = prometheus.NewRegistry()
		replicas[id] = b.start(id, Options{LeaseDuration: lease, OnEvent: events.recorder(id), Registry: registries[id]})
	}
	analysis := "    interval: 2s\n    threshold: 1\n    stepWeight: 10\n    maxWeight: 50\n"
	for _, name := range names {
		b.app(name)
		b.apply(canaryYAML(name, analysis))
	}
	for _, name := range names {
		b.poll(name+" bootstrapped", func() bool { return b.status(name).Phase == canary.PhaseInitialized })
	}
	splits := b.watchSplits(ctx)
	mark := b.env.AuditMark(t)
	for _, name := range names {
		b.setImage(name, name+":2")
	}

	var victim string
	b.poll("alpha advanced to 20", func() bool {
		w, who := events.advanced("alpha")
		if i := slices.Index(w, 20); i >= 0 {
			victim = who[i]
			return true
		}
		return false
	})
	drove := map[string]bool{}
	for _, name := range names {
		if b.holder(name) == victim {
			drove[name] = true
		}
	}
	replicas[victim].Crash(t)
	crashed := time.Now()
	t.Logf("%s crashed while driving %v", victim, drove)

	for _, name := range names {
		b.poll(name+" promoted", func() bool { return b.status(name).Phase == canary.PhaseSucceeded })
		assert.Equal(t, name+":2", b.image(name+"-primary"))
	}
	audit := b.env.AuditSince(t, mark)
	calls := 0
	for _, e := range audit.Calls() {
		if strings.HasPrefix(e.UserAgent, "replica-") {
			calls++
		}
	}
	t.Logf("the replicas' requests while releasing %d Canaries (5 steps each, one crash): %d", len(names), calls)

	for _, name := range names {
		weights, who := events.advanced(name)
		assert.Equal(t, []int{10, 20, 30, 40, 50}, weights, "%s: every step once, in order (advanced by %v)", name, who)
		assert.Equal(t, []int{0, 10, 20, 30, 40, 50, 0}, splits.of(name), "%s: the TrafficSplit went through every step once", name)

		// per Canary, the writes of its status and route: one writer at a time
		var writers []string
		for _, e := range audit {
			write := e.Verb == "update" || e.Verb == "patch" || e.Verb == "create"
			route := e.Resource == "trafficsplits" && e.Name == name
			status := e.Resource == "canaries" && e.Subresource == "status" && e.Name == name
			if write && (route || status) && e.Code < 300 {
				writers = append(writers, e.UserAgent)
			}
		}
		runs := compact(writers)
		if drove[name] {
			require.Len(t, runs, 2, "%s: driven by %s, then by one other replica: %v", name, victim, writers)
			assert.Equal(t, victim, runs[0])
			assert.NotEqual(t, victim, runs[1])
			took := firstWrite(audit, runs[1], name)
			t.Logf("%s: continued by %s %s after the crash (lease duration %s)", name, runs[1], took.Sub(crashed).Round(100*time.Millisecond), lease)
		} else {
			require.Len(t, runs, 1, "%s: one replica wrote its status and route: %v", name, writers)
			assert.NotEqual(t, victim, runs[0], "%s", name)
		}
		for _, e := range audit {
			if e.UserAgent == victim && e.Received.After(crashed) {
				t.Errorf("%s made a request after it crashed: %s %s", victim, e.Verb, e.RequestURI)
			}
		}
	}
	assert.NotEmpty(t, drove, "the victim was driving alpha")

	// every surviving replica exports every Canary's status, driven there or not
	for _, id := range ids {
		if id == victim {
			continue
		}
		for _, name := range names {
			b.poll(id+" exports "+name+" succeeded", func() bool { return gauge(t, registries[id], "flagger_canary_status", name) == 1 })
		}
	}
	users := map[string]bool{}
	for _, e := range audit {
		if strings.HasPrefix(e.UserAgent, "replica-") {
			users[e.UserAgent] = true
		}
	}
	assert.Len(t, users, 3, "each replica made requests with its own user agent: %v", users)
}

// compact collapses consecutive equal entries: the writers in the order they took over.
func compact(s []string) []string {
	var out []string
	for _, v := range s {
		if len(out) == 0 || out[len(out)-1] != v {
			out = append(out, v)
		}
	}
	return out
}

// firstWrite is when who first wrote name's route or status.
func firstWrite(audit testenv.AuditEvents, who, name string) time.Time {
	for _, e := range audit {
		if e.UserAgent == who && e.Name == name && (e.Verb == "update" || e.Verb == "patch") {
			return e.Received
		}
	}
	panic(fmt.Sprintf("no write of %s by %s", name, who))
}

// gauge is the value of a per-Canary gauge in reg (-1 when absent).
func gauge(t *testing.T, reg *prometheus.Registry, metric, name string) float64 {
	return gaugeWith(t, reg, metric, "name", name)
}

// gaugeWith is the value of the series of a gauge in reg whose label has that value (-1 when
// absent).
func gaugeWith(t *testing.T, reg *prometheus.Registry, metric, label, value string) float64 {
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != metric {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}
