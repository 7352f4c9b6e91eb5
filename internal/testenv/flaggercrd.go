package testenv

import (
	"fmt"
	"path/filepath"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// FlaggerVersion is the github.com/fluxcd/flagger release whose CRDs FlaggerCRDs installs.
// hack/testenv.sh puts it in the module cache.
const FlaggerVersion = "v1.44.0"

var flaggerModule = &moduleCRDs{what: "Flagger CRDs", module: "github.com/fluxcd/flagger", version: FlaggerVersion, load: loadFlaggerCRDs}

// FlaggerCRDs returns Flagger's own CRDs (Canary, MetricTemplate, AlertProvider, all
// flagger.app/v1beta1), read from artifacts/flagger/crd.yaml of the github.com/fluxcd/flagger
// module (fetched into the module cache by `go mod download`). The Canary CRD has the status
// subresource and the printer columns `kubectl get canaries` shows. Install them with
// InstallCRDs. It skips the test when the module cannot be had (fails it when CI=true).
func FlaggerCRDs(t testing.TB) []*apiextensionsv1.CustomResourceDefinition {
	return flaggerModule.get(t)
}

// CanaryCRD returns Flagger's Canary CRD (canaries.flagger.app) from FlaggerCRDs.
func CanaryCRD(t testing.TB) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	for _, c := range FlaggerCRDs(t) {
		if c.Name == "canaries.flagger.app" {
			return c
		}
	}
	t.Fatalf("Flagger %s: no canaries.flagger.app CRD in artifacts/flagger/crd.yaml", FlaggerVersion)
	return nil
}

func loadFlaggerCRDs(dir string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	crds, err := readCRDs(filepath.Join(dir, "artifacts", "flagger", "crd.yaml"))
	if err != nil {
		return nil, err
	}
	want := map[string]bool{"canaries.flagger.app": false, "metrictemplates.flagger.app": false, "alertproviders.flagger.app": false}
	for _, c := range crds {
		if _, ok := want[c.Name]; ok {
			want[c.Name] = true
		}
	}
	for name, found := range want {
		if !found {
			return nil, fmt.Errorf("flagger %s: no %s CRD in artifacts/flagger/crd.yaml", FlaggerVersion, name)
		}
	}
	return crds, nil
}
