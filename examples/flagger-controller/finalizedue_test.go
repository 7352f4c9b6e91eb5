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
// primary) while that Canary still holds the finalizer: not once another replica removed it,
// nor for a Canary created again under its name.
func TestFinalizeDue(t *testing.T) {
	ctx := context.Background()
	ending := &canaryObject{canaryMeta: canaryMeta{ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "a", UID: types.UID("uid-a")}}}
	for _, tc := range []struct {
		name    string
		objects []runtime.Object
		want    bool
	}{
		{"with the finalizer, target free", []runtime.Object{storedCanary("uid-a", Finalizer)}, true},
		{"finalizer removed", []runtime.Object{storedCanary("uid-a")}, false},
		{"created again", []runtime.Object{storedCanary("uid-a2", Finalizer)}, false},
		{"gone", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
				map[schema.GroupVersionResource]string{Canaries: "CanaryList"}, tc.objects...)
			c := &Controller{Dynamic: dyn}
			due, err := c.finalizeDue(ctx, ending)
			require.NoError(t, err)
			assert.Equal(t, tc.want, due)
		})
	}
}
