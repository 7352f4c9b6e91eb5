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

// lookPath finds a binary: first in BinDir, then (for etcd and prometheus, which come from
// Debian packages) on PATH and in /usr/bin.
func lookPath(name string) (string, error) {
	dir, err := BinDir()
	if err != nil {
		return "", err
	}
	candidates := []string{filepath.Join(dir, name)}
	if name == binEtcd || name == binPrometheus {
		if p, err := exec.LookPath(name); err == nil {
			candidates = append(candidates, p)
		}
		candidates = append(candidates, filepath.Join("/usr/bin", name))
	}
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
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
