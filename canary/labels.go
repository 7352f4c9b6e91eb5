package canary

// LabelManagedBy is the Kubernetes label that marks the objects an adapter of this module
// created (primary Deployments and Services, route objects, leases, gate ConfigMaps). Adapters
// change only objects that carry it with their value, so objects made by another controller
// are never overwritten.
const LabelManagedBy = "app.kubernetes.io/managed-by"

// ManagedBy is LabelManagedBy's value on the objects the adapters create (a router can be
// given another one in its options).
const ManagedBy = "canarykit"

// AnnotationTarget on an object an adapter of this module created names the target (the
// Deployment) it was created for: objects are shared by name (two targets behind one apex
// Service or one Ingress would write objects of the same name), and an adapter changes or
// deletes only those made for its own target.
const AnnotationTarget = "canarykit.dev/target"
