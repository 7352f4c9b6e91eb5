package testenv

import (
	"fmt"
	"path/filepath"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// KEDAVersion is the github.com/kedacore/keda/v2 release whose ScaledObject CRD
// ScaledObjectCRD installs. hack/testenv.sh puts it in the module cache; canarykit does not
// import the module.
const KEDAVersion = "v2.21.0"

var kedaModule = &moduleCRDs{what: "KEDA CRDs", module: "github.com/kedacore/keda/v2", version: KEDAVersion, load: loadKEDACRDs}

// ScaledObjectCRD returns KEDA's ScaledObject CRD (scaledobjects.keda.sh, keda.sh/v1alpha1)
// as KEDA KEDAVersion ships it, read from config/crd/bases/keda.sh_scaledobjects.yaml of the
// github.com/kedacore/keda/v2 module (fetched into the module cache by `go mod download`).
// Install it with InstallCRDs; the bed runs no KEDA operator, so ScaledObjects are only stored
// (and validated by the CRD's schema). It skips the test when the module cannot be had (fails
// it when CI=true).
func ScaledObjectCRD(t testing.TB) *apiextensionsv1.CustomResourceDefinition {
	return kedaModule.get(t)[0]
}

func loadKEDACRDs(dir string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	crds, err := readCRDs(filepath.Join(dir, "config", "crd", "bases", "keda.sh_scaledobjects.yaml"))
	if err != nil {
		return nil, err
	}
	if len(crds) != 1 || crds[0].Name != "scaledobjects.keda.sh" {
		return nil, fmt.Errorf("keda %s: config/crd/bases/keda.sh_scaledobjects.yaml holds %d CRDs, not scaledobjects.keda.sh alone", KEDAVersion, len(crds))
	}
	return crds, nil
}
