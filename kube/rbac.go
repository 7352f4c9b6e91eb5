package kube

import _ "embed"

// RBAC is the ClusterRole "canarykit-workload" (rbac.yaml in this package): every permission the
// kube package needs, and no more. Bind it in each namespace that holds targets.
//
//go:embed rbac.yaml
var RBAC []byte

// MetricTemplateRBAC is the ClusterRole "canarykit-metric-templates"
// (rbac-metric-templates.yaml in this package): reading Flagger MetricTemplates and the Secrets
// their providers name. Bind it in each namespace that holds templates a Canary refers to.
//
//go:embed rbac-metric-templates.yaml
var MetricTemplateRBAC []byte
