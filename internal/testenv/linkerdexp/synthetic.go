package linkerdexp

import (
	"math"
	"slices"
	"strings"
	"time"
)

// Traffic describes synthetic requests to a workload. The zero value is no traffic.
type Traffic struct {
	// RPS is the request rate, per second, over all pods.
	RPS float64
	// FailureRatio is the share of requests that fail (0 to 1). Failures are spread evenly
	// (after n requests, floor(n × FailureRatio) have failed), so the success rate over any
	// window is the configured one, within one request.
	FailureRatio float64
	// SuccessStatus is the status code of successes; 0 means 200.
	SuccessStatus int
	// FailureStatus is the status code of failures; 0 means 500.
	FailureStatus int
	// LatencyMin and LatencyMax bound a uniform latency distribution; when LatencyMax is not
	// above LatencyMin every request takes LatencyMin.
	LatencyMin, LatencyMax time.Duration
	// Pods answer the requests in turn; empty means one pod, "<deployment>-0".
	Pods []string
}

// generator advances one workload's synthetic counters.
type generator struct {
	w        Workload
	traffic  Traffic
	last     time.Time
	carry    float64 // fraction of a request not yet emitted
	requests uint64  // since traffic was set: failures are spread over these
	failures uint64
}

// SetTraffic sets (or, with the zero Traffic, stops) the synthetic traffic of w from now on:
// the requests due under the previous setting are counted first. The series of the success
// and failure status codes appear at once, at zero.
func (e *Exporter) SetTraffic(w Workload, t Traffic) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lazyInit()
	e.advance()
	if t.SuccessStatus == 0 {
		t.SuccessStatus = 200
	}
	if t.FailureStatus == 0 {
		t.FailureStatus = 500
	}
	if len(t.Pods) == 0 {
		t.Pods = []string{w.Deployment + "-0"}
	}
	t.Pods = append([]string(nil), t.Pods...)
	g, ok := e.traffic[w]
	if !ok {
		g = &generator{w: w}
		e.traffic[w] = g
	}
	g.traffic, g.last, g.requests, g.failures = t, e.clock.Now(), 0, 0
	if t.RPS > 0 {
		for _, pod := range t.Pods {
			e.seriesFor(seriesKey{Workload: w, pod: pod, status: t.SuccessStatus})
			if t.FailureRatio > 0 {
				e.seriesFor(seriesKey{Workload: w, pod: pod, status: t.FailureStatus})
			}
		}
	}
}

// advance emits the synthetic requests due up to now; e.mu must be held.
func (e *Exporter) advance() {
	now := e.clock.Now()
	// Map order is random; emit in a fixed order so latencies are reproducible.
	ws := make([]Workload, 0, len(e.traffic))
	for w := range e.traffic {
		ws = append(ws, w)
	}
	slices.SortFunc(ws, compareWorkloads)
	for _, w := range ws {
		g := e.traffic[w]
		elapsed := now.Sub(g.last)
		if elapsed <= 0 {
			continue
		}
		g.last = now
		due := g.carry + g.traffic.RPS*elapsed.Seconds()
		n := math.Floor(due)
		g.carry = due - n
		for range int64(n) {
			e.emit(g)
		}
	}
}

// emit records one synthetic request.
func (e *Exporter) emit(g *generator) {
	t := g.traffic
	g.requests++
	status := t.SuccessStatus
	if uint64(math.Floor(float64(g.requests)*t.FailureRatio)) > g.failures {
		g.failures++
		status = t.FailureStatus
	}
	latency := t.LatencyMin
	if t.LatencyMax > t.LatencyMin {
		latency += time.Duration(e.rng.Int63n(int64(t.LatencyMax - t.LatencyMin)))
	}
	pod := t.Pods[(g.requests-1)%uint64(len(t.Pods))]
	e.record(seriesKey{Workload: g.w, pod: pod, status: status}, latency)
}

// compareWorkloads orders workloads by namespace, then deployment.
func compareWorkloads(a, b Workload) int {
	if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	return strings.Compare(a.Deployment, b.Deployment)
}
