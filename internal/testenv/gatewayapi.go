package testenv

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// GatewayAPIVersion is the sigs.k8s.io/gateway-api release whose standard-channel CRDs
// GatewayAPICRDs installs (the one that goes with client-go v0.34). hack/testenv.sh puts it in
// the module cache.
const GatewayAPIVersion = "v1.4.1"

var (
	gatewayAPI = &moduleCRDs{what: "Gateway API CRDs", module: "sigs.k8s.io/gateway-api", version: GatewayAPIVersion,
		load: func(dir string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
			return loadGatewayAPICRDs(dir, "standard")
		}}
	gatewayAPIExperimental = &moduleCRDs{what: "Gateway API experimental CRDs", module: "sigs.k8s.io/gateway-api", version: GatewayAPIVersion,
		load: func(dir string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
			return loadGatewayAPICRDs(dir, "experimental")
		}}
)

// GatewayAPICRDs returns the standard-channel Gateway API CRDs (GatewayClass, Gateway,
// HTTPRoute, GRPCRoute, ReferenceGrant, BackendTLSPolicy), read from config/crd/standard of
// the sigs.k8s.io/gateway-api module (fetched into the module cache by `go mod download`).
// Install them with InstallCRDs. It skips the test when the module cannot be had (fails it
// when CI=true).
func GatewayAPICRDs(t testing.TB) []*apiextensionsv1.CustomResourceDefinition {
	return gatewayAPI.get(t)
}

// GatewayAPIExperimentalCRDs returns the experimental-channel Gateway API CRDs of the same
// release, read from config/crd/experimental: the same names as the standard channel's (and
// a few x-k8s.io ones), with the fields and filters still experimental (an HTTPRoute's CORS
// filter among them). Install them only on a bed of their own (Start): the shared bed's tests
// expect the standard channel.
func GatewayAPIExperimentalCRDs(t testing.TB) []*apiextensionsv1.CustomResourceDefinition {
	return gatewayAPIExperimental.get(t)
}

// loadGatewayAPICRDs reads the CRDs of one channel ("standard" or "experimental").
func loadGatewayAPICRDs(dir, channel string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	files, err := filepath.Glob(filepath.Join(dir, "config", "crd", channel, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no CRDs in %s/config/crd/%s", dir, channel)
	}
	sort.Strings(files)
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, f := range files {
		got, err := readCRDs(f)
		if err != nil {
			return nil, err
		}
		crds = append(crds, got...)
	}
	return crds, nil
}

// readCRDs decodes the CRDs of a (multi-document) YAML file.
func readCRDs(path string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 64*1024)
	var out []*apiextensionsv1.CustomResourceDefinition
	for {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		err := dec.Decode(crd)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("decode %s: %w", filepath.Base(path), err)
		}
		if crd.Kind == "CustomResourceDefinition" {
			out = append(out, crd)
		}
	}
}
