package kube

import _ "embed"

// RBAC is the ClusterRole "canarykit-workload" (rbac.yaml in this package): every permission the
// kube package needs, and no more. Bind it in each namespace that holds targets.
//
//go:embed rbac.yaml
var RBAC []byte
