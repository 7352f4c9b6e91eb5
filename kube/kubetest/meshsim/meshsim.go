// Package meshsim is a simulated Linkerd data plane, for tests that want real HTTP traffic
// through the routes a release writes, on any API server (envtest's, canarykit's bed, a cluster
// without nodes): it plays the pods of a namespace's Deployments as loopback HTTP servers
// answering as podinfo does, computes each Service's endpoints from the pods' Ready condition
// (run kube/kubetest's kubelet stand-in), and routes requests to <service>.<namespace> by the
// SMI TrafficSplits and Gateway API HTTPRoutes it watches. Each pod's answers are recorded in a
// Linkerd-format exporter (kube/kubetest/linkerdexp) for a test Prometheus to scrape.
//
//	mesh := meshsim.Start(t, meshsim.Options{Config: cfg, Namespace: ns,
//		Versions: map[string]meshsim.Behavior{"2": {ErrorRate: 0.1}}}) // image tag "2" fails 10 %
//	resp, err := mesh.Client().Get("http://podinfo." + ns + ":9898/")
//	mix := mesh.Traffic().ByDeployment("podinfo") // requests and failures per Deployment
//
// Install the route CRDs before Start. These are the types of canarykit's own end-to-end
// tests under public names; their documentation is on the types themselves.
package meshsim

import (
	"context"
	"testing"

	internal "github.com/canarykit/canarykit/internal/meshsim"
)

type (
	// Mesh is a simulated data plane for one namespace; an http.RoundTripper.
	Mesh = internal.Mesh
	// Options configure a Mesh: Config and Namespace are required.
	Options = internal.Options
	// Behavior is how the pods of one app version answer (error rate, latency).
	Behavior = internal.Behavior
	// Traffic is a snapshot of the requests the mesh has routed.
	Traffic = internal.Traffic
	// Tally counts requests and failures.
	Tally = internal.Tally
)

// Start starts a Mesh for one test and closes it when the test ends.
func Start(t testing.TB, opts Options) *Mesh { return internal.Start(t, opts) }

// New starts a Mesh and returns once its caches are filled; the caller must Close it.
func New(ctx context.Context, opts Options) (*Mesh, error) { return internal.New(ctx, opts) }
