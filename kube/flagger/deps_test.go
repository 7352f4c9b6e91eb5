package flagger_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// quickstartBudget is the most packages a program that only loads a manifest and simulates
// (examples/quickstart) may depend on, standard library included.
const quickstartBudget = 150

// goList runs `go list -deps` with format on a package of this module: the packages it
// depends on, itself included. Without the go tool the test is skipped, except in CI.
func goList(t *testing.T, format, pkg string) []string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	if _, err := os.Stat(goTool); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the go tool is needed to list dependencies: %v", err)
		}
		t.Skipf("no go tool to list dependencies with: %v", err)
	}
	cmd := exec.CommandContext(t.Context(), goTool, "list", "-deps", "-f", format, pkg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "go list -deps %s: %s", pkg, stderr.String())
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// Loading Flagger objects needs no cluster client: kube/flagger reaches no client-go, no
// net/http and nothing of apimachinery but its YAML reader (and the JSON helper it uses).
func TestNoClusterClientInTheLoader(t *testing.T) {
	allowed := map[string]bool{"k8s.io/apimachinery/pkg/util/yaml": true, "k8s.io/apimachinery/pkg/util/json": true}
	importers := map[string][]string{} // package → the packages of the graph that import it
	for _, line := range goList(t, "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", "github.com/canarykit/canarykit/kube/flagger") {
		fields := strings.Fields(line)
		for _, imp := range fields[1:] {
			importers[imp] = append(importers[imp], fields[0])
		}
	}
	require.Contains(t, importers, "k8s.io/apimachinery/pkg/util/yaml", "the listing holds the loader's imports")
	var forbidden []string
	for pkg, by := range importers {
		if pkg == "net/http" || strings.HasPrefix(pkg, "k8s.io/client-go/") || (strings.HasPrefix(pkg, "k8s.io/apimachinery/") && !allowed[pkg]) {
			slices.Sort(by)
			forbidden = append(forbidden, pkg+" (imported by "+strings.Join(by, ", ")+")")
		}
	}
	slices.Sort(forbidden)
	if len(forbidden) > 10 {
		forbidden = append(forbidden[:10], fmt.Sprintf("and %d more", len(forbidden)-10))
	}
	assert.Empty(t, forbidden, "kube/flagger must not depend on a cluster client:\n%s", strings.Join(forbidden, "\n"))
}

func TestQuickstartDependencyBudget(t *testing.T) {
	deps := goList(t, "{{.ImportPath}}", "github.com/canarykit/canarykit/examples/quickstart")
	t.Logf("examples/quickstart depends on %d packages", len(deps))
	assert.Less(t, len(deps), quickstartBudget, "examples/quickstart's dependencies (go list -deps)")
	assert.False(t, slices.ContainsFunc(deps, func(p string) bool { return strings.HasPrefix(p, "k8s.io/client-go/") }),
		"examples/quickstart depends on client-go")
}
