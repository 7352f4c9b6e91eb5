// Package driver turns Flagger objects loaded by kube/flagger into releases running on a
// cluster: clients, informer caches, the router spec.provider chooses (mesh), Prometheus per
// metric (a MetricTemplate's own server and credentials), webhooks, alerts, Kubernetes Events
// and the target's Lease (kube). canaryctl, the operator example and the end-to-end tests are
// built on it.
package driver
