package examples

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// The TrafficSplit CRD examples/envtest gives envtest is the one the bed installs.
func TestEnvtestExampleCRDIsTheBeds(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("envtest", "testdata", "crds", "trafficsplits.yaml"))
	require.NoError(t, err)
	var got apiextensionsv1.CustomResourceDefinition
	require.NoError(t, yaml.UnmarshalStrict(data, &got))
	want := testenv.TrafficSplitCRD()
	want.APIVersion, want.Kind = "apiextensions.k8s.io/v1", "CustomResourceDefinition"
	assert.Equal(t, *want, got, "regenerate examples/envtest/testdata/crds/trafficsplits.yaml from testenv.TrafficSplitCRD()")
}

// runEnvtestExample runs the tests of examples/envtest, a module of its own (GOWORK=off; its
// go.sum is committed), with env added to the environment.
func runEnvtestExample(t *testing.T, env ...string) {
	t.Helper()
	cmd := exec.Command("go", "test", "-count=1", "-v", "./...")
	cmd.Dir = "envtest"
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly -buildvcs=false")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	var summary []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "--- ") || strings.HasPrefix(line, "ok ") || strings.HasPrefix(line, "FAIL") {
			summary = append(summary, line)
		}
	}
	t.Logf("examples/envtest:\n%s", strings.Join(summary, "\n"))
	require.NoError(t, err, "go test in examples/envtest (when go.mod needs updates after a change of the main module's "+
		"requirements: cd examples/envtest && GOWORK=off go mod tidy):\n%s", out)
	for _, name := range []string{"TestHealthyCanaryIsPromoted", "TestCanaryFailingAtHalfTheTrafficIsRolledBack",
		"TestCanaryNeverReadyIsRolledBackWithoutTraffic"} {
		assert.Contains(t, string(out), "--- PASS: "+name+" ", "the example's test ran and passed")
	}
}

// The envtest shape: envtest starts the bed's etcd and kube-apiserver (or those of a fitting
// KUBEBUILDER_ASSETS) and nothing else; the kit stands in for kube-controller-manager.
func TestEnvtestExampleWithoutControllerManager(t *testing.T) {
	assets := testenv.EnvtestAssets(t)
	runEnvtestExample(t, "KUBEBUILDER_ASSETS="+assets, "USE_EXISTING_CLUSTER=false")
}

// The same tests on the full bed, kube-controller-manager's deployment controller included:
// envtest uses the existing cluster of $KUBECONFIG.
func TestEnvtestExampleOnTheFullBed(t *testing.T) {
	env := testenv.Shared(t)
	runEnvtestExample(t, "USE_EXISTING_CLUSTER=true", "KUBECONFIG="+writeKubeconfig(t, env))
}
