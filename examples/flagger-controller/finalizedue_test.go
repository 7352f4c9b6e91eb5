package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
)

// The target of a Canary deleted with the finalizer is retired (handed back, or left on its
// primary) while the Canary still holds the finalizer, unless another Canary drives the target:
// a Canary refused because the target was another's never drove it, and its deletion neither
// waits for that Canary's lease nor hands the target back under it.
func TestFinalizeDue(t *testing.T) {
	ctx := context.Background()
	ending := &canaryObject{canaryMeta: canaryMeta{ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "a", UID: types.UID("uid-a")}}}
	for _, tc := range []struct {
		name    string
		objects []runtime.Object
		byApp   map[string][]string
		want    bool
	}{
		{"with the finalizer, target free", []runtime.Object{storedCanary("uid-a", Finalizer)}, map[string][]string{}, true},
		{"with the finalizer, another Canary drives another target", []runtime.Object{storedCanary("uid-a", Finalizer)},
			map[string][]string{"test/web": {"test/b"}}, true},
		{"with the finalizer, another Canary drives the target", []runtime.Object{storedCanary("uid-a", Finalizer)},
			map[string][]string{"test/podinfo": {"test/b"}}, false},
		{"finalizer removed", []runtime.Object{storedCanary("uid-a")}, map[string][]string{}, false},
		{"created again", []runtime.Object{storedCanary("uid-a2", Finalizer)}, map[string][]string{}, false},
		{"gone", nil, map[string][]string{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
				map[schema.GroupVersionResource]string{Canaries: "CanaryList"}, tc.objects...)
			c := &Controller{Dynamic: dyn, byApp: tc.byApp}
			due, err := c.finalizeDue(ctx, ending, "test/podinfo")
			require.NoError(t, err)
			assert.Equal(t, tc.want, due)
		})
	}
}
