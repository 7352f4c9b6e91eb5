package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// KubernetesVersion is the version of kube-apiserver and kube-controller-manager the bed runs.
// It must equal the k8s.io/kubernetes version in tools/go.mod, which hack/testenv.sh builds.
const KubernetesVersion = "v1.34.4"

// DirEnv names the environment variable that overrides the root of the binary cache
// (default: os.UserCacheDir()/canarykit/testenv). Binaries live in <root>/k8s-<version>/.
const DirEnv = "CANARYKIT_TESTENV_DIR"

// AssetsEnv names the environment variable of controller-runtime's setup-envtest: a directory
// holding etcd, kube-apiserver and kubectl. When it is set and its kube-apiserver fits (see
// AssetsFit), the bed runs its etcd and kube-apiserver instead of the ones it builds or
// installs; kube-controller-manager, which setup-envtest does not ship, is always built.
const AssetsEnv = "KUBEBUILDER_ASSETS"

// InstallCommand is what a developer runs to get the bed's binaries.
const InstallCommand = "make testenv"

// Names of the bed's binaries.
const (
	binEtcd              = "etcd"
	binAPIServer         = "kube-apiserver"
	binControllerManager = "kube-controller-manager"
	binPrometheus        = "prometheus"
)

// ErrBinaryMissing is wrapped by the errors of lookups that found no binary.
var ErrBinaryMissing = errors.New("test bed binary not found")

// BinDir returns the directory where hack/testenv.sh caches kube-apiserver and
// kube-controller-manager for KubernetesVersion.
func BinDir() (string, error) {
	root := os.Getenv(DirEnv)
	if root == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("locate the user cache dir (set %s): %w", DirEnv, err)
		}
		root = filepath.Join(cache, "canarykit", "testenv")
	}
	return filepath.Join(root, "k8s-"+KubernetesVersion), nil
}

// AssetsFit reports whether dir (a KUBEBUILDER_ASSETS directory) holds a kube-apiserver the bed
// can run, and why not: its `kube-apiserver --version` must be Kubernetes of the bed's minor
// version (v1.34.x for KubernetesVersion v1.34.4; any patch). The minor must match because the
// bed's kube-controller-manager is built at KubernetesVersion and may not be newer than the
// apiserver, and the tests expect that minor's API behaviour. Patches differ freely. The answer
// is remembered per directory.
func AssetsFit(dir string) (bool, string) {
	fitMu.Lock()
	defer fitMu.Unlock()
	if r, ok := fitCache[dir]; ok {
		return r.ok, r.why
	}
	ok, why := assetsFit(dir)
	fitCache[dir] = fitResult{ok, why}
	return ok, why
}

type fitResult struct {
	ok  bool
	why string
}

var (
	fitMu    sync.Mutex
	fitCache = map[string]fitResult{}
)

func assetsFit(dir string) (bool, string) {
	apiserver := filepath.Join(dir, binAPIServer)
	if !executable(apiserver) {
		return false, fmt.Sprintf("%s has no executable %s", dir, binAPIServer)
	}
	out, err := exec.Command(apiserver, "--version").Output()
	if err != nil {
		return false, fmt.Sprintf("%s --version: %v", apiserver, err)
	}
	got := strings.TrimSpace(string(out))
	version, ok := strings.CutPrefix(got, "Kubernetes ")
	if !ok || minorOf(version) == "" {
		return false, fmt.Sprintf("%s --version printed %q, not \"Kubernetes vX.Y.Z\"", apiserver, got)
	}
	if minorOf(version) != minorOf(KubernetesVersion) {
		return false, fmt.Sprintf("%s is %s; the bed needs %s.x", apiserver, version, minorOf(KubernetesVersion))
	}
	return true, fmt.Sprintf("%s is %s", apiserver, version)
}

// minorOf returns "v1.34" for "v1.34.4" (or "v1.34.4-rc.0"), "" when v is not a version.
func minorOf(v string) string {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 3 || !strings.HasPrefix(parts[0], "v") || parts[0] == "v" || parts[1] == "" {
		return ""
	}
	for _, p := range []string{parts[0][1:], parts[1]} {
		if strings.Trim(p, "0123456789") != "" {
			return ""
		}
	}
	return parts[0] + "." + parts[1]
}

func executable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

// lookPath finds a binary: etcd and kube-apiserver first in $KUBEBUILDER_ASSETS when it fits
// (AssetsFit), then every binary in BinDir, then (for etcd and prometheus, which come from
// Debian packages) on PATH and in /usr/bin.
func lookPath(name string) (string, error) {
	dir, err := BinDir()
	if err != nil {
		return "", err
	}
	var candidates []string
	if assets := os.Getenv(AssetsEnv); assets != "" && (name == binEtcd || name == binAPIServer) {
		if ok, _ := AssetsFit(assets); ok {
			candidates = append(candidates, filepath.Join(assets, name))
		}
	}
	candidates = append(candidates, filepath.Join(dir, name))
	if name == binEtcd || name == binPrometheus {
		if p, err := exec.LookPath(name); err == nil {
			candidates = append(candidates, p)
		}
		candidates = append(candidates, filepath.Join("/usr/bin", name))
	}
	for _, c := range candidates {
		if executable(c) {
			return c, nil
		}
	}
	return "", fmt.Errorf("%w: %s (looked in %s)", ErrBinaryMissing, name, strings.Join(candidates, ", "))
}

var (
	lookMu    sync.Mutex
	lookCache = map[string]string{}
)

// requireBinaries returns the paths of the named binaries. When one is missing the test is
// skipped with the command that installs it, or fails when CI=true: CI must run these tests.
// Under -short the test is skipped before anything is looked up: -short starts no server.
func requireBinaries(t testing.TB, names ...string) map[string]string {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped under -short, which starts no test bed")
	}
	lookMu.Lock()
	defer lookMu.Unlock()
	paths := map[string]string{}
	var missing []string
	for _, n := range names {
		if p, ok := lookCache[n]; ok {
			paths[n] = p
			continue
		}
		p, err := lookPath(n)
		if err != nil {
			missing = append(missing, err.Error())
			continue
		}
		lookCache[n] = p
		paths[n] = p
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("%s; run `%s` to install the test bed", strings.Join(missing, "; "), InstallCommand)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return paths
}

// EnvtestAssets returns a directory to give controller-runtime's envtest as KUBEBUILDER_ASSETS:
// $KUBEBUILDER_ASSETS itself when it fits (AssetsFit), else a temporary directory (removed when
// the test ends) of links to the bed's etcd and kube-apiserver. It skips the test when they are
// missing (fails it when CI=true), like every entry point to the bed.
func EnvtestAssets(t testing.TB) string {
	t.Helper()
	paths := requireBinaries(t, binEtcd, binAPIServer)
	if assets := os.Getenv(AssetsEnv); assets != "" {
		if ok, _ := AssetsFit(assets); ok && executable(filepath.Join(assets, binEtcd)) {
			return assets
		}
	}
	dir := t.TempDir()
	for name, p := range paths {
		if err := os.Symlink(p, filepath.Join(dir, name)); err != nil {
			t.Fatalf("testenv: link %s: %v", name, err)
		}
	}
	return dir
}
