//go:build scale

package scale

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// FlaggerVersion is the Flagger release hack/flagger.sh builds.
const FlaggerVersion = "v1.44.0"

// flaggerBinary is where hack/flagger.sh leaves the binary.
func flaggerBinary() (string, error) {
	if p := os.Getenv("FLAGGER_BIN"); p != "" {
		return p, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(cache, "canarykit", "flagger", FlaggerVersion, "flagger"), nil
}

// subprocess is Flagger running as its own process.
type subprocess struct{ cmd *exec.Cmd }

func (p *subprocess) pid() int { return p.cmd.Process.Pid }

// mine: Flagger sets no user agent: client-go's default starts with the binary's name.
func (p *subprocess) mine(e testenv.AuditEvent) bool {
	return strings.HasPrefix(e.UserAgent, "flagger/")
}

// throttled cannot be read from Flagger's process.
func (p *subprocess) throttled() int64 { return -1 }

// flagger starts Flagger on the namespace: Linkerd provider, the bed's Prometheus, its
// default client limits (QPS 100, burst 250), logs in the bed's directory.
func (r *run) flagger() releaser {
	bin, err := flaggerBinary()
	require.NoError(r.t, err)
	_, err = os.Stat(bin)
	require.NoError(r.t, err, "Flagger's binary: make bench-compare builds it (hack/flagger.sh)")
	dir := r.t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	require.NoError(r.t, writeKubeconfig(kubeconfig, r.env))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(r.t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(r.t, ln.Close())
	logPath := filepath.Join(dir, "flagger.log")
	log, err := os.Create(logPath)
	require.NoError(r.t, err)
	cmd := exec.Command(bin, "-kubeconfig", kubeconfig, "-namespace", r.ns, "-mesh-provider", "linkerd",
		"-metrics-server", r.prom.URL, "-port", strconv.Itoa(port), "-log-level", "info", "-enable-config-tracking=false")
	cmd.Stdout, cmd.Stderr = log, log
	require.NoError(r.t, cmd.Start())
	r.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = log.Close()
		if r.t.Failed() {
			if data, err := os.ReadFile(logPath); err == nil {
				r.t.Logf("flagger log:\n%s", data)
			}
		}
	})
	return &subprocess{cmd: cmd}
}

// writeKubeconfig writes a kubeconfig of the bed's admin credentials.
func writeKubeconfig(path string, env *testenv.Env) error {
	cfg := env.Config()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["bed"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken,
		ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData}
	kc.Contexts["bed"] = &clientcmdapi.Context{Cluster: "bed", AuthInfo: "admin"}
	kc.CurrentContext = "bed"
	return clientcmd.WriteToFile(*kc, path)
}
