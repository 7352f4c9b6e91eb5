// Package examples holds the tests that span the examples' modules: examples/embed is a module
// of its own (its go.mod requires canarykit through a replace directive), so the main module's
// `go vet ./...` and `go test ./...` do not reach it; embed_test.go builds it and runs it on the
// test bed. examples/envtest, also a module of its own (on controller-runtime's envtest), is run
// by envtest_test.go on the bed's etcd and kube-apiserver alone and on the full bed.
package examples
