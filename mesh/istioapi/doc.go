// Package istioapi holds the part of Istio's networking API (networking.istio.io) that a
// Flagger Canary's spec.service carries for provider istio, as typed, bounded Go values: the
// VirtualService's hosts and gateways; the HTTP routes' match conditions, rewrite, timeout,
// retries, CORS policy and header operations; the DestinationRules' traffic policy (load
// balancer, HTTP connection pool, outlier detection, TLS). Service holds them for one target.
//
// kube/flagger decodes a Canary's fields into these types (unknown fields and wrong types are
// errors at their paths) and mesh's Istio router writes them (mesh.Istio.WithService), both
// checking them with Service.Validate: what Istio's own validation refuses (a duration under
// 1ms or finer than a millisecond, an unknown enum value, a regular expression that is not
// RE2, a header name with other characters than letters, digits, '-' and '_', an unknown retry
// condition, mode MUTUAL without a client certificate, an empty rewrite or traffic policy) is
// refused with its path before anything reaches a cluster, and so is anything beyond the
// bounds (MaxItems per list or mapping, MaxNameLen, MaxValueLen, canary.MaxRegexInsts for what a
// regular expression compiles to).
//
// FromMatch writes an A/B condition (canary.Match, a Flagger Canary's analysis.match entry) as
// an HTTPMatchRequest; MergeMatches merges A/B conditions into a service's (the canary's
// route), and MergeProblems names, by path, what cannot merge (a single-valued field both
// set), for kube/flagger's loader and mesh's Istio and HTTPRoute routers alike.
//
// HostConflicts names, by path, the hosts that would take other Services' traffic on the
// mesh (a short name or name.namespace.svc name of another Service, "*", a wildcard over the
// cluster's names): both the loader and the Istio router refuse them for a target.
//
// The package has no client and imports neither client-go nor net/http: a program that only
// loads manifests stays small.
package istioapi
