// Package e2e is canarykit's end-to-end proof, in tests only: the seeds' Flagger Canary
// manifests, unchanged, released on a real kube-apiserver and kube-controller-manager
// (internal/testenv) with canarykit's real kube workload, mesh router, Prometheus provider and
// webhook client, while a simulated Linkerd data plane (internal/meshsim) routes real HTTP
// requests by the route objects' weights and records Linkerd's metrics for the real
// Prometheus to scrape.
//
//	go test ./internal/e2e/ -v                    # times compressed 15× (about a minute per release)
//	go test ./internal/e2e/ -v -e2e.realtime      # the manifests' own 30 s intervals
package e2e
