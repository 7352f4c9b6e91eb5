package kube

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

func parseRole(t *testing.T, doc []byte) rbacv1.ClusterRole {
	t.Helper()
	var role rbacv1.ClusterRole
	require.NoError(t, yaml.UnmarshalStrict(doc, &role))
	require.Equal(t, "ClusterRole", role.Kind)
	require.NotEmpty(t, role.Rules)
	return role
}

// The embedded roles are ClusterRoles of their documented names, labelled as canarykit's.
func TestEmbeddedRoles(t *testing.T) {
	for name, doc := range map[string][]byte{
		"canarykit-workload":        RBAC(),
		"canarykit-flagger-objects": FlaggerRBAC(),
		"canarykit-revert":          RevertRBAC(),
	} {
		role := parseRole(t, doc)
		assert.Equal(t, name, role.Name)
		assert.Equal(t, "canarykit", role.Labels["app.kubernetes.io/managed-by"], name)
	}
	a := RevertRBAC()
	a[0] = 'x'
	assert.NotEqual(t, a[0], RevertRBAC()[0], "each call returns a new copy")
}

// The base role deletes nothing; the revert role only deletes, and only kinds the base role
// manages (what the kube package made for a target).
func TestRevertRoleOnlyDeletesWhatTheWorkloadRoleManages(t *testing.T) {
	base := parseRole(t, RBAC())
	managed := map[string]bool{}
	for _, r := range base.Rules {
		assert.NotContains(t, r.Verbs, "delete", "%v %v", r.APIGroups, r.Resources)
		if !slices.Contains(r.Verbs, "create") {
			continue // events: written, never handed back
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				managed[g+"/"+res] = true
			}
		}
	}
	revert := parseRole(t, RevertRBAC())
	var deleted []string
	for _, r := range revert.Rules {
		assert.Equal(t, []string{"delete"}, r.Verbs, "%v %v", r.APIGroups, r.Resources)
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				assert.True(t, managed[g+"/"+res], "%s/%s is not a kind the workload role manages", g, res)
				deleted = append(deleted, g+"/"+res)
			}
		}
	}
	slices.Sort(deleted)
	assert.Equal(t, []string{"/configmaps", "/secrets", "/services", "apps/daemonsets", "apps/deployments",
		"autoscaling/horizontalpodautoscalers", "coordination.k8s.io/leases", "keda.sh/scaledobjects"}, deleted)
}
