package main

import (
	"context"
	"slices"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
)

// A Canary edited to drop spec.revertOnDeletion loses the finalizer, as Flagger removes it
// from a Canary that opts out: a Canary that no longer asks to be handed back does not need
// the controller to be deleted (nor does its namespace). One that asks for it gets it.
func TestFinalizerFollowsRevertOnDeletion(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		revert     bool
		finalizers []string
		want       bool
	}{
		{"opted out, with the finalizer", false, []string{"example.com/keep", Finalizer}, false},
		{"opted out, without the finalizer", false, []string{"example.com/keep"}, false},
		{"opted in, without the finalizer", true, []string{"example.com/keep"}, true},
		{"opted in, with the finalizer", true, []string{"example.com/keep", Finalizer}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stored := storedCanary("uid-a", tc.finalizers...)
			dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
				map[schema.GroupVersionResource]string{Canaries: "CanaryList"}, stored)
			c := &Controller{Dynamic: dyn}
			u := &canaryObject{canaryMeta: canaryMeta{ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "a", UID: "uid-a",
				Finalizers: tc.finalizers}}}
			c.finalizer(ctx, "test/a", u, &flagger.Canary{RevertOnDeletion: tc.revert})
			c.work.Wait()

			cur, err := dyn.Resource(Canaries).Namespace("test").Get(ctx, "a", metav1.GetOptions{})
			require.NoError(t, err)
			assert.Equal(t, tc.want, slices.Contains(cur.GetFinalizers(), Finalizer), "finalizers %v", cur.GetFinalizers())
			assert.Contains(t, cur.GetFinalizers(), "example.com/keep", "another's finalizer stays")
		})
	}
}

// On the test bed: a Canary given spec.revertOnDeletion gets the finalizer, and loses it once
// edited without.
func TestControllerRemovesTheFinalizerOfACanaryThatOptsOut(t *testing.T) {
	b, _ := controllerBed(t)
	b.app("web")
	slow := "    interval: 1s\n    threshold: 1\n    stepWeight: 10\n    maxWeight: 90\n"
	hasFinalizer := func() bool {
		cur, err := b.dyn.Resource(Canaries).Namespace(b.ns).Get(context.Background(), "web", metav1.GetOptions{})
		require.NoError(t, err)
		return slices.Contains(cur.GetFinalizers(), Finalizer)
	}
	b.apply(canaryYAML("web", slow) + "  revertOnDeletion: true\n")
	b.poll("web initialized, with the finalizer", func() bool {
		return b.status("web").Phase == canary.PhaseInitialized && hasFinalizer()
	})
	b.apply(canaryYAML("web", slow) + "  revertOnDeletion: false\n")
	b.poll("the finalizer removed", func() bool { return !hasFinalizer() })
	assert.Equal(t, canary.PhaseInitialized, b.status("web").Phase, "web is still driven")
}
