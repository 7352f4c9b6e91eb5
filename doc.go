// Package canarykit is an embeddable Go SDK for progressive (canary) delivery on Kubernetes.
//
// The architecture tour is written as the packages land; see README.md.
package canarykit
