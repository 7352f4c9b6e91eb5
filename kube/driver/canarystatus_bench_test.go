package driver

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
)

// canaryAnswers is an API server for one Canary in memory, without a network: a GET answers
// testdata/canary-object.json, a PUT to its status the same object at the next
// resourceVersion (prepared beforehand, so the benchmark measures the client's work).
type canaryAnswers struct {
	answers [][]byte // the object at resourceVersion 1000000+i
	rv      atomic.Int64
	puts    atomic.Int64
}

func newCanaryAnswers(tb testing.TB, n int) *canaryAnswers {
	tb.Helper()
	raw, err := os.ReadFile("testdata/canary-object.json")
	if err != nil {
		tb.Fatal(err)
	}
	a := &canaryAnswers{}
	for i := range n {
		rv := strconv.Itoa(1000000 + i)
		a.answers = append(a.answers, bytes.Replace(raw, []byte(`"resourceVersion": "1234"`), []byte(`"resourceVersion": "`+rv+`"`), 1))
	}
	return a
}

func (a *canaryAnswers) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		_ = req.Body.Close()
	}
	i := a.rv.Load()
	if req.Method == http.MethodPut {
		a.puts.Add(1)
		i = a.rv.Add(1)
	}
	body := a.answers[int(i)%len(a.answers)]
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": []string{"application/json"}},
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: req}, nil
}

// benchConfig is a client configuration whose requests a reach rt, unthrottled.
func benchConfig(rt http.RoundTripper) *rest.Config {
	return &rest.Config{Host: "https://apiserver.invalid", Transport: rt, QPS: -1}
}

// BenchmarkCanaryStoreSave is one analysis step's status write: Save of a changed weight on
// a Canary as the API server returns it (spec, last-applied annotation, managed fields).
func BenchmarkCanaryStoreSave(b *testing.B) {
	ctx := context.Background()
	answers := newCanaryAnswers(b, 1<<16)
	target := canary.Target{Namespace: "ns", Name: "podinfo"}
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	lease, err := kube.NewLease(kube.LeaseOptions{Client: fake.NewClientset(), Target: target, Identity: "bench", Clock: clk})
	if err != nil {
		b.Fatal(err)
	}
	if err := lease.Acquire(ctx); err != nil {
		b.Fatal(err)
	}
	s := benchStore(b, benchConfig(answers), target, lease, clk)
	st, err := s.Load(ctx, target)
	if err != nil {
		b.Fatal(err)
	}
	st.StartedAt = clk.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		st.CanaryWeight = 10 * (i%5 + 1)
		if st, err = s.Save(ctx, target, st); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if got := answers.puts.Load(); got != int64(b.N) {
		b.Fatalf("%d status writes for %d saves", got, b.N)
	}
}

func benchStore(b *testing.B, cfg *rest.Config, t canary.Target, lease *kube.Lease, clk *clocktesting.FakeClock) *CanaryStore {
	client, err := canaryClient(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	return newCanaryStore(restCanaries{client: client, namespace: t.Namespace}, "podinfo", t, lease, nil, clk)
}

// BenchmarkCanaryStoreFootprint is what a CanaryStore keeps of its Canary between requests
// (testdata/canary-object.json as the API server answers a status write), per target: the
// heap that 1,000 of them hold after a collection.
func BenchmarkCanaryStoreFootprint(b *testing.B) {
	const targets = 1000
	raw, err := os.ReadFile("testdata/canary-object.json")
	if err != nil {
		b.Fatal(err)
	}
	var perTarget float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		kept := make([]*canaryState, targets)
		for i := range kept {
			if kept[i], err = parseCanary(raw); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perTarget = float64(after.HeapAlloc-before.HeapAlloc) / targets
		runtime.KeepAlive(kept)
	}
	b.ReportMetric(perTarget, "B/target")
}
