package kube

import _ "embed"

// RBAC is the ClusterRole "canarykit-workload" (rbac.yaml in this package): every permission the
// kube package needs, and no more. Bind it in each namespace that holds targets.
//
//go:embed rbac.yaml
var RBAC []byte

// FlaggerRBAC is the ClusterRole "canarykit-flagger-objects" (rbac-flagger.yaml in this
// package): reading the Flagger MetricTemplates and AlertProviders a Canary refers to, and the
// Secrets they name. Bind it in each namespace that holds them.
//
//go:embed rbac-flagger.yaml
var FlaggerRBAC []byte
