// Package kedaapi holds what canarykit knows of KEDA's ScaledObject (keda.sh/v1alpha1) without
// importing KEDA: its group, version and resource, the annotation that pauses it, the bounds
// of Flagger's spec.autoscalerRef.primaryScalerQueries, and the rewrite of a trigger's query
// for the primary that Flagger applies when no primaryScalerQueries are given.
//
// kube/flagger checks a Canary's primaryScalerQueries with it, at their paths, and kube's
// Workload checks what it is given (kube.WorkloadOptions.PrimaryScalerQueries) and writes the
// primary's ScaledObject with it.
//
// The package imports neither client-go nor net/http: a program that only loads manifests
// stays small.
package kedaapi
