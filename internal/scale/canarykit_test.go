//go:build scale

package scale

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/canarykit/canarykit/kube/driver"
	"github.com/stretchr/testify/require"
)

// controllerPackage is canarykit's Flagger-compatible Canary controller, the process the
// harness measures for canarykit.
const controllerPackage = "github.com/canarykit/canarykit/examples/flagger-controller"

// buildController builds examples/flagger-controller into dir (the harness runs from the
// repository; go's build cache makes the build after the first a link). The binary's name
// is client-go's default user agent ("flagger-controller/…").
func (r *run) buildController(dir string) string {
	bin := filepath.Join(dir, "flagger-controller")
	out, err := exec.Command("go", "build", "-o", bin, controllerPackage).CombinedOutput()
	require.NoError(r.t, err, "go build %s:\n%s", controllerPackage, out)
	return bin
}

// canarykit starts examples/flagger-controller on the namespace, as its own process: the
// bed's Prometheus, /metrics on a loopback port (the client's rate-limiter wait is read
// there), the driver's client limit as the controller sets it by default (it follows the
// running Canaries: driver.RateLimit of them) unless -qps or -default-qps fix one,
// /debug/pprof when -window-cpuprofile, -window-trace or -heapprofile.
func (r *run) canarykit() *subprocess {
	dir := r.t.TempDir()
	bin := r.buildController(dir)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	require.NoError(r.t, writeKubeconfig(kubeconfig, r.env))
	metrics := "127.0.0.1:" + strconv.Itoa(r.freePort())
	args := []string{"--kubeconfig", kubeconfig, "--namespace", r.ns, "--prometheus", r.prom.URL, "--identity", "scale",
		"--metrics-addr", metrics}
	limit := "adaptive (driver.RateLimit of the running Canaries)"
	q, burst := float32(0), 0
	if *defaultQPS {
		q, burst = driver.DefaultQPS, driver.DefaultBurst
	}
	if *qps > 0 {
		q, burst = float32(*qps), int(2**qps)
	}
	if q > 0 {
		args = append(args, "--kube-api-qps", strconv.FormatFloat(float64(q), 'f', -1, 32), "--kube-api-burst", strconv.Itoa(burst))
		limit = fmt.Sprintf("fixed: QPS %g, burst %d", q, burst)
	}
	if *http1 {
		args = append(args, "--http1-requests")
		limit += "; requests over HTTP/1.1"
	}
	if *events != "" {
		args = append(args, "--events", *events)
		limit += "; Events: " + *events
	}
	p := &subprocess{agent: "flagger-controller/", metrics: "http://" + metrics + "/metrics"}
	if *cpuProfile != "" || *windowTrace != "" || *heapProfile != "" {
		addr := "127.0.0.1:" + strconv.Itoa(r.freePort())
		args = append(args, "--pprof-addr", addr)
		p.pprof = "http://" + addr
	}
	r.t.Logf("flagger-controller: client limit %s", limit)
	p.cmd, p.log = r.start("flagger-controller", bin, args...)
	return p
}
