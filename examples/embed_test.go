package examples

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/internal/testenv/linkerdexp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/yaml"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{}) }

// maxUserLines is the most code a program of another module needs to release a Flagger Canary.
const maxUserLines = 30

// codeLines counts the lines of Go source that are neither blank nor comments.
func codeLines(t *testing.T, src []byte) int {
	n, inBlock := 0, false
	sc := bufio.NewScanner(bytes.NewReader(src))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case inBlock:
			if _, after, ok := strings.Cut(line, "*/"); ok {
				inBlock = false
				if rest := strings.TrimSpace(after); rest != "" && !strings.HasPrefix(rest, "//") {
					n++
				}
			}
		case line == "" || strings.HasPrefix(line, "//"):
		case strings.HasPrefix(line, "/*"):
			inBlock = !strings.Contains(line[2:], "*/")
		default:
			n++
		}
	}
	require.NoError(t, sc.Err())
	return n
}

func TestCodeLines(t *testing.T) {
	src := "// doc\npackage main\n\n/* block\n still */\nfunc main() { // trailing\n\t/* one line */\n}\n"
	assert.Equal(t, 3, codeLines(t, []byte(src)))
}

// The program is short, and the README's embedding section shows it as it is.
func TestEmbedProgramIsShortAndInTheREADME(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("embed", "main.go"))
	require.NoError(t, err)
	n := codeLines(t, src)
	t.Logf("examples/embed/main.go: %d lines of code", n)
	assert.LessOrEqual(t, n, maxUserLines, "examples/embed/main.go has %d lines of code (blank lines and comments aside)", n)
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	require.NoError(t, err)
	assert.True(t, strings.Contains(string(readme), "```go\n"+string(src)+"```\n"), "README.md's embedding section shows examples/embed/main.go verbatim")
	seed, err := os.ReadFile(filepath.Join("..", "kube", "flagger", "testdata", "canary-002-linkerd-canary.yaml"))
	require.NoError(t, err)
	beside, err := os.ReadFile(filepath.Join("embed", "canary.yaml"))
	require.NoError(t, err)
	assert.Equal(t, string(seed), string(beside), "examples/embed/canary.yaml is the seed's canary.yaml")
}

// buildEmbed vets and builds examples/embed as its own module (GOWORK=off; go.mod and go.sum
// as committed: -mod=readonly) and returns the program's path.
func buildEmbed(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "embed")
	for _, args := range [][]string{{"vet", "."}, {"build", "-o", bin, "."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = "embed"
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly -buildvcs=false")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "go %s in examples/embed (when go.mod needs updates after a change of the main module's "+
			"requirements: cd examples/embed && GOWORK=off go mod tidy):\n%s", strings.Join(args, " "), out)
	}
	return bin
}

func TestEmbedProgramBuildsInItsOwnModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds examples/embed, a module of its own, with the go command")
	}
	bin := buildEmbed(t)
	info, err := os.Stat(bin)
	require.NoError(t, err)
	assert.True(t, info.Mode().IsRegular())
	// the main module's ./... does not reach the nested module
	out, err := exec.Command("go", "list", "./...").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.NotContains(t, string(out), "embed", "go list ./... of the main module lists the nested module's package")
	assert.Contains(t, string(out), "github.com/canarykit/canarykit/examples\n")
}

// trafficSplits is the SMI TrafficSplit resource, at the version linkerd-smi stores.
var trafficSplits = schema.GroupVersionResource{Group: testenv.SMISplitGroup, Version: testenv.LinkerdSMIVersions()[0], Resource: "trafficsplits"}

// TestEmbedProgramReleasesTheSeed runs the program of examples/embed, built in its own module,
// on the test bed: the seed's podinfo (Deployment and HPA) in a fresh namespace, linkerd-smi's
// TrafficSplit CRD, the Linkerd checks answered by Prometheus from synthetic proxy metrics, and
// the seed's webhooks (flagger-loadtester.test) answered through an HTTP proxy. The first run
// reads the seed unchanged and bootstraps the target (nothing to release: the revision is the
// first); after a new image the second run releases it, the seed's times compressed 15×
// (interval 30s → 2s, metric windows 4s) so that its ten steps take seconds.
func TestEmbedProgramReleasesTheSeed(t *testing.T) {
	if testing.Short() {
		t.Skip("builds examples/embed and runs it on the test bed")
	}
	env := testenv.Shared(t)
	prom, exporter := testenv.SharedPrometheus(t)
	bin := buildEmbed(t)
	testenv.InstallCRDs(t, env.Config(), testenv.TrafficSplitCRD()) // as linkerd-smi ships it
	ns := env.Namespace(t)
	env.Kubelet(t, ns, "", testenv.ReadyNow())
	createPodinfo(t, env, ns, "ghcr.io/stefanprodan/podinfo:6.0.0")
	exporter.SetTraffic(linkerdexp.Workload{Namespace: ns, Deployment: "podinfo"},
		linkerdexp.Traffic{RPS: 20, LatencyMin: 5 * time.Millisecond, LatencyMax: 50 * time.Millisecond})
	t.Cleanup(func() {
		exporter.SetTraffic(linkerdexp.Workload{Namespace: ns, Deployment: "podinfo"}, linkerdexp.Traffic{})
	})
	hooks := &hookRecorder{}
	proxy := httptest.NewServer(hooks)
	t.Cleanup(proxy.Close)
	environ := append(os.Environ(), "KUBECONFIG="+writeKubeconfig(t, env), "PROMETHEUS_URL="+prom.URL, "NAMESPACE="+ns,
		"HTTP_PROXY="+proxy.URL, "http_proxy="+proxy.URL, "NO_PROXY=", "no_proxy=")
	run := func(dir string) (int, string) {
		cmd := exec.Command(bin)
		cmd.Dir, cmd.Env = dir, environ
		out, err := cmd.CombinedOutput()
		t.Logf("%s in %s:\n%s", bin, dir, out)
		if exit, ok := err.(*exec.ExitError); ok {
			return exit.ExitCode(), string(out)
		}
		require.NoError(t, err)
		return 0, string(out)
	}

	code, out := run("embed") // the seed's canary.yaml, unchanged
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "Initialization done! podinfo."+ns)
	assert.Equal(t, "ghcr.io/stefanprodan/podinfo:6.0.0", image(t, env, ns, "podinfo-primary"), "the primary runs the first revision")
	assert.Equal(t, map[string]int64{"podinfo-canary": 0, "podinfo-primary": 100}, splitWeights(t, env, ns))
	assert.Empty(t, hooks.hosts(), "a bootstrap runs no hooks")

	setImage(t, env, ns, "ghcr.io/stefanprodan/podinfo:6.0.1")
	code, out = run(compressedSeed(t))
	require.Equal(t, 0, code, out)
	for _, want := range []string{"New revision detected! Scaling up podinfo." + ns, "Advance podinfo." + ns + " canary weight 50",
		"Copying podinfo." + ns + " template spec to podinfo-primary." + ns, "Promotion completed! Scaling down podinfo." + ns} {
		assert.Contains(t, out, want)
	}
	assert.Equal(t, "ghcr.io/stefanprodan/podinfo:6.0.1", image(t, env, ns, "podinfo-primary"), "the new revision is promoted")
	assert.Equal(t, map[string]int64{"podinfo-canary": 0, "podinfo-primary": 100}, splitWeights(t, env, ns))
	assert.Contains(t, hooks.hosts(), "flagger-loadtester.test", "the seed's acceptance and load tests were called")
}

// compressedSeed writes the seed's canary.yaml with its times divided by 15 into a new
// directory and returns it.
func compressedSeed(t *testing.T) string {
	data, err := os.ReadFile(filepath.Join("embed", "canary.yaml"))
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, yaml.Unmarshal(data, &m))
	analysis := m["spec"].(map[string]any)["analysis"].(map[string]any)
	require.Equal(t, "30s", analysis["interval"])
	analysis["interval"] = "2s"
	for _, metric := range analysis["metrics"].([]any) {
		metric.(map[string]any)["interval"] = "4s" // 1m and 30s: Prometheus scrapes every second
	}
	out, err := yaml.Marshal(m)
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "canary.yaml"), out, 0o600))
	return dir
}

// hookRecorder plays an HTTP proxy in front of flagger-loadtester: it answers every request
// with 200 and records the host it was for.
type hookRecorder struct {
	mu   sync.Mutex
	seen []string
}

func (h *hookRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	h.mu.Lock()
	h.seen = append(h.seen, r.Host)
	h.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (h *hookRecorder) hosts() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.seen...)
}

// writeKubeconfig writes a kubeconfig reaching the bed as its administrator.
func writeKubeconfig(t *testing.T, env *testenv.Env) string {
	rc := env.Config()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["bed"] = &clientcmdapi.Cluster{Server: rc.Host, CertificateAuthorityData: rc.CAData}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: rc.BearerToken}
	cfg.Contexts["bed"] = &clientcmdapi.Context{Cluster: "bed", AuthInfo: "admin"}
	cfg.CurrentContext = "bed"
	file := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*cfg, file))
	return file
}

// createPodinfo creates what the seeds' kustomize/podinfo creates: the Deployment and its HPA.
func createPodinfo(t *testing.T, env *testenv.Env, ns, img string) {
	require.NoError(t, testenv.CreatePodinfo(context.Background(), env.Client(), ns, "podinfo", img, 2))
}

func setImage(t *testing.T, env *testenv.Env, ns, img string) {
	ctx := context.Background()
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := env.Client().AppsV1().Deployments(ns).Get(ctx, "podinfo", metav1.GetOptions{})
		if err != nil {
			return err
		}
		d.Spec.Template.Spec.Containers[0].Image = img
		_, err = env.Client().AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})
		return err
	}))
}

func image(t *testing.T, env *testenv.Env, ns, name string) string {
	d, err := env.Client().AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return d.Spec.Template.Spec.Containers[0].Image
}

// splitWeights reads the apex TrafficSplit's backends: service → weight.
func splitWeights(t *testing.T, env *testenv.Env, ns string) map[string]int64 {
	dyn, err := dynamic.NewForConfig(env.Config())
	require.NoError(t, err)
	u, err := dyn.Resource(trafficSplits).Namespace(ns).Get(context.Background(), "podinfo", metav1.GetOptions{})
	require.NoError(t, err)
	backends, _, err := unstructured.NestedSlice(u.Object, "spec", "backends")
	require.NoError(t, err)
	out := map[string]int64{}
	for _, b := range backends {
		m := b.(map[string]any)
		switch w := m["weight"].(type) {
		case int64:
			out[m["service"].(string)] = w
		case string: // v1alpha1 weights are quantities
			q, err := resource.ParseQuantity(w)
			require.NoError(t, err)
			out[m["service"].(string)] = q.Value()
		default:
			t.Fatalf("backend %v: weight %T", m, w)
		}
	}
	return out
}
