package meshsim

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Histogram bounds of the other data planes' duration metrics: Istio's default buckets for
// istio_request_duration_milliseconds, ingress-nginx's for
// nginx_ingress_controller_request_duration_seconds.
var (
	istioBucketsMs = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}
	nginxBucketsS  = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
)

// istioKey is one label set of istio_requests_total as the destination's sidecar reports it.
type istioKey struct {
	workload, service string
	code              int
}

// nginxKey is one label set of nginx_ingress_controller_requests.
type nginxKey struct {
	ingress, service, canary string
	status                   int
}

// histo is a counter with a histogram of durations.
type histo struct {
	count   uint64
	sum     float64
	buckets []uint64 // cumulative
}

func (h *histo) observe(v float64, bounds []float64) {
	if h.buckets == nil {
		h.buckets = make([]uint64, len(bounds))
	}
	h.count++
	h.sum += v
	for i, b := range bounds {
		if v <= b {
			h.buckets[i]++
		}
	}
}

// formats records every answer in Istio's and ingress-nginx's metric formats, beside the
// Linkerd exporter, and writes them in the Prometheus text format (attached to the Linkerd
// exporter, so the same scrape carries them).
type formats struct {
	ns    string
	mu    sync.Mutex
	istio map[istioKey]*histo
	nginx map[nginxKey]*histo
}

func newFormats(ns string) *formats {
	return &formats{ns: ns, istio: map[istioKey]*histo{}, nginx: map[nginxKey]*histo{}}
}

// pod records an answer of a pod of workload, reached through service, as its Istio sidecar
// would (reporter="destination").
func (f *formats) pod(workload, service string, code int, latency time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := istioKey{workload, service, code}
	h := f.istio[k]
	if h == nil {
		h = &histo{}
		f.istio[k] = h
	}
	h.observe(float64(latency)/float64(time.Millisecond), istioBucketsMs)
}

// ingress records a request ingress-nginx answered for ingress through service; canary is the
// canary upstream's name when the canary Ingress took it.
func (f *formats) ingress(ingress, service, canary string, status int, latency time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := nginxKey{ingress, service, canary, status}
	h := f.nginx[k]
	if h == nil {
		h = &histo{}
		f.nginx[k] = h
	}
	h.observe(latency.Seconds(), nginxBucketsS)
}

// WriteTo writes the series (no TYPE lines: another mesh's exporter may write the same family).
func (f *formats) WriteTo(out io.Writer) (int64, error) {
	f.mu.Lock()
	ik := slices.SortedFunc(mapKeys(f.istio), func(a, b istioKey) int {
		return cmpStrings(a.workload+"\x00"+a.service, b.workload+"\x00"+b.service, a.code-b.code)
	})
	nk := slices.SortedFunc(mapKeys(f.nginx), func(a, b nginxKey) int {
		return cmpStrings(a.ingress+"\x00"+a.service+"\x00"+a.canary, b.ingress+"\x00"+b.service+"\x00"+b.canary, a.status-b.status)
	})
	is := make([]histo, len(ik))
	for i, k := range ik {
		is[i] = *f.istio[k]
		is[i].buckets = slices.Clone(is[i].buckets)
	}
	ns := make([]histo, len(nk))
	for i, k := range nk {
		ns[i] = *f.nginx[k]
		ns[i].buckets = slices.Clone(ns[i].buckets)
	}
	f.mu.Unlock()

	w := &countWriter{w: bufio.NewWriter(out)}
	for i, k := range ik {
		l := fmt.Sprintf(`reporter="destination",destination_workload=%q,destination_workload_namespace=%q,destination_service_name=%q,destination_service_namespace=%q,response_code="%d",source_workload="unknown"`,
			k.workload, f.ns, k.service, f.ns, k.code)
		w.printf("istio_requests_total{%s} %d\n", l, is[i].count)
		writeHisto(w, "istio_request_duration_milliseconds", l, is[i], istioBucketsMs)
	}
	for i, k := range nk {
		l := fmt.Sprintf(`namespace=%q,ingress=%q,service=%q,canary=%q,status="%d"`, f.ns, k.ingress, k.service, k.canary, k.status)
		w.printf("nginx_ingress_controller_requests{%s} %d\n", l, ns[i].count)
		writeHisto(w, "nginx_ingress_controller_request_duration_seconds", l, ns[i], nginxBucketsS)
		// ingress-nginx times the upstream's answer separately; here both are the same
		writeHisto(w, "nginx_ingress_controller_response_duration_seconds", l, ns[i], nginxBucketsS)
	}
	if w.err == nil {
		w.err = w.w.Flush()
	}
	return w.n, w.err
}

func writeHisto(w *countWriter, name, labels string, h histo, bounds []float64) {
	for j, b := range bounds {
		w.printf("%s_bucket{%s,le=%q} %d\n", name, labels, strconv.FormatFloat(b, 'f', -1, 64), h.buckets[j])
	}
	w.printf("%s_bucket{%s,le=\"+Inf\"} %d\n", name, labels, h.count)
	w.printf("%s_sum{%s} %s\n", name, labels, strconv.FormatFloat(h.sum, 'f', -1, 64))
	w.printf("%s_count{%s} %d\n", name, labels, h.count)
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func cmpStrings(a, b string, then int) int {
	if c := strings.Compare(a, b); c != 0 {
		return c
	}
	return then
}

type countWriter struct {
	w   *bufio.Writer
	n   int64
	err error
}

func (c *countWriter) printf(format string, args ...any) {
	if c.err != nil {
		return
	}
	n, err := fmt.Fprintf(c.w, format, args...)
	c.n += int64(n)
	c.err = err
}
