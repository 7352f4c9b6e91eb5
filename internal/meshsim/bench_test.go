package meshsim_test

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/canarykit/canarykit/internal/meshsim"
	"github.com/canarykit/canarykit/internal/testenv"
)

// BenchmarkMeshRequests measures the requests per second the simulated data plane sustains:
// GET / to the apex podinfo, split 50/50 by a TrafficSplit, answered by 2 + 2 pods, recorded
// in the exporter and counted, from 8 clients per CPU.
//
//	go test -run '^$' -bench MeshRequests ./internal/meshsim/ [-race]
func BenchmarkMeshRequests(b *testing.B) {
	env := testenv.Shared(b)
	testenv.InstallCRDs(b, env.Config(), testenv.TrafficSplitCRD())
	bd := newBed(b, env, meshsim.Options{})
	bd.flagger(b, "podinfo:3.1.1", "podinfo:3.1.0")
	bd.split(b, "v1alpha2", "50", "50")
	bd.waitWeights(b, "podinfo", map[string]float64{"podinfo-canary": 50, "podinfo-primary": 50})
	client := bd.mesh.Client()
	mark := bd.mesh.Traffic()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://podinfo.test:9898/", nil)
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	for _, s := range bd.mesh.Traffic().Since(mark).Mix("podinfo") {
		if d := s.Want*float64(s.RouteRequests) - float64(s.Requests); d > 1 || d < -1 {
			b.Errorf("%s: %d of %d requests, want share %.2f", s.Backend, s.Requests, s.RouteRequests, s.Want)
		}
	}
}
