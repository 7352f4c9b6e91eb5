package mesh

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	fakediscovery "k8s.io/client-go/discovery/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/canarykit/canarykit/canary"
)

var targetSeq atomic.Int32

// newTarget returns a target with a name no other test uses.
func newTarget() canary.Target {
	return canary.Target{Namespace: "test", Name: fmt.Sprintf("podinfo%d", targetSeq.Add(1))}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return c
}

// discoveryServing fakes discovery of the given group versions ("split.smi-spec.io/v1alpha2").
func discoveryServing(gvs ...string) *fakediscovery.FakeDiscovery {
	d := &fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{}}
	for _, gv := range gvs {
		d.Resources = append(d.Resources, &metav1.APIResourceList{GroupVersion: gv})
	}
	return d
}

// countGroups counts the discovery requests made.
func countGroups(d *fakediscovery.FakeDiscovery) int {
	n := 0
	for _, a := range d.Actions() {
		if a.GetResource().Resource == "group" {
			n++
		}
	}
	return n
}

// writes counts the actions a fake clientset received since from, by verb.
func verbs(f *clienttesting.Fake, from int) []string {
	var out []string
	for _, a := range f.Actions()[from:] {
		out = append(out, a.GetVerb())
	}
	return out
}

// crdMissingReactor makes every request for resource answer as a server without the CRD does.
func crdMissingReactor(f *clienttesting.Fake, group, resource string) {
	f.PrependReactor("*", resource, func(a clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewGenericServerResponse(404, a.GetVerb(),
			schema.GroupResource{Group: group, Resource: resource}, "", "404 page not found", 0, true)
	})
}

// failOnce makes the next request with verb on resource fail with err.
func failOnce(f *clienttesting.Fake, verb, resource string, err error) {
	var done atomic.Bool
	f.PrependReactor(verb, resource, func(clienttesting.Action) (bool, runtime.Object, error) {
		if done.Swap(true) {
			return false, nil, nil
		}
		return true, nil, err
	})
}

func requirePermanent(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	require.True(t, isPermanent(err), "want a permanent error, got %v", err)
}
