package linkerdexp

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"maps"
	"math/rand"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// BucketsMs returns the upper bounds, in milliseconds, of Linkerd's response_latency_ms
// buckets (a +Inf bucket follows); the slice is the caller's.
func BucketsMs() []float64 { return append([]float64(nil), bucketsMs...) }

// bucketsMs is what BucketsMs returns; never changed.
var bucketsMs = []float64{
	1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500,
	1000, 2000, 3000, 4000, 5000, 10000, 20000, 30000, 40000, 50000,
}

// Workload identifies the pods whose proxies report: a Deployment in a namespace. Prometheus'
// default relabeling adds no namespace or deployment label, so the exporter puts them on
// every series, as Linkerd's scrape config would.
type Workload struct {
	Namespace  string
	Deployment string
}

// Authority is the authority label of the workload's series: its in-cluster service name.
func (w Workload) Authority() string {
	return w.Deployment + "." + w.Namespace + ".svc.cluster.local:8080"
}

// Options configure an Exporter. The zero value uses the real clock and seed 1.
type Options struct {
	// Clock drives synthetic traffic; tests of the exporter itself pass a fake clock.
	Clock clock.PassiveClock
	// Seed makes synthetic latencies reproducible; 0 means 1.
	Seed int64
}

// Exporter serves Linkerd-proxy-shaped metrics in the Prometheus text format. Requests are
// recorded one by one (Record) or generated (SetTraffic). The zero value is ready to use.
type Exporter struct {
	mu      sync.Mutex
	clock   clock.PassiveClock
	rng     *rand.Rand
	series  map[seriesKey]*series
	traffic map[Workload]*generator
	// attached write more series after the exporter's own (Attach), by attachment
	attached map[int]io.WriterTo
	nextID   int
}

// Attach makes every exposition end with what src writes (other data planes' series, in the
// text format, without TYPE lines: two sources may write the same family) until the returned
// function detaches it. src is called without the exporter's lock held.
func (e *Exporter) Attach(src io.WriterTo) (detach func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.attached == nil {
		e.attached = map[int]io.WriterTo{}
	}
	id := e.nextID
	e.nextID++
	e.attached[id] = src
	return func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		delete(e.attached, id)
	}
}

var _ http.Handler = (*Exporter)(nil)

// seriesKey is one label set of response_total (and of the latency histogram).
type seriesKey struct {
	Workload
	pod    string
	status int
	// authority is the host the request was addressed to; "" means Workload.Authority().
	authority string
}

type series struct {
	count   uint64
	buckets []uint64 // cumulative, one per bucketsMs bound
	sumMs   float64
}

// New returns an Exporter.
func New(opts Options) *Exporter {
	e := &Exporter{clock: opts.Clock}
	if opts.Seed != 0 {
		e.rng = rand.New(rand.NewSource(opts.Seed))
	}
	return e
}

// lazyInit fills defaults; e.mu must be held.
func (e *Exporter) lazyInit() {
	if e.clock == nil {
		e.clock = clock.RealClock{}
	}
	if e.rng == nil {
		e.rng = rand.New(rand.NewSource(1))
	}
	if e.series == nil {
		e.series = map[seriesKey]*series{}
		e.traffic = map[Workload]*generator{}
	}
}

// Record counts one request answered by pod of w with statusCode after latency.
func (e *Exporter) Record(w Workload, pod string, statusCode int, latency time.Duration) {
	e.RecordAddressed(w, pod, "", statusCode, latency)
}

// RecordAddressed is Record for a request addressed to authority (its Host, as the proxy's
// authority label shows it; "" means w.Authority()).
func (e *Exporter) RecordAddressed(w Workload, pod, authority string, statusCode int, latency time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lazyInit()
	e.record(seriesKey{Workload: w, pod: pod, status: statusCode, authority: authority}, latency)
}

func (e *Exporter) record(k seriesKey, latency time.Duration) {
	s := e.seriesFor(k)
	ms := float64(latency) / float64(time.Millisecond)
	s.count++
	s.sumMs += ms
	for i, bound := range bucketsMs {
		if ms <= bound {
			s.buckets[i]++
		}
	}
}

func (e *Exporter) seriesFor(k seriesKey) *series {
	s, ok := e.series[k]
	if !ok {
		s = &series{buckets: make([]uint64, len(bucketsMs))}
		e.series[k] = s
	}
	return s
}

// Totals returns how many requests w has answered and how many of them failed (5xx).
func (e *Exporter) Totals(w Workload) (requests, failures uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lazyInit()
	e.advance()
	for k, s := range e.series {
		if k.Workload == w {
			requests += s.count
			if classification(k.status) == "failure" {
				failures += s.count
			}
		}
	}
	return requests, failures
}

// classification is Linkerd's default response classification for HTTP: 5xx fail.
func classification(status int) string {
	if status >= 500 {
		return "failure"
	}
	return "success"
}

// ServeHTTP writes every series in the Prometheus text exposition format.
func (e *Exporter) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = e.WriteTo(w)
}

// WriteTo writes the exposition (after advancing synthetic traffic to now).
func (e *Exporter) WriteTo(out io.Writer) (int64, error) {
	e.mu.Lock()
	e.lazyInit()
	e.advance()
	keys := make([]seriesKey, 0, len(e.series))
	for k := range e.series {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b seriesKey) int {
		if c := compareWorkloads(a.Workload, b.Workload); c != 0 {
			return c
		}
		if c := strings.Compare(a.pod, b.pod); c != 0 {
			return c
		}
		if c := strings.Compare(a.authority, b.authority); c != 0 {
			return c
		}
		return a.status - b.status
	})
	snapshot := make([]series, len(keys))
	for i, k := range keys {
		s := e.series[k]
		snapshot[i] = series{count: s.count, sumMs: s.sumMs, buckets: append([]uint64(nil), s.buckets...)}
	}
	attached := make([]io.WriterTo, 0, len(e.attached))
	for _, id := range slices.Sorted(maps.Keys(e.attached)) {
		attached = append(attached, e.attached[id])
	}
	e.mu.Unlock()

	cw := &countingWriter{w: bufio.NewWriter(out)}
	cw.printf("# HELP response_total Total count of HTTP responses.\n# TYPE response_total counter\n")
	for i, k := range keys {
		cw.printf("response_total{%s,classification=%q} %d\n", labels(k), classification(k.status), snapshot[i].count)
	}
	cw.printf("# HELP response_latency_ms Elapsed times between a request's headers being received and its response stream completing\n")
	cw.printf("# TYPE response_latency_ms histogram\n")
	for i, k := range keys {
		l, s := labels(k), snapshot[i]
		for j, bound := range bucketsMs {
			cw.printf("response_latency_ms_bucket{%s,le=%q} %d\n", l, strconv.FormatFloat(bound, 'f', -1, 64), s.buckets[j])
		}
		cw.printf("response_latency_ms_bucket{%s,le=\"+Inf\"} %d\n", l, s.count)
		cw.printf("response_latency_ms_sum{%s} %s\n", l, strconv.FormatFloat(s.sumMs, 'f', -1, 64))
		cw.printf("response_latency_ms_count{%s} %d\n", l, s.count)
	}
	for _, src := range attached {
		if cw.err == nil {
			cw.err = cw.w.Flush()
		}
		if cw.err == nil {
			n, err := src.WriteTo(out)
			cw.n, cw.err = cw.n+n, err
		}
	}
	if cw.err == nil {
		cw.err = cw.w.Flush()
	}
	return cw.n, cw.err
}

// labels renders the label set shared by a key's series.
func labels(k seriesKey) string {
	pairs := [][2]string{
		{"direction", "inbound"},
		{"authority", cmp.Or(k.authority, k.Authority())},
		{"tls", "true"},
		{"status_code", strconv.Itoa(k.status)},
		{"namespace", k.Namespace},
		{"deployment", k.Deployment},
		{"pod", k.pod},
	}
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = p[0] + `="` + escapeLabel(p[1]) + `"`
	}
	return strings.Join(parts, ",")
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabel(v string) string { return labelEscaper.Replace(v) }

type countingWriter struct {
	w   *bufio.Writer
	n   int64
	err error
}

func (c *countingWriter) printf(format string, args ...any) {
	if c.err != nil {
		return
	}
	n, err := fmt.Fprintf(c.w, format, args...)
	c.n += int64(n)
	c.err = err
}
