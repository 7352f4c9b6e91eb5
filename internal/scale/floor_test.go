//go:build scale

package scale

import (
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/stretchr/testify/require"
)

// floorPackage is the harness's lower bound (-tool=floor): a step's least work on net/http
// alone.
const floorPackage = "github.com/canarykit/canarykit/internal/scale/floor"

// floor starts internal/scale/floor on the namespace, as its own process: the bed's
// Prometheus, one thread running Go code (as the controller by default), its goroutines'
// stacks never shrunk (GODEBUG=gcshrinkstackoff=1), a release's ten Events with -events=all
// (none by default or with -events=none), /debug/pprof when -window-cpuprofile, -window-trace
// or -heapprofile. It serves no rate-limiter metric (throttled n/a) and has no client limit.
func (r *run) floor() *subprocess {
	require.Zero(r.t, *qps, "-qps: the controller's flag (the floor has no client limit)")
	require.False(r.t, *defaultQPS, "-default-qps: the controller's flag (the floor has no client limit)")
	require.False(r.t, *http1, "-http1-requests: the controller's flag")
	dir := r.t.TempDir()
	bin := filepath.Join(dir, "floor")
	out, err := exec.Command("go", "build", "-o", bin, floorPackage).CombinedOutput()
	require.NoError(r.t, err, "go build %s:\n%s", floorPackage, out)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	require.NoError(r.t, writeKubeconfig(kubeconfig, r.env))
	args := []string{"--kubeconfig", kubeconfig, "--namespace", r.ns, "--prometheus", r.prom.URL,
		"--interval", interval.String()}
	switch *events {
	case "", "none":
	case "all":
		args = append(args, "--events")
		r.t.Logf("floor: with a release's ten Events")
	default:
		r.t.Fatalf("-events=%s: the floor writes all of Flagger's Events or none", *events)
	}
	p := &subprocess{agent: "canarykit-floor/"}
	if *cpuProfile != "" || *windowTrace != "" || *heapProfile != "" {
		addr := "127.0.0.1:" + strconv.Itoa(r.freePort())
		args = append(args, "--pprof-addr", addr)
		p.pprof = "http://" + addr
	}
	// a release's goroutine keeps the stack its requests grew while it waits for its next tick
	p.cmd, p.log = r.startEnv("floor", bin, []string{"GODEBUG=gcshrinkstackoff=1"}, args...)
	return p
}
