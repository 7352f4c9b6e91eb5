package kube

import _ "embed"

// RBAC returns the ClusterRole "canarykit-workload" (rbac.yaml in this package) as YAML: every
// permission the kube package needs, and no more. Bind it in each namespace that holds targets.
// Each call returns a new copy.
func RBAC() []byte { return append([]byte(nil), rbacYAML...) }

// FlaggerRBAC returns the ClusterRole "canarykit-flagger-objects" (rbac-flagger.yaml in this
// package) as YAML: reading the Flagger MetricTemplates and AlertProviders a Canary refers to,
// and the Secrets they name; reading and watching Canaries and writing their status
// subresource (the driver's Options.CanaryStatus). Bind it in each namespace that holds them.
// Each call returns a new copy.
func FlaggerRBAC() []byte { return append([]byte(nil), flaggerRBACYAML...) }

// RevertRBAC returns the ClusterRole "canarykit-revert" (rbac-revert.yaml in this package) as
// YAML: delete on what kube/driver's Retire with Revert removes besides the route (the primary
// Deployment, its autoscaler, config copies, the primary and canary Services, the target's
// Lease). RBAC() has no delete verb: bind this one too, only in the namespaces whose targets
// may be reverted. The route objects' delete rules are the router's. Each call returns a new
// copy.
func RevertRBAC() []byte { return append([]byte(nil), revertRBACYAML...) }

//go:embed rbac.yaml
var rbacYAML []byte

//go:embed rbac-flagger.yaml
var flaggerRBACYAML []byte

//go:embed rbac-revert.yaml
var revertRBACYAML []byte
