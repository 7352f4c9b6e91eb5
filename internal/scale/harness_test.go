//go:build scale

package scale

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/internal/testenv/linkerdexp"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/util/retry"
)

var (
	rollouts    = flag.Int("rollouts", 20, "targets released at once")
	tool        = flag.String("tool", "canarykit", "who releases: canarykit, flagger, or floor (internal/scale/floor: a step's least work on net/http alone)")
	cpuProfile  = flag.String("window-cpuprofile", "", "canarykit: fetch the controller's CPU profile of the window into this directory, in 5 s slices")
	windowTrace = flag.String("window-trace", "", "canarykit: fetch an execution trace of the controller, traceSeconds long from traceAfter into the window, into this file (its overhead counts in the window's CPU)")
	heapProfile = flag.String("heapprofile", "", "canarykit: fetch the controller's heap profile at the end of the window into this file")
	qps         = flag.Float64("qps", 0, "canarykit: a fixed client QPS for the controller, burst twice that (0: the controller's default, which follows the running Canaries)")
	defaultQPS  = flag.Bool("default-qps", false, "canarykit: a fixed client limit for the controller at the driver's floor (DefaultQPS, DefaultBurst)")
	http1       = flag.Bool("http1-requests", false, "canarykit: the controller's requests over HTTP/1.1 (--http1-requests, driver.Options.HTTP1Requests)")
	events      = flag.String("events", "", "canarykit: which Events the controller writes (--events: all, warnings or none; default all, as Flagger)")
	toolEnv     = flag.String("tool-env", "", "variables added to the measured tool's environment, comma-separated NAME=VALUE (GOMAXPROCS=1,GOGC=200): the Go runtime's settings measured without a rebuild")
	idle        = flag.Duration("idle", 30*time.Second, "how long to measure the tool's CPU and requests with every target initialized, before the window (0: not at all)")
)

// interval is the Canaries' analysis interval.
const interval = 10 * time.Second

var canaries = schema.GroupVersionResource{Group: "flagger.app", Version: "v1beta1", Resource: "canaries"}

// TestMain starts the bed with its HPA controller reconciling every 5 minutes instead of every
// 15 s: the bed has no metrics API, so a reconcile only gets the HPA's scale target, lists its
// pods and records a FailedGetResourceMetric Event. At 1,000 targets (2,000 HPAs with the
// primaries') that was 130 label-selected pod lists a second, most of the API server's CPU, and
// Service creations timed out. The HPAs are still created and reconciled once; both tools see
// the same bed.
func TestMain(m *testing.M) {
	testenv.Main(m, testenv.Options{Audit: true,
		ControllerManagerArgs: []string{"--horizontal-pod-autoscaler-sync-period=5m"}})
}

// run is one harness run on the bed.
type run struct {
	t    *testing.T
	env  *testenv.Env
	ns   string
	dyn  dynamic.Interface
	prom *testenv.Prometheus
	exp  *linkerdexp.Exporter
}

// TestScale releases -rollouts targets with -tool and prints the figures' line.
func TestScale(t *testing.T) {
	env := testenv.Shared(t)
	testenv.InstallCRDs(t, env.Config(), append(testenv.FlaggerCRDs(t), testenv.TrafficSplitCRD())...)
	dyn, err := dynamic.NewForConfig(env.Config())
	require.NoError(t, err)
	prom, exp := testenv.SharedPrometheus(t)
	r := &run{t: t, env: env, ns: env.Namespace(t), dyn: dyn, prom: prom, exp: exp}
	env.Kubelet(t, r.ns, "", testenv.ReadyNow())
	r.targets()

	var rel *subprocess
	switch *tool {
	case "canarykit":
		rel = r.canarykit()
	case "flagger":
		rel = r.flagger()
	case "floor":
		rel = r.floor()
	default:
		t.Fatalf("-tool %q: canarykit, flagger or floor", *tool)
	}
	r.waitPhase("Initialized")
	idleRate := r.idleCost(rel, *idle, "every target initialized")

	u, err := url.Parse(prom.URL)
	require.NoError(t, err)
	promPort, err := strconv.Atoi(u.Port())
	require.NoError(t, err)
	u, err = url.Parse(env.Config().Host)
	require.NoError(t, err)
	apiPort, err := strconv.Atoi(u.Port())
	require.NoError(t, err)

	mark, qmark := env.AuditMark(t), prom.QueryMark(t)
	start := time.Now()
	cpu0, err := ProcCPU(rel.pid())
	require.NoError(t, err)
	threads0, err := ProcThreads(rel.pid())
	require.NoError(t, err)
	machine0, err := MachineCPU()
	require.NoError(t, err)
	commands0, err := CommandsCPU()
	require.NoError(t, err)
	throttled0, tokenWaits0, err := rel.throttled(context.Background())
	require.NoError(t, err)
	stopProfile, profiled := make(chan struct{}), make(chan error, 1)
	var stopOnce sync.Once
	stop := func() { stopOnce.Do(func() { close(stopProfile) }) }
	t.Cleanup(stop) // a run that fails in the window stops the profiling too
	if *cpuProfile != "" {
		go func() { profiled <- rel.profileWindow(*cpuProfile, profileSlice, stopProfile) }()
	} else {
		profiled <- nil
	}
	traced := make(chan error, 1)
	if *windowTrace != "" {
		go func() { traced <- rel.traceWindow(*windowTrace, traceAfter, traceSeconds, stopProfile) }()
	} else {
		traced <- nil
	}
	r.forEach(func(name string) error {
		return retry.RetryOnConflict(retry.DefaultRetry, func() error { // the tool writes the Deployments too
			d, err := env.Client().AppsV1().Deployments(r.ns).Get(context.Background(), name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			d.Spec.Template.Spec.Containers[0].Image = "podinfo:2"
			_, err = env.Client().AppsV1().Deployments(r.ns).Update(context.Background(), d, metav1.UpdateOptions{})
			return err
		})
	})
	conns, apiConns, apiSeen := 0, 0, map[string]bool{}
	r.waitPhase("Succeeded", func() {
		if c, err := ConnsTo(rel.pid(), promPort); err == nil {
			conns = max(conns, len(c))
		}
		if c, err := ConnsTo(rel.pid(), apiPort); err == nil {
			apiConns = max(apiConns, len(c))
			for _, inode := range c {
				apiSeen[inode] = true
			}
		}
	})
	cpu1, err := ProcCPU(rel.pid())
	require.NoError(t, err)
	threads1, err := ProcThreads(rel.pid())
	require.NoError(t, err)
	machine1, err := MachineCPU()
	require.NoError(t, err)
	commands1, err := CommandsCPU()
	require.NoError(t, err)
	rss, err := ProcRSS(rel.pid())
	require.NoError(t, err)
	rssAnon, rssFile, err := ProcRSSSplit(rel.pid())
	require.NoError(t, err)
	throttled1, tokenWaits1, err := rel.throttled(context.Background())
	require.NoError(t, err)
	if *heapProfile != "" { // with every release done and before the Canaries are deleted
		require.NoError(t, rel.heapProfile(*heapProfile), "the heap profile")
	}
	elapsed := time.Since(start)
	stop()
	require.NoError(t, <-profiled, "the window's CPU profile")
	require.NoError(t, <-traced, "the window's execution trace")

	events := env.AuditSince(t, mark)
	writes, completed := map[string][]time.Time{}, map[string][]time.Time{}
	var inServer []time.Duration // each route write's time in the API server
	calls, steps := 0, 0
	byKind := map[string]int{} // by requestKind
	targets := map[string]bool{}
	for _, n := range names(*rollouts) {
		targets[n] = true
	}
	var reqs []Request
	untargeted := 0
	byClient := map[string]int{} // every client's requests, watches excluded
	for _, e := range events {
		if e.Verb != "watch" {
			byClient[clientOf(e, rel)]++
		}
		if !rel.mine(e) || e.Verb == "watch" {
			continue
		}
		calls++
		kind := requestKind(e.Verb, e.Resource, e.Subresource)
		byKind[kind]++
		reqs = append(reqs, Request{Received: e.Received, Target: TargetOf(e.Resource, e.Name, targets), Kind: kind})
		if reqs[len(reqs)-1].Target == "" {
			untargeted++
		}
		if e.Resource == "trafficsplits" && (e.Verb == "update" || e.Verb == "patch") {
			steps++
			writes[e.Name] = append(writes[e.Name], e.Received)
			if e.Complete {
				completed[e.Name] = append(completed[e.Name], e.Completed)
				inServer = append(inServer, e.Completed.Sub(e.Received))
			}
		}
	}
	open := 0
	for _, e := range env.AuditLog(t).Watches() {
		if rel.mine(e) && !e.Complete {
			open++
		}
	}
	require.Positive(t, steps, "route writes by %s in the window", *tool)
	throttled := int64(-1)
	if throttled0 >= 0 {
		throttled = throttled1 - throttled0
	}
	f := Figures{Tool: *tool, Rollouts: *rollouts, P99Lateness: Percentile(Lateness(writes, interval), 99),
		CPUPerStep: (cpu1 - cpu0) / time.Duration(steps), RSSMiB: rss, ReqPerStep: float64(calls) / float64(steps),
		Watches: open, PromConns: conns, Throttled: throttled}
	t.Logf("lateness in seconds by weight step: %s", LatenessByStep(writes, interval))
	queries, exec := r.queriesByTarget(qmark)
	t.Logf("lateness in seconds, split where the step's first query reached Prometheus: %s", SplitSummary(LatenessSplit(writes, queries, interval)))
	t.Logf("route writes in the API server (received to answered), seconds: p50=%.3f p90=%.3f p99=%.3f max=%.3f of %d; p99 lateness counted to the answers: %.2f",
		Percentile(inServer, 50).Seconds(), Percentile(inServer, 90).Seconds(), Percentile(inServer, 99).Seconds(), Percentile(inServer, 100).Seconds(), len(inServer),
		Percentile(Lateness(completed, interval), 99).Seconds())
	t.Logf("Prometheus' time on each query (execTotalTime), seconds: p50=%.3f p90=%.3f p99=%.3f max=%.3f of %d",
		Percentile(exec, 50).Seconds(), Percentile(exec, 90).Seconds(), Percentile(exec, 99).Seconds(), Percentile(exec, 100).Seconds(), len(exec))
	t.Logf("requests in the window by kind: %s", breakdown(byKind, steps))
	tickKinds, ticks := TickRequests(reqs, writes, interval)
	tickCalls := 0
	for _, n := range tickKinds {
		tickCalls += n
	}
	if ticks > 0 {
		t.Logf("requests per steady weight step (each release's steps 2 to %d, half an interval either side, by target; %d requests made for no target in the window): %.2f over %d ticks: %s",
			WeightSteps, untargeted, float64(tickCalls)/float64(ticks), ticks, breakdown(tickKinds, ticks))
	}
	r.logEvents(start)
	t.Logf("connections to the API server: at most %d open at once, %d seen in the window (looked at with each poll of the Canaries)", apiConns, len(apiSeen))
	t.Logf("window %s, %d steps, %d requests, CPU %s", elapsed.Round(time.Second), steps, calls, cpu1-cpu0)
	t.Logf("the machine over the window (every process on it, the tool's %.2f cores included): %s",
		cores(cpu1-cpu0, elapsed), MachineBetween(machine0, machine1, elapsed))
	t.Logf("cores by command over the window, the busiest: %s", CommandsBetween(commands0, commands1, elapsed, 6))
	t.Logf("the API server's requests in the window by client (watches excluded): %s", ClientRates(byClient, elapsed))
	threads := ThreadsBetween(threads0, threads1)
	sleeps := TotalSleeps(threads)
	t.Logf("the tool's threads went to sleep %d times in the window (voluntary context switches, each followed by a wake-up): %.1f per step; %s",
		sleeps, float64(sleeps)/float64(steps), ThreadsSummary(threads, 4))
	t.Logf("resident at the window's end: %.0f MiB allocated (heap, stacks, runtime), %.0f MiB of mapped files (the binary's code and tables)", rssAnon, rssFile)
	if *idle > 0 {
		idleCPU := time.Duration(idleRate * float64(elapsed))
		t.Logf("CPU per step less the idle rate (%s of the window's CPU at the idle rate): %.2f ms",
			idleCPU.Round(10*time.Millisecond), ms(cpu1-cpu0-idleCPU)/float64(steps))
	}
	if tokenWaits0 >= 0 {
		// throttled= is the rate limiter's latency over 1 ms, which on saturated cores includes
		// waiting to be scheduled; the driver's own count is of the waits its limiter imposed
		t.Logf("requests that waited for a token of the driver's rate limiter (%s): %d", TokenWaitsMetric, tokenWaits1-tokenWaits0)
	}
	if body, err := rel.scrape(context.Background()); err == nil && body != nil {
		if procs, err := GoMaxProcs(bytes.NewReader(body)); err == nil && procs > 0 {
			t.Logf("the tool's GOMAXPROCS (%s): %d", GoMaxProcsMetric, procs)
		}
	}
	if *tool == "canarykit" {
		// a claim lost stops its release ("lease lost; stopping", "holder lease lost; ...")
		lost, err := logLines(rel.log, "lease lost")
		require.NoError(t, err)
		t.Logf("claims lost in the run (lines of the controller's log that say \"lease lost\"): %d", len(lost))
		for _, line := range lost[:min(len(lost), 10)] { // what lost them, the first ten
			t.Logf("  %s", line)
		}
	}
	if *cpuProfile != "" {
		t.Logf("CPU profile of the window: go tool pprof -top %s", filepath.Join(*cpuProfile, "*.pb.gz"))
	}
	if *windowTrace != "" {
		t.Logf("execution trace of %d s from %s into the window: go tool trace %s (go tool trace -d=parsed %s lists its events)", traceSeconds, traceAfter, *windowTrace, *windowTrace)
	}
	if *heapProfile != "" {
		stats, err := memStats(*heapProfile + ".txt")
		require.NoError(t, err)
		n, err := goroutines(*heapProfile + ".goroutines.txt")
		require.NoError(t, err)
		t.Logf("heap profile at the end of the window: go tool pprof -sample_index=inuse_space -top %s (%s, %d goroutines: %s)", *heapProfile, stats, n, *heapProfile+".goroutines.txt")
	}
	// what finished rollouts cost while they wait for the next revision, after the window's
	// figures (its requests are those up to now since the mark)
	r.idleCost(rel, *idle, "every release succeeded")
	fmt.Println(f.Line())
}

// idleCost measures the tool over d with none of its targets releasing (state says in what
// state they are): its CPU and its requests (audit log, watches excluded), which it logs, and
// returns its CPU rate (CPU seconds a second); 0 for d = 0.
func (r *run) idleCost(rel *subprocess, d time.Duration, state string) float64 {
	t := r.t
	if d <= 0 {
		return 0
	}
	mark := r.env.AuditMark(t)
	cpu0, err := ProcCPU(rel.pid())
	require.NoError(t, err)
	sleeps0, err := ProcSleeps(rel.pid())
	require.NoError(t, err)
	start := time.Now()
	time.Sleep(d)
	cpu1, err := ProcCPU(rel.pid())
	require.NoError(t, err)
	sleeps1, err := ProcSleeps(rel.pid())
	require.NoError(t, err)
	elapsed := time.Since(start)
	byKind, calls := map[string]int{}, 0
	for _, e := range r.env.AuditSince(t, mark) {
		if rel.mine(e) && e.Verb != "watch" {
			calls++
			byKind[requestKind(e.Verb, e.Resource, e.Subresource)]++
		}
	}
	rate := (cpu1 - cpu0).Seconds() / elapsed.Seconds()
	perTarget := rate * interval.Seconds() / float64(*rollouts) * 1000
	t.Logf("idle, %s, over %s: CPU %s (%.1f %% of a core, %.3f ms per target and interval), %d requests (%s), %.0f sleeps of the tool's threads a second",
		state, elapsed.Round(time.Second), (cpu1 - cpu0).Round(time.Millisecond), 100*rate, perTarget, calls, breakdown(byKind, 0),
		float64(sleeps1-sleeps0)/elapsed.Seconds())
	return rate
}

// requestKind names a request's kind as the harness counts them: "verb resource[/subresource]".
func requestKind(verb, resource, subresource string) string {
	return verb + " " + strings.TrimSuffix(resource+"/"+subresource, "/")
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// targetOfQuery finds the target a Linkerd built-in check's query is about.
var targetOfQuery = regexp.MustCompile(`deployment=~"([^"]+)"`)

// queriesByTarget returns the time each target's queries since mark reached Prometheus'
// engine (logged time − time on it), by target, and Prometheus' time on each.
func (r *run) queriesByTarget(mark testenv.QueryMark) (map[string][]time.Time, []time.Duration) {
	byTarget := map[string][]time.Time{}
	var exec []time.Duration
	for _, q := range r.prom.QueriesSince(r.t, mark, `deployment=~"`) {
		m := targetOfQuery.FindStringSubmatch(q.Query)
		if m == nil {
			continue
		}
		byTarget[m[1]] = append(byTarget[m[1]], q.Time.Add(-q.Exec))
		exec = append(exec, q.Exec)
	}
	return byTarget, exec
}

// profileSlice is the length of each CPU profile -window-cpuprofile fetches (seconds).
const profileSlice = 5

// traceAfter and traceSeconds place the execution trace -window-trace fetches: from 20 s into
// the window (every target stepping) for 10 s (one interval: every target's tick once).
const (
	traceAfter   = 20 * time.Second
	traceSeconds = 10
)

// targets creates N podinfo targets app-NNNN (testenv.CreatePodinfo: one replica, an HPA of 1 to 2),
// synthetic Linkerd traffic for each (all successes, 2–20 ms) and a Canary for each.
func (r *run) targets() {
	ctx := context.Background()
	r.forEach(func(name string) error {
		if err := testenv.CreatePodinfo(ctx, r.env.Client(), r.ns, name, "podinfo:1", 1); err != nil {
			return err
		}
		r.exp.SetTraffic(linkerdexp.Workload{Namespace: r.ns, Deployment: name},
			linkerdexp.Traffic{RPS: 5, LatencyMin: 2 * time.Millisecond, LatencyMax: 20 * time.Millisecond})
		_, err := r.dyn.Resource(canaries).Namespace(r.ns).Create(ctx, canaryObject(name), metav1.CreateOptions{})
		return err
	})
}

// canaryObject is a Linkerd Canary of the Deployment name: interval 10 s, stepWeight 10 to
// 50, the two built-in checks over 1 m.
func canaryObject(name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"provider":  "linkerd",
			"targetRef": map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
			"autoscalerRef": map[string]any{"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
				"name": name},
			"service": map[string]any{"port": int64(9898)},
			"analysis": map[string]any{"interval": "10s", "threshold": int64(5), "stepWeight": int64(10), "maxWeight": int64(50),
				"metrics": []any{
					map[string]any{"name": "request-success-rate", "interval": "1m",
						"thresholdRange": map[string]any{"min": int64(99)}},
					map[string]any{"name": "request-duration", "interval": "1m",
						"thresholdRange": map[string]any{"max": int64(500)}},
				}},
		},
	}}
}

// names are the targets' names.
func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("app-%04d", i)
	}
	return out
}

// forEach runs fn for every target on 8 workers and fails the run on the first error.
func (r *run) forEach(fn func(name string) error) {
	work := make(chan string)
	errs := make(chan error, *rollouts)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range work {
				if err := fn(name); err != nil {
					errs <- fmt.Errorf("%s: %w", name, err)
				}
			}
		}()
	}
	for _, n := range names(*rollouts) {
		work <- n
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(r.t, err)
	}
}

// waitPhase polls the Canaries every 2 s until every one is in phase (calling each after
// every poll); a Canary that fails stops the run.
func (r *run) waitPhase(phase string, each ...func()) {
	failed := 0
	for {
		list, err := r.dyn.Resource(canaries).Namespace(r.ns).List(context.Background(), metav1.ListOptions{})
		if err != nil { // an overloaded server times a List out: the run goes on, a dead one fails
			failed++
			require.Less(r.t, failed, 10, "listing the Canaries failed 10 times in a row: %v", err)
			r.t.Logf("listing the Canaries: %v (retrying)", err)
			time.Sleep(5 * time.Second)
			continue
		}
		failed = 0
		done := 0
		for _, u := range list.Items {
			p, _, _ := unstructured.NestedString(u.Object, "status", "phase")
			require.NotEqual(r.t, "Failed", p, "Canary %s failed", u.GetName())
			if p == phase {
				done++
			}
		}
		for _, fn := range each {
			fn()
		}
		if done == *rollouts {
			return
		}
		time.Sleep(max(2*time.Second, time.Duration(*rollouts)*5*time.Millisecond)) // 5 s at 1,000: the List is the server's work too
	}
}

// clientOf names the client that made an audited request: the tool (by its user agent), the
// bed's kube-controller-manager or kubelet stand-in (by their users), the harness itself (the
// bed's admin otherwise), or the request's user.
func clientOf(e testenv.AuditEvent, tool *subprocess) string {
	switch {
	case tool.mine(e):
		return "the tool"
	case e.User == testenv.ControllerManagerUser:
		return "kube-controller-manager"
	case e.User == testenv.KubeletUser:
		return "the kubelet stand-in"
	case e.User == testenv.AdminUser:
		return "the harness"
	}
	return e.User
}

// breakdown lists the kinds by count, most first, each with its count per step when steps > 0.
func breakdown(byKind map[string]int, steps int) string {
	kinds := make([]string, 0, len(byKind))
	for k := range byKind {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool {
		if byKind[kinds[i]] != byKind[kinds[j]] {
			return byKind[kinds[i]] > byKind[kinds[j]]
		}
		return kinds[i] < kinds[j]
	})
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s %d", k, byKind[k])
		if steps > 0 {
			parts[i] += fmt.Sprintf(" (%.2f/step)", float64(byKind[k])/float64(steps))
		}
	}
	return strings.Join(parts, ", ")
}

// digits are the numbers in an Event's message, so that the messages of N targets group.
var digits = regexp.MustCompile(`[0-9]+(\.[0-9]+)?`)

// logEvents logs the tool's Events (canarykit's or Flagger's source) written since start by kind (type, reason, message with its
// numbers and the target's name masked), most frequent first: why a step came late shows there
// (a halted advancement, a canary not ready).
func (r *run) logEvents(since time.Time) {
	list, err := r.env.Client().CoreV1().Events(r.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		r.t.Logf("events: %v", err)
		return
	}
	kinds := map[string]int{}
	var mine []corev1.Event
	for _, e := range list.Items {
		last := e.LastTimestamp.Time
		if last.IsZero() {
			last = e.EventTime.Time
		}
		src := e.Source.Component + e.ReportingController
		if last.Before(since.Truncate(time.Second)) || !strings.Contains(src, "canarykit") && !strings.Contains(src, "flagger") {
			continue // not the tool's (the HPAs' and the controllers' of the bed)
		}
		msg := strings.ReplaceAll(e.Message, e.InvolvedObject.Name, "<target>")
		kinds[e.Type+" "+e.Reason+": "+digits.ReplaceAllString(msg, "#")] += int(max(e.Count, 1))
		mine = append(mine, e)
	}
	r.t.Logf("events since the new images by kind: %s", breakdown(kinds, 0))
	if ds := EventDelays(mine); len(ds) > 0 {
		r.t.Logf("events since the new images, from their recording to their creation (whole seconds): p50=%.0f p90=%.0f p99=%.0f max=%.0f of %d",
			Percentile(ds, 50).Seconds(), Percentile(ds, 90).Seconds(), Percentile(ds, 99).Seconds(), Percentile(ds, 100).Seconds(), len(ds))
	}
}
