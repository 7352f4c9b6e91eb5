//go:build scale

package scale

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// subprocess is the tool under measure, running as its own process.
type subprocess struct {
	cmd     *exec.Cmd
	agent   string // the start of its requests' user agent
	metrics string // its /metrics URL, if it serves the client's rate-limiter wait
	pprof   string // its /debug/pprof server's URL, if any
	log     string // its log file
}

func (p *subprocess) pid() int { return p.cmd.Process.Pid }

func (p *subprocess) mine(e testenv.AuditEvent) bool { return strings.HasPrefix(e.UserAgent, p.agent) }

// throttled is ThrottledRequests and TokenWaits of the process' /metrics so far; -1 when it
// serves none.
func (p *subprocess) throttled(ctx context.Context) (throttled, tokenWaits int64, err error) {
	body, err := p.scrape(ctx)
	if err != nil || body == nil {
		return -1, -1, err
	}
	if throttled, err = ThrottledRequests(bytes.NewReader(body)); err != nil {
		return 0, 0, err
	}
	tokenWaits, err = TokenWaits(bytes.NewReader(body))
	return throttled, tokenWaits, err
}

// scrape returns the process' /metrics answer; nil when it serves none.
func (p *subprocess) scrape(ctx context.Context) ([]byte, error) {
	if p.metrics == "" {
		return nil, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.metrics, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", p.metrics, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 16<<20))
}

// profileWindow fetches consecutive CPU profiles of seconds each from the process'
// /debug/pprof into dir (cpu-000.pb.gz, cpu-001.pb.gz, …) until stop is closed; the slice
// running then is finished. It returns when the last slice is written, with the first error.
func (p *subprocess) profileWindow(dir string, seconds int, stop <-chan struct{}) error {
	if p.pprof == "" {
		return fmt.Errorf("the tool serves no /debug/pprof")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := 0; ; i++ {
		select {
		case <-stop:
			return nil
		default:
		}
		url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", p.pprof, seconds)
		if err := fetchTo(url, filepath.Join(dir, fmt.Sprintf("cpu-%03d.pb.gz", i))); err != nil {
			return err
		}
	}
}

// traceWindow waits for after (or until stop is closed: then it fetches nothing) and
// fetches an execution trace of seconds from the process' /debug/pprof into path.
func (p *subprocess) traceWindow(path string, after time.Duration, seconds int, stop <-chan struct{}) error {
	if p.pprof == "" {
		return fmt.Errorf("the tool serves no /debug/pprof")
	}
	select {
	case <-stop:
		return nil
	case <-time.After(after):
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return fetchTo(fmt.Sprintf("%s/debug/pprof/trace?seconds=%d", p.pprof, seconds), path)
}

// heapProfile writes the process' heap profile, taken after a garbage collection, to path
// (its directory is created), the same profile as text, which ends with the runtime's
// memory statistics, to path + ".txt", and its goroutines, grouped by stack, to path +
// ".goroutines.txt".
func (p *subprocess) heapProfile(path string) error {
	if p.pprof == "" {
		return fmt.Errorf("the tool serves no /debug/pprof")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := fetchTo(p.pprof+"/debug/pprof/heap?gc=1", path); err != nil {
		return err
	}
	if err := fetchTo(p.pprof+"/debug/pprof/heap?debug=1", path+".txt"); err != nil {
		return err
	}
	return fetchTo(p.pprof+"/debug/pprof/goroutine?debug=1", path+".goroutines.txt")
}

// goroutines reads the number of goroutines from the first line of a goroutine profile's text
// ("goroutine profile: total N").
func goroutines(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(data), "\n")
	var n int
	if _, err := fmt.Sscanf(first, "goroutine profile: total %d", &n); err != nil {
		return 0, fmt.Errorf("%s: %q: %w", path, first, err)
	}
	return n, nil
}

// memStats are the lines of a heap profile's text (heapProfile's path + ".txt") that say
// where the process' memory is: heap in use, goroutine stacks, obtained from the OS, and the
// next collection's goal.
func memStats(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		for _, name := range []string{"# HeapInuse = ", "# HeapIdle = ", "# HeapReleased = ", "# Stack = ", "# Sys = ", "# NextGC = "} {
			if strings.HasPrefix(line, name) {
				out = append(out, strings.TrimPrefix(line, "# "))
			}
		}
	}
	return strings.Join(out, ", "), nil
}

// fetchTo writes url's answer to path.
func fetchTo(url, path string) error {
	resp, err := http.Get(url) //nolint:noctx // ends with the profile's seconds
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%s: %s: %s", url, resp.Status, body)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// start runs bin with args and the variables of -tool-env, its output in a log file of
// the run's temporary directory (printed if the run fails; its path is returned), and kills
// it when the run ends.
func (r *run) start(name, bin string, args ...string) (*exec.Cmd, string) {
	return r.startEnv(name, bin, nil, args...)
}

// startEnv is start with env added to the process' environment before -tool-env's variables.
func (r *run) startEnv(name, bin string, env []string, args ...string) (*exec.Cmd, string) {
	extra, err := parseToolEnv(*toolEnv)
	require.NoError(r.t, err, "-tool-env")
	extra = append(env, extra...)
	logPath := filepath.Join(r.t.TempDir(), name+".log")
	log, err := os.Create(logPath)
	require.NoError(r.t, err)
	cmd := exec.Command(bin, args...)
	if len(extra) > 0 {
		cmd.Env = append(os.Environ(), extra...)
		r.t.Logf("%s: environment %s", name, strings.Join(extra, " "))
	}
	cmd.Stdout, cmd.Stderr = log, log
	require.NoError(r.t, cmd.Start())
	r.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = log.Close()
		if r.t.Failed() {
			if data, err := os.ReadFile(logPath); err == nil {
				r.t.Logf("%s log:\n%s", name, data)
			}
		}
	})
	return cmd, logPath
}

// logLines returns the lines of the log file at path that contain s.
func logLines(path, s string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for line := range strings.Lines(string(data)) {
		if strings.Contains(line, s) {
			out = append(out, strings.TrimSuffix(line, "\n"))
		}
	}
	return out, nil
}

// freePort is a loopback TCP port free at the time of the call.
func (r *run) freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(r.t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(r.t, ln.Close())
	return port
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
