package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// moduleCRDs are CRDs read from a Go module in the module cache (hack/testenv.sh downloads
// it): loaded once per test binary, handed out as copies.
type moduleCRDs struct {
	what            string // e.g. "Istio CRDs", for messages
	module, version string
	// load reads the CRDs from the module's directory.
	load func(dir string) ([]*apiextensionsv1.CustomResourceDefinition, error)

	once sync.Once
	crds []*apiextensionsv1.CustomResourceDefinition
	err  error
}

// get returns copies of the CRDs. It skips the test when the module cannot be had (fails it
// when CI=true).
func (m *moduleCRDs) get(t testing.TB) []*apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	m.once.Do(func() {
		var dir string
		if dir, m.err = moduleDir(m.module, m.version); m.err == nil {
			m.crds, m.err = m.load(dir)
		}
	})
	if m.err != nil {
		msg := fmt.Sprintf("%s: %v; run `%s`", m.what, m.err, InstallCommand)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	out := make([]*apiextensionsv1.CustomResourceDefinition, len(m.crds))
	for i, c := range m.crds {
		out[i] = c.DeepCopy()
	}
	return out
}

// moduleDir is the directory of module@version in the module cache, downloaded if need be.
func moduleDir(module, version string) (string, error) {
	var stderr bytes.Buffer
	cmd := exec.Command("go", "mod", "download", "-json", module+"@"+version)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &info); jerr != nil && err == nil {
		err = jerr
	}
	if err != nil || info.Error != "" || info.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s: %v %s %s", module, version, err, info.Error, stderr.String())
	}
	return info.Dir, nil
}
