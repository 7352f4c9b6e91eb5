package mesh_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	specsclient "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/specs/clientset/versioned"
	splitclient "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/split/clientset/versioned"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/discovery"
	gatewayclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh"
)

// Before any route CRD is installed (this test runs first in the binary: go test runs a
// package's tests file by file in name order, and every other file of bed tests that installs
// CRDs must sort after this one, integration_crd_test.go), every router says which CRD is
// missing, from discovery and from the server's 404 alike, as a permanent error.
func TestIntegrationMissingCRDs(t *testing.T) {
	b := newBed(t, append(splitRBAC, httpRouteRBAC...)...)
	b.served(t, mesh.SplitGroup)
	b.served(t, "gateway.networking.k8s.io")
	disc, err := discovery.NewDiscoveryClientForConfig(b.cfg)
	require.NoError(t, err)
	split, err := splitclient.NewForConfig(b.cfg)
	require.NoError(t, err)
	specs, err := specsclient.NewForConfig(b.cfg)
	require.NoError(t, err)
	gw, err := gatewayclient.NewForConfig(b.cfg)
	require.NoError(t, err)
	tg := b.target(t)

	for name, o := range map[string]mesh.TrafficSplitOptions{
		"TrafficSplitDetected": {Client: split, Specs: specs, Discovery: disc},
		"TrafficSplitPinned":   {Client: split, Specs: specs, Version: "v1alpha2"},
	} {
		t.Run(name, func(t *testing.T) {
			r, err := mesh.NewTrafficSplit(o)
			require.NoError(t, err)
			for _, err := range []error{r.Reconcile(bg(t), tg), r.SetWeights(bg(t), tg, canary.CanaryWeight(10))} {
				assert.ErrorIs(t, err, mesh.ErrCRDMissing)
				assert.ErrorContains(t, err, "trafficsplits.split.smi-spec.io")
				assert.ErrorContains(t, err, "linkerd-smi")
				assert.True(t, permanent(err), "permanent: %v", err)
			}
		})
	}
	for name, o := range map[string]mesh.HTTPRouteOptions{
		"HTTPRouteDetected": {Client: gw, Discovery: disc, Port: 9898},
		"HTTPRoute":         {Client: gw, Port: 9898},
	} {
		t.Run(name, func(t *testing.T) {
			r, err := mesh.NewHTTPRoute(o)
			require.NoError(t, err)
			for _, err := range []error{r.Reconcile(bg(t), tg), r.SetWeights(bg(t), tg, canary.CanaryWeight(10))} {
				assert.ErrorIs(t, err, mesh.ErrCRDMissing)
				assert.ErrorContains(t, err, "httproutes.gateway.networking.k8s.io")
				assert.True(t, permanent(err), "permanent: %v", err)
			}
		})
	}
}

// The bed tests that install CRDs are in files that sort after integration_crd_test.go, so
// TestIntegrationMissingCRDs runs before any of them.
func TestNoCRDsInstalledBeforeTheMissingCRDsTest(t *testing.T) {
	files, err := filepath.Glob("*_test.go")
	require.NoError(t, err)
	installs := regexp.MustCompile(`\b(InstallCRDs|newRouteBed)\(`) // newRouteBed installs Gateway API's
	checked := 0
	for _, f := range files {
		if f >= "integration_crd_test.go" {
			continue
		}
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		checked++
		assert.False(t, installs.Match(b), "%s installs CRDs and sorts before integration_crd_test.go: rename it to sort after", f)
	}
	assert.Positive(t, checked, "files sorting before integration_crd_test.go were read")
}
