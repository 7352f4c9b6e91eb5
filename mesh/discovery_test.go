package mesh

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	fakediscovery "k8s.io/client-go/discovery/fake"
	clienttesting "k8s.io/client-go/testing"
)

// A CRD installed after the router first looked (linkerd-smi installed late) is found on the
// next call, without restarting the process.
func TestDiscoveryLooksAgainForAMissingGroup(t *testing.T) {
	disc := &fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{}}
	s := &servedVersions{disc: disc}
	got, err := s.of(SplitGroup)
	require.NoError(t, err)
	assert.Empty(t, got)
	disc.Resources = []*metav1.APIResourceList{{GroupVersion: SplitGroup + "/v1alpha2"}}
	got, err = s.of(SplitGroup)
	require.NoError(t, err)
	assert.Equal(t, []string{"v1alpha2"}, got)
}
