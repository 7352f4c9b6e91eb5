package scale

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
)

// Figures is one run's result. Each figure is measured over the window that starts when the
// N target Deployments get a new image and ends when every Canary has succeeded.
type Figures struct {
	Tool     string
	Rollouts int
	// P99Lateness is the 99th percentile of the steps' lateness. A step is a route write
	// (update or patch of the target's TrafficSplit, from the API server's audit log); a
	// weight step is due one analysis interval after the previous weight step's write, so its
	// lateness is (write time − previous write time − interval). The first four writes of a
	// release are the weight steps 10→50; the first has no due time and is not counted.
	P99Lateness time.Duration
	// CPUPerStep is the tool's process CPU (user + system, /proc/<pid>/stat) over the window
	// divided by the steps taken (route writes of the tool in the window, all of them). Both
	// tools run as their own process (canarykit as examples/flagger-controller), so the
	// figure holds all of the tool's work (its informers, leases, self-metrics) and nothing of
	// the harness' or the bed's.
	CPUPerStep time.Duration
	// RSSMiB is the tool's resident set (VmRSS) at the end of the window, in MiB.
	RSSMiB float64
	// ReqPerStep is the tool's API requests in the window (audit log, by its user agent;
	// watches excluded) divided by the steps taken.
	ReqPerStep float64
	// Watches is the number of the tool's watches open at the end of the window (audit log:
	// watch requests without a ResponseComplete stage yet).
	Watches int
	// PromConns is the most TCP connections from the tool's process to Prometheus' port seen
	// at once (its sockets in /proc/<pid>/fd matched against /proc/<pid>/net/tcp), sampled
	// every poll of the window.
	PromConns int
	// Throttled counts the tool's requests that client-go's rate limiter made wait more than
	// ThrottleWait in the window (ThrottledRequests of its /metrics at the window's end minus
	// at its start); -1 when it cannot be read (Flagger serves no such metric).
	Throttled int64
}

// Line is the one line the harness prints.
func (f Figures) Line() string {
	throttled := strconv.FormatInt(f.Throttled, 10)
	if f.Throttled < 0 {
		throttled = "n/a"
	}
	return fmt.Sprintf("scale tool=%s rollouts=%d p99_lateness_s=%.2f cpu_ms_per_step=%.2f rss_mib=%.0f req_per_step=%.2f watches=%d prom_conns=%d throttled=%s",
		f.Tool, f.Rollouts, f.P99Lateness.Seconds(), float64(f.CPUPerStep)/float64(time.Millisecond), f.RSSMiB, f.ReqPerStep,
		f.Watches, f.PromConns, throttled)
}

// WeightSteps is how many route writes of a release are weight steps (10, 20, … 50).
const WeightSteps = 5

// Lateness returns the lateness of every weight step that has a due time: writes are each
// target's route write times in the window, in any order; only the first WeightSteps count.
func Lateness(writes map[string][]time.Time, interval time.Duration) []time.Duration {
	var out []time.Duration
	for _, ds := range latenessByStep(writes, interval) {
		out = append(out, ds...)
	}
	return out
}

// latenessByStep is Lateness by weight step: element i holds the lateness of every release's
// step i+2 (the first step has no due time).
func latenessByStep(writes map[string][]time.Time, interval time.Duration) [][]time.Duration {
	out := make([][]time.Duration, WeightSteps-1)
	for _, ts := range writes {
		ts = slices.Clone(ts)
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
		if len(ts) > WeightSteps {
			ts = ts[:WeightSteps]
		}
		for i := 1; i < len(ts); i++ {
			out[i-1] = append(out[i-1], ts[i].Sub(ts[i-1])-interval)
		}
	}
	return out
}

// LatenessByStep describes the lateness of each weight step with a due time: its 50th, 90th
// and 99th percentiles and its maximum, in seconds, as "step 2: p50=0.01 p90=0.10 p99=0.50
// max=0.80; step 3: …".
func LatenessByStep(writes map[string][]time.Time, interval time.Duration) string {
	var parts []string
	for i, ds := range latenessByStep(writes, interval) {
		parts = append(parts, fmt.Sprintf("step %d: p50=%.2f p90=%.2f p99=%.2f max=%.2f", i+2,
			Percentile(ds, 50).Seconds(), Percentile(ds, 90).Seconds(), Percentile(ds, 99).Seconds(), Percentile(ds, 100).Seconds()))
	}
	return strings.Join(parts, "; ")
}

// Split is a weight step's lateness cut where its first and its last query reached
// Prometheus: Before is the first query's lateness (the tick's timer, the work before the
// query, its way to Prometheus), Between the time from the first query to the last (the
// queries before the last, their answers' way back, the next one's way there), After the time
// from the last query to the route write's arrival at the API server (that query and its
// answer, the work up to the write, the write's way there). Before + Between + After =
// Lateness.
type Split struct{ Lateness, Before, Between, After time.Duration }

// LatenessSplit splits the lateness of every weight step that ran a query: writes are each
// target's route write times, queries the times its queries reached Prometheus, both in any
// order. A step's first query is the first in the window that ends with its write and starts
// with the previous one; a step with none there (a release's first, which checks no
// metrics) is left out.
func LatenessSplit(writes, queries map[string][]time.Time, interval time.Duration) []Split {
	var out []Split
	for name, ws := range writes {
		ws = slices.Clone(ws)
		slices.SortFunc(ws, func(a, b time.Time) int { return a.Compare(b) })
		if len(ws) > WeightSteps {
			ws = ws[:WeightSteps]
		}
		qs := slices.Clone(queries[name])
		slices.SortFunc(qs, func(a, b time.Time) int { return a.Compare(b) })
		for i := 1; i < len(ws); i++ {
			j := sort.Search(len(qs), func(k int) bool { return qs[k].After(ws[i-1]) })
			k := sort.Search(len(qs), func(k int) bool { return qs[k].After(ws[i]) }) - 1
			if j > k {
				continue
			}
			out = append(out, Split{Lateness: ws[i].Sub(ws[i-1]) - interval,
				Before: qs[j].Sub(ws[i-1]) - interval, Between: qs[k].Sub(qs[j]), After: ws[i].Sub(qs[k])})
		}
	}
	return out
}

// SplitSummary describes splits: the percentiles of each part, and the median of each part
// over the latest 1 % of the steps (at least one), in seconds.
func SplitSummary(splits []Split) string {
	if len(splits) == 0 {
		return "no step ran a query"
	}
	part := func(f func(Split) time.Duration, in []Split) []time.Duration {
		ds := make([]time.Duration, len(in))
		for i, s := range in {
			ds[i] = f(s)
		}
		return ds
	}
	before := func(s Split) time.Duration { return s.Before }
	between := func(s Split) time.Duration { return s.Between }
	after := func(s Split) time.Duration { return s.After }
	sorted := slices.Clone(splits)
	slices.SortFunc(sorted, func(a, b Split) int { return cmp.Compare(b.Lateness, a.Lateness) }) // latest first
	tail := sorted[:max(1, len(sorted)/100)]
	pcts := func(ds []time.Duration) string {
		return fmt.Sprintf("p50=%.2f p90=%.2f p99=%.2f max=%.2f", Percentile(ds, 50).Seconds(), Percentile(ds, 90).Seconds(),
			Percentile(ds, 99).Seconds(), Percentile(ds, 100).Seconds())
	}
	return fmt.Sprintf("%d steps; before the first query: %s; from it to the last: %s; from the last to the route write: %s; "+
		"the latest %d (lateness from %.2f): before %.2f, between %.2f, after %.2f (medians)",
		len(splits), pcts(part(before, splits)), pcts(part(between, splits)), pcts(part(after, splits)), len(tail),
		tail[len(tail)-1].Lateness.Seconds(), Percentile(part(before, tail), 50).Seconds(),
		Percentile(part(between, tail), 50).Seconds(), Percentile(part(after, tail), 50).Seconds())
}

// Percentile is the nearest-rank p-th percentile (0 < p ≤ 100) of ds; 0 for none.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = max(1, min(rank, len(s)))
	return s[rank-1]
}

// RateLimiterMetric is the histogram of client-go's rate-limiter wait that
// examples/flagger-controller serves on its /metrics (seconds, by verb).
const RateLimiterMetric = "rest_client_rate_limiter_duration_seconds"

// ThrottleWait is the wait that counts a request as throttled: the first bucket of
// RateLimiterMetric. A request that finds a token waits microseconds.
const ThrottleWait = time.Millisecond

// TokenWaitsMetric is examples/flagger-controller's own count of the driver's requests that
// waited for a token of its rate limiter (a wait the limiter imposed, not the time spent
// reaching it).
const TokenWaitsMetric = "canarykit_client_throttled_requests_total"

// TokenWaits reads a /metrics answer (Prometheus text format) for TokenWaitsMetric; -1 when the
// answer has none (Flagger).
func TokenWaits(metrics io.Reader) (int64, error) { return oneSample(metrics, TokenWaitsMetric) }

// GoMaxProcsMetric is the Go runtime's GOMAXPROCS as client_golang's Go collector serves it.
const GoMaxProcsMetric = "go_sched_gomaxprocs_threads"

// GoMaxProcs reads a /metrics answer (Prometheus text format) for GoMaxProcsMetric; -1 when
// the answer has none.
func GoMaxProcs(metrics io.Reader) (int64, error) { return oneSample(metrics, GoMaxProcsMetric) }

// oneSample reads a /metrics answer for the value of name, a counter or a gauge of one
// sample; -1 when the answer has no such metric.
func oneSample(metrics io.Reader, name string) (int64, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(metrics)
	if err != nil {
		return 0, fmt.Errorf("metrics: %w", err)
	}
	f, ok := families[name]
	if !ok || len(f.GetMetric()) != 1 {
		return -1, nil
	}
	switch m := f.GetMetric()[0]; {
	case m.GetCounter() != nil:
		return int64(m.GetCounter().GetValue()), nil
	case m.GetGauge() != nil:
		return int64(m.GetGauge().GetValue()), nil
	}
	return -1, nil
}

// ThrottledRequests reads a /metrics answer (Prometheus text format) and counts the requests
// of RateLimiterMetric, all verbs, that waited more than ThrottleWait (the observations above
// the bucket whose upper bound is ThrottleWait). It fails if the metric is missing or has no
// such bucket.
func ThrottledRequests(metrics io.Reader) (int64, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(metrics)
	if err != nil {
		return 0, fmt.Errorf("metrics: %w", err)
	}
	f, ok := families[RateLimiterMetric]
	if !ok {
		return 0, fmt.Errorf("metrics: no %s", RateLimiterMetric)
	}
	var n int64
	for _, m := range f.GetMetric() {
		h := m.GetHistogram()
		if h == nil {
			return 0, fmt.Errorf("metrics: %s is not a histogram", RateLimiterMetric)
		}
		found := false
		for _, b := range h.GetBucket() {
			if b.GetUpperBound() == ThrottleWait.Seconds() {
				n += int64(h.GetSampleCount() - b.GetCumulativeCount())
				found = true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("metrics: %s has no bucket le=%g", RateLimiterMetric, ThrottleWait.Seconds())
		}
	}
	return n, nil
}

// Request is one of the tool's requests in the window, as TickRequests counts them.
type Request struct {
	Received time.Time
	Target   string // TargetOf its object; "" for none
	Kind     string // "verb resource[/subresource]"
}

// objectSuffixes are what the tools add to a target's name to name the objects made for it:
// the primary workload, Services, HPA and configs, the canary Service, canarykit's Lease.
var objectSuffixes = []string{"-primary", "-canary", "-canarykit"}

// TargetOf names the target of targets that a request's object was made for: the target's
// own objects (its Deployment, Canary, route, HPA and apex Service are named after it), the
// objects named after it with one of objectSuffixes, and the Events on any of those (client-go
// names an Event "<object>.<hex>"). It returns "" for a request that names no target's object:
// a list, a holder lease, an object of the bed's.
func TargetOf(resource, name string, targets map[string]bool) string {
	if resource == "events" {
		if i := strings.LastIndexByte(name, '.'); i > 0 {
			name = name[:i]
		}
	}
	if targets[name] {
		return name
	}
	for _, s := range objectSuffixes {
		if base, ok := strings.CutSuffix(name, s); ok && targets[base] {
			return base
		}
	}
	return ""
}

// TickRequests counts what each target's requests were during its release's steady weight
// steps, the ticks that do nothing but step (the README counts Flagger's 19 requests per
// analysis step on such ticks): from half an interval before its second route write to half
// an interval after its WeightSteps-th, which leaves out the release's start (the new
// revision, the canary's scale-up, the analysis' start with the first step) and its
// promotion. writes are each target's route write times, in any order; a target with fewer
// than WeightSteps of them is left out. It returns the requests in those spans by kind and
// the ticks the spans cover (a span's length in intervals, rounded, plus one: a step held
// for a tick counts as a tick).
func TickRequests(reqs []Request, writes map[string][]time.Time, interval time.Duration) (byKind map[string]int, ticks int) {
	type span struct{ from, to time.Time }
	spans := map[string]span{}
	for name, ts := range writes {
		if len(ts) < WeightSteps {
			continue
		}
		ts = slices.SortedFunc(slices.Values(ts), func(a, b time.Time) int { return a.Compare(b) })
		first, last := ts[1], ts[WeightSteps-1]
		spans[name] = span{first.Add(-interval / 2), last.Add(interval / 2)}
		ticks += int(math.Round(float64(last.Sub(first))/float64(interval))) + 1
	}
	byKind = map[string]int{}
	for _, r := range reqs {
		s, ok := spans[r.Target]
		if ok && !r.Received.Before(s.from) && r.Received.Before(s.to) {
			byKind[r.Kind]++
		}
	}
	return byKind, ticks
}

// EventDelays returns how long each Event written once (count 1) took from its recording to
// its creation on the API server: its creationTimestamp (the API server's) minus its
// firstTimestamp (the recorder's, when the tool recorded it). Both are whole seconds, so each
// delay is within a second of the truth. Events without a firstTimestamp, and the counted
// ones (their creation was the first of them), are left out.
func EventDelays(events []corev1.Event) []time.Duration {
	var out []time.Duration
	for _, e := range events {
		if e.FirstTimestamp.IsZero() || e.Count > 1 {
			continue
		}
		out = append(out, e.CreationTimestamp.Sub(e.FirstTimestamp.Time))
	}
	return out
}

// parseToolEnv splits -tool-env's comma-separated NAME=VALUE list, refusing an entry
// without a name or without "=".
func parseToolEnv(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var out []string
	for entry := range strings.SplitSeq(s, ",") {
		name, _, ok := strings.Cut(entry, "=")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("%q: want NAME=VALUE", entry)
		}
		out = append(out, entry)
	}
	return out, nil
}

// ClientRates is the API server's requests in a window of elapsed by the client that made
// them, most first, each as its count and its rate: "the tool 29954 (121.3/s), ...", so that
// the tool's share of the server's load shows beside the bed's own clients'.
func ClientRates(counts map[string]int, elapsed time.Duration) string {
	clients := make([]string, 0, len(counts))
	for c := range counts {
		clients = append(clients, c)
	}
	slices.SortFunc(clients, func(a, b string) int {
		return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b))
	})
	parts := make([]string, len(clients))
	for i, c := range clients {
		parts[i] = fmt.Sprintf("%s %d (%.1f/s)", c, counts[c], float64(counts[c])/elapsed.Seconds())
	}
	return strings.Join(parts, ", ")
}
