package metrics

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
)

// BenchmarkPrometheusQuery is one Query round trip against an httptest Prometheus: request
// encoding, HTTP on loopback, JSON decoding, result checks.
func BenchmarkPrometheusQuery(b *testing.B) {
	f := &promFake{answer: always(200, vectorJSON(series{map[string]string{"deployment": "podinfo"}, "99.5"}))}
	f.Server = newServer(f)
	defer f.Close()
	p, err := NewPrometheus(PrometheusOptions{Address: f.URL, Credentials: Credentials{BearerToken: "t"}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	q := Linkerd()[RequestSuccessRate]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Query(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMannWhitney is the test with its estimate and interval for typical sample sizes:
// 20 and 40 are per-step samples of one analysis, 200 per-pod or longer windows.
func BenchmarkMannWhitney(b *testing.B) {
	for _, n := range []int{20, 40, 60, 200} {
		for _, ties := range []bool{false, true} {
			x, y := normals(1, n, 1.1, 1), normals(2, n, 1, 1)
			if ties {
				for i := range x {
					x[i], y[i] = float64(int(x[i]*4)), float64(int(y[i]*4))
				}
			}
			b.Run(fmt.Sprintf("n=%d/ties=%v", n, ties), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := MannWhitney(x, y, 0.98); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkJudgeCheck is one judge check of two metrics with 40 samples per side, from an
// in-memory source: the judge's own cost per analysis tick.
func BenchmarkJudgeCheck(b *testing.B) {
	s := Samples{Canary: normals(1, 40, 1, 0.2), Baseline: normals(2, 40, 1, 0.2)}
	src := SamplesFunc(func(context.Context, SampleRequest) (Samples, error) { return s, nil })
	j, err := NewJudge(JudgeOptions{Source: src, Metrics: LinkerdJudgeMetrics()})
	if err != nil {
		b.Fatal(err)
	}
	req := canary.CheckRequest{Metric: canary.Metric{Name: "judge", Interval: 30 * time.Second}, Target: canary.Target{Namespace: "test", Name: "podinfo"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := j.Check(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}
