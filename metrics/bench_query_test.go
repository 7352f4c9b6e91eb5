package metrics

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// promAnswer is what Prometheus answers to a Flagger success-rate query: one series without
// labels (the query sums them away).
const promAnswer = `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1796049712.625,"99.52380952380952"]}]}}`

// realisticProm serves body the way Prometheus' HTTP API does: it parses the form (query and
// timeout), answers JSON, and compresses the answer with gzip when the request accepts it. The
// server reuses its gzip writers so that its own cost stays small next to the client's.
func realisticProm(body string) *httptest.Server {
	writers := sync.Pool{New: func() any { return gzip.NewWriter(io.Discard) }}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Form.Get("query") == "" {
			http.Error(w, "no query", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			zw := writers.Get().(*gzip.Writer)
			zw.Reset(w)
			_, _ = zw.Write([]byte(body))
			_ = zw.Close()
			writers.Put(zw)
			return
		}
		_, _ = w.Write([]byte(body))
	}))
}

// BenchmarkPrometheusQueryRealistic is one instant query, with a bearer token, against a server
// answering as Prometheus does: the client's whole cost per query plus a lean server's.
func BenchmarkPrometheusQueryRealistic(b *testing.B) {
	srv := realisticProm(promAnswer)
	defer srv.Close()
	p, err := NewPrometheus(PrometheusOptions{Address: srv.URL, Credentials: Credentials{BearerToken: "t"}, Pool: NewPool(PoolOptions{})})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q := Linkerd()[RequestSuccessRate]
	b.ReportAllocs()
	cpu0 := processCPU(b)
	for b.Loop() {
		v, err := p.Query(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		if v != 99.52380952380952 {
			b.Fatalf("value %v", v)
		}
	}
	// CPU time rather than wall time: the machine's other load does not count.
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU is the CPU time (user and system) the process has used, in nanoseconds.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
