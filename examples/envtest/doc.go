// Package example is the pattern for testing a rollout on a real API server with
// controller-runtime's envtest: release_test.go starts etcd and kube-apiserver (the binaries of
// $KUBEBUILDER_ASSETS, as setup-envtest installs them), applies a Deployment, loads a Flagger
// Canary and asserts promotion and rollback with canarykit's kube/kubetest kit: the kubelet
// stand-in makes pods ready (or not), the deployment controller stand-in does what envtest's
// missing kube-controller-manager would, and WeightMetrics answers the Canary's metric from the
// weights on the TrafficSplit.
//
//	KUBEBUILDER_ASSETS=$(setup-envtest use -p path 1.34.x) go test ./...
//
// With USE_EXISTING_CLUSTER=true envtest uses the cluster of $KUBECONFIG instead, where a real
// deployment controller runs: the test then starts no deployment stand-in.
package example
