package testenv

import (
	"fmt"
	"path/filepath"
	"slices"
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

var istioAPI = &moduleCRDs{what: "Istio CRDs", module: "istio.io/api", version: IstioAPIVersion, load: loadIstioCRDs}

// IstioCRDs returns Istio's VirtualService, DestinationRule and Gateway CRDs as Istio
// IstioAPIVersion ships them (networking.istio.io v1 stored; v1, v1beta1 and v1alpha3
// served), read from kubernetes/customresourcedefinitions.gen.yaml of the istio.io/api module
// (fetched into the module cache by `go mod download`). Install them with InstallCRDs. It
// skips the test when the module cannot be had (fails it when CI=true).
func IstioCRDs(t testing.TB) []*apiextensionsv1.CustomResourceDefinition {
	return istioAPI.get(t)
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

func loadIstioCRDs(dir string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	all, err := readCRDs(filepath.Join(dir, "kubernetes", "customresourcedefinitions.gen.yaml"))
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
