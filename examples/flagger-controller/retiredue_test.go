package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
)

// A deleted Canary's target is retired once its lease is held, unless the Canary was created
// again, or another Canary drives the target by then (one that waited for it and took its
// lease first: retiring then would cut that Canary's release short).
func TestRetireDue(t *testing.T) {
	ctx := context.Background()
	gone := &canaryObject{canaryMeta: canaryMeta{ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "a", UID: types.UID("uid-a")}}}
	again := &unstructured.Unstructured{}
	again.SetAPIVersion("flagger.app/v1beta1")
	again.SetKind("Canary")
	again.SetNamespace("test")
	again.SetName("a")
	again.SetUID("uid-a2")
	for _, tc := range []struct {
		name    string
		objects []runtime.Object
		byApp   map[string][]string
		want    bool
	}{
		{"gone, target free", nil, map[string][]string{}, true},
		{"created again", []runtime.Object{again}, map[string][]string{}, false},
		{"another Canary drives the target", nil, map[string][]string{"test/podinfo": {"test/b"}}, false},
		{"another Canary drives another target", nil, map[string][]string{"test/web": {"test/b"}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
				map[schema.GroupVersionResource]string{Canaries: "CanaryList"}, tc.objects...)
			c := &Controller{Dynamic: dyn, byApp: tc.byApp}
			due, err := c.retireDue(ctx, gone, "test/podinfo")
			require.NoError(t, err)
			assert.Equal(t, tc.want, due)
		})
	}
}
