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

//go:embed rbac.yaml
var rbacYAML []byte

//go:embed rbac-flagger.yaml
var flaggerRBACYAML []byte
