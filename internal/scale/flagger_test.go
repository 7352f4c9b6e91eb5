//go:build scale

package scale

import (
	"os"
	"path/filepath"
	"strconv"

	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/stretchr/testify/require"
)

// flagger starts Flagger on the namespace: Linkerd provider, the bed's Prometheus, its
// default client limits (QPS 100, burst 250). Flagger sets no user agent: client-go's
// default starts with the binary's name. It serves no rate-limiter metric (throttled n/a)
// and no /debug/pprof (-window-cpuprofile and -heapprofile are for canarykit only).
func (r *run) flagger() *subprocess {
	bin, err := testenv.FlaggerBinaryPath()
	require.NoError(r.t, err)
	_, err = os.Stat(bin)
	require.NoError(r.t, err, "Flagger's binary: make bench-compare builds it (hack/flagger.sh)")
	require.Empty(r.t, *cpuProfile, "-window-cpuprofile: canarykit only (Flagger serves no /debug/pprof)")
	require.Empty(r.t, *heapProfile, "-heapprofile: canarykit only (Flagger serves no /debug/pprof)")
	kubeconfig := filepath.Join(r.t.TempDir(), "kubeconfig")
	require.NoError(r.t, writeKubeconfig(kubeconfig, r.env))
	cmd, log := r.start("flagger", bin, "-kubeconfig", kubeconfig, "-namespace", r.ns, "-mesh-provider", "linkerd",
		"-metrics-server", r.prom.URL, "-port", strconv.Itoa(r.freePort()), "-log-level", "info", "-enable-config-tracking=false")
	return &subprocess{cmd: cmd, agent: "flagger/", log: log}
}
