package canary

// LabelManagedBy is the Kubernetes label that marks the objects an adapter of this module
// created (primary Deployments and Services, route objects, leases, gate ConfigMaps). Adapters
// change only objects that carry it with their value, so objects made by another controller
// are never overwritten.
const LabelManagedBy = "app.kubernetes.io/managed-by"

// ManagedBy is LabelManagedBy's value on the objects the adapters create (a router can be
// given another one in its options).
const ManagedBy = "canarykit"
