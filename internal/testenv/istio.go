package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// IstioAPIVersion is the istio.io/api release whose CRDs IstioCRDs installs (Istio 1.32).
// hack/testenv.sh puts it in the module cache; canarykit does not import the module.
const IstioAPIVersion = "v1.32.0"

// IstioNetworkingCRDs are the CRDs IstioCRDs returns: what canarykit's Istio router writes
// (VirtualService, DestinationRule) and the Gateway its VirtualServices may name.
var IstioNetworkingCRDs = []string{
	"virtualservices.networking.istio.io",
	"destinationrules.networking.istio.io",
	"gateways.networking.istio.io",
}

var istioAPI struct {
	once sync.Once
	crds []*apiextensionsv1.CustomResourceDefinition
	err  error
}

// IstioCRDs returns Istio's VirtualService, DestinationRule and Gateway CRDs as Istio
// IstioAPIVersion ships them (networking.istio.io v1 stored; v1, v1beta1 and v1alpha3
// served), read from kubernetes/customresourcedefinitions.gen.yaml of the istio.io/api module
// (fetched into the module cache by `go mod download`). Install them with InstallCRDs. It
// skips the test when the module cannot be had (fails it when CI=true).
func IstioCRDs(t testing.TB) []*apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	istioAPI.once.Do(func() {
		istioAPI.crds, istioAPI.err = loadIstioCRDs()
	})
	if istioAPI.err != nil {
		msg := fmt.Sprintf("Istio CRDs: %v; run `%s`", istioAPI.err, InstallCommand)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	out := make([]*apiextensionsv1.CustomResourceDefinition, len(istioAPI.crds))
	for i, c := range istioAPI.crds {
		out[i] = c.DeepCopy()
	}
	return out
}

// IstioCRDServing returns crd (one of IstioCRDs) serving only the given versions, the first
// of them stored. The other versions stay listed, neither served nor stored, so the server
// keeps reading objects stored in them before.
func IstioCRDServing(crd *apiextensionsv1.CustomResourceDefinition, versions ...string) *apiextensionsv1.CustomResourceDefinition {
	crd = crd.DeepCopy()
	for i := range crd.Spec.Versions {
		v := &crd.Spec.Versions[i]
		v.Served = slices.Contains(versions, v.Name)
		v.Storage = len(versions) > 0 && v.Name == versions[0]
	}
	return crd
}

func loadIstioCRDs() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	var stderr bytes.Buffer
	cmd := exec.Command("go", "mod", "download", "-json", "istio.io/api@"+IstioAPIVersion)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &info); jerr != nil && err == nil {
		err = jerr
	}
	if err != nil || info.Error != "" || info.Dir == "" {
		return nil, fmt.Errorf("go mod download istio.io/api@%s: %v %s %s", IstioAPIVersion, err, info.Error, stderr.String())
	}
	all, err := readCRDs(filepath.Join(info.Dir, "kubernetes", "customresourcedefinitions.gen.yaml"))
	if err != nil {
		return nil, err
	}
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, c := range all {
		if slices.Contains(IstioNetworkingCRDs, c.Name) {
			crds = append(crds, c)
		}
	}
	if len(crds) != len(IstioNetworkingCRDs) {
		return nil, fmt.Errorf("istio.io/api@%s holds %d of the CRDs %v", IstioAPIVersion, len(crds), IstioNetworkingCRDs)
	}
	return crds, nil
}
