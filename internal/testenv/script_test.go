package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runScript runs hack/testenv.sh with args and extra environment, returning its output.
func runScript(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join("..", "..", "hack", "testenv.sh")}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// The script chooses where kube-apiserver comes from as lookPath does: fitting
// KUBEBUILDER_ASSETS first, then the build cache, else a build from source;
// kube-controller-manager is always the bed's own.
func TestScriptPlan(t *testing.T) {
	cache := t.TempDir()
	built := filepath.Join(cache, "k8s-"+KubernetesVersion)
	require.NoError(t, os.MkdirAll(built, 0o755))
	stub := "#!/bin/sh\necho 'Kubernetes " + KubernetesVersion + "'\n"
	for _, c := range []struct {
		name   string
		assets string // "" unset
		cached []string
		want   []string
	}{
		{name: "nothing", want: []string{"plan: build kube-apiserver kube-controller-manager " + KubernetesVersion + " from source"}},
		{name: "fitting assets", assets: stubAssets(t, minorOf(KubernetesVersion)+".0"), want: []string{
			"plan: kube-apiserver from KUBEBUILDER_ASSETS (", "is " + minorOf(KubernetesVersion) + ".0)",
			"plan: build kube-controller-manager " + KubernetesVersion + " from source"}},
		{name: "assets of another minor", assets: stubAssets(t, "v1.30.2"), want: []string{
			"plan: KUBEBUILDER_ASSETS not used: ", "is v1.30.2; the bed needs " + minorOf(KubernetesVersion) + ".x",
			"plan: build kube-apiserver kube-controller-manager"}},
		{name: "assets without kube-apiserver", assets: stubAssets(t, ""), want: []string{"has no executable kube-apiserver"}},
		{name: "cached", cached: []string{binAPIServer, binControllerManager}, want: []string{
			"plan: kube-apiserver " + KubernetesVersion + " already built", "plan: kube-controller-manager " + KubernetesVersion + " already built"}},
		{name: "cached with fitting assets", assets: stubAssets(t, KubernetesVersion), cached: []string{binControllerManager}, want: []string{
			"plan: kube-apiserver from KUBEBUILDER_ASSETS", "plan: kube-controller-manager " + KubernetesVersion + " already built"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, n := range []string{binAPIServer, binControllerManager} {
				_ = os.Remove(filepath.Join(built, n))
			}
			for _, n := range c.cached {
				require.NoError(t, os.WriteFile(filepath.Join(built, n), []byte(stub), 0o755))
			}
			env := []string{DirEnv + "=" + cache, AssetsEnv + "=" + c.assets}
			out, err := runScript(t, env, "--plan")
			require.NoError(t, err, out)
			for _, w := range c.want {
				assert.Contains(t, out, w)
			}
			if len(c.cached) == 2 || (c.assets != "" && len(c.cached) == 1 && strings.Contains(out, "from KUBEBUILDER_ASSETS")) {
				assert.NotContains(t, out, "from source", "nothing to build")
			}
		})
	}
}

// A first build says up front that it builds Kubernetes and reports each step and its time,
// with progress lines while it compiles; the next run builds nothing. The go command is a stub
// that "compiles" until the script has reported progress.
func TestScriptFirstBuildReportsProgress(t *testing.T) {
	for _, b := range []string{"/usr/bin/etcd", "/usr/bin/prometheus"} {
		if _, err := os.Stat(b); err != nil {
			t.Skipf("the script would install Debian packages: %s is missing", b)
		}
	}
	cache, stubs := t.TempDir(), t.TempDir()
	log := filepath.Join(t.TempDir(), "out.log")
	goStub := `#!/bin/bash
case "$1 $2" in
"list -m") echo ` + KubernetesVersion + ` ;;
"list -deps") printf 'p1\np2\np3\n' ;;
"mod download") ;;
"build -v")
	out=""; prev=""
	for a in "$@"; do [ "$prev" = "-o" ] && out="$a"; prev="$a"; done
	name="$(basename "$out")"
	echo p1 >&2
	until grep -q "still compiling $name" "$STUB_LOG"; do sleep 0.1; done
	echo p2 >&2
	printf '#!/bin/sh\necho "Kubernetes ` + KubernetesVersion + `"\n' > "$out"
	chmod +x "$out" ;;
*) echo "unexpected go $*" >&2; exit 2 ;;
esac
`
	require.NoError(t, os.WriteFile(filepath.Join(stubs, "go"), []byte(goStub), 0o755))
	env := []string{DirEnv + "=" + cache, AssetsEnv + "=", "CANARYKIT_TESTENV_PROGRESS=1", "STUB_LOG=" + log,
		"PATH=" + stubs + string(os.PathListSeparator) + os.Getenv("PATH")}

	run := func() string {
		f, err := os.Create(log)
		require.NoError(t, err)
		defer f.Close()
		cmd := exec.Command("bash", filepath.Join("..", "..", "hack", "testenv.sh"))
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdout, cmd.Stderr = f, f
		err = cmd.Run()
		out, _ := os.ReadFile(log)
		require.NoError(t, err, string(out))
		return string(out)
	}
	out := run()
	t.Log(out)
	first := strings.Index(out, "Building Kubernetes "+KubernetesVersion+" from source")
	require.GreaterOrEqual(t, first, 0, "says up front that it builds Kubernetes")
	for _, w := range []string{
		"step 1/3: downloading k8s.io/kubernetes",
		"step 1/3: downloaded in ",
		"step 2/3: compiling kube-apiserver (up to 3 packages)",
		"still compiling kube-apiserver: 1 of up to 3 packages compiled, ",
		"step 2/3: kube-apiserver compiled in ",
		"step 3/3: compiling kube-controller-manager",
		"step 3/3: kube-controller-manager compiled in ",
		"built kube-apiserver kube-controller-manager in ",
	} {
		i := strings.Index(out, w)
		assert.Greater(t, i, first, "%q after the announcement", w)
	}
	for _, n := range []string{binAPIServer, binControllerManager} {
		assert.FileExists(t, filepath.Join(cache, "k8s-"+KubernetesVersion, n))
	}

	again := run()
	assert.NotContains(t, again, "Building Kubernetes")
	assert.Contains(t, again, "plan: kube-apiserver "+KubernetesVersion+" already built")
}
