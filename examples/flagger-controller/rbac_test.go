package main

import (
	"fmt"
	"slices"
	"testing"

	"github.com/canarykit/canarykit/kube"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// routerRules are the routers' rules as mesh's package doc lists them, each with its delete
// rule (the route objects removed when a target is handed back, spec.revertOnDeletion): the
// controller serves every provider.
var routerRules = []rbacv1.PolicyRule{
	// TrafficSplit (Linkerd's SMI), HTTPRouteGroup for A/B
	{APIGroups: []string{"split.smi-spec.io"}, Resources: []string{"trafficsplits"}, Verbs: []string{"get", "create", "update", "patch", "delete"}},
	{APIGroups: []string{"specs.smi-spec.io"}, Resources: []string{"httproutegroups"}, Verbs: []string{"get", "create", "update", "delete"}},
	// Gateway API HTTPRoute, and the apex Service's port
	{APIGroups: []string{"gateway.networking.k8s.io"}, Resources: []string{"httproutes"}, Verbs: []string{"get", "create", "update", "patch", "delete"}},
	{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"get"}},
	// Kubernetes (blue/green on the apex Service)
	{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"get", "patch"}},
	// Istio
	{APIGroups: []string{"networking.istio.io"}, Resources: []string{"virtualservices"}, Verbs: []string{"get", "create", "update", "patch", "delete"}},
	{APIGroups: []string{"networking.istio.io"}, Resources: []string{"destinationrules"}, Verbs: []string{"get", "create", "update", "delete"}},
	// NGINX, with list and watch for its cache of the namespace's Ingresses (the driver's)
	{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
}

// finalizerRule is the controller's own: Flagger's finalizer added to and removed from the
// Canaries with spec.revertOnDeletion.
var finalizerRule = rbacv1.PolicyRule{APIGroups: []string{"flagger.app"}, Resources: []string{"canaries"}, Verbs: []string{"update"}}

// permissions flattens rules into "group resource verb" lines, sorted, without repeats.
func permissions(t *testing.T, rules []rbacv1.PolicyRule) []string {
	t.Helper()
	var out []string
	for _, r := range rules {
		require.Empty(t, r.ResourceNames, "rules name no objects")
		require.Empty(t, r.NonResourceURLs, "rules name no URLs")
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					out = append(out, fmt.Sprintf("%q %s %s", g, res, v))
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// The controller's ClusterRole (rbac.yaml) is exactly the kube package's embedded roles (the
// workload's, the Flagger objects' and status', the revert's), the routers' rules and the
// finalizer's: nothing missing, nothing more.
func TestControllerRoleIsTheEmbeddedRolesAndTheRouters(t *testing.T) {
	var want []rbacv1.PolicyRule
	for _, doc := range [][]byte{kube.RBAC(), kube.FlaggerRBAC(), kube.RevertRBAC()} {
		var role rbacv1.ClusterRole
		require.NoError(t, yaml.UnmarshalStrict(doc, &role))
		want = append(want, role.Rules...)
	}
	want = append(want, routerRules...)
	want = append(want, finalizerRule)
	assert.Equal(t, permissions(t, want), permissions(t, controllerRules(t)))
}
