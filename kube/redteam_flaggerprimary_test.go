package kube

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
)

// A Deployment Flagger generated (the primary of a Flagger Canary, its controller owner
// reference that Canary, not yet taken over by canarykit) named as a target is refused before
// anything is written, as canarykit's own primaries are: releasing it would rewrite it and
// scale it to zero under the other Canary's production traffic.
func TestRedteamFlaggerPrimaryAsTargetIsRefused(t *testing.T) {
	ctx := context.Background()
	primary := testenv.PodinfoDeployment("podinfo-primary", "podinfo:1", 3)
	primary.Namespace = "test"
	primary.OwnerReferences = []metav1.OwnerReference{{APIVersion: "flagger.app/v1beta1", Kind: "Canary", Name: "podinfo",
		UID: "uid-1", Controller: ptr.To(true)}}
	client := fake.NewClientset(primary)
	target := canary.Target{Namespace: "test", Name: "podinfo-primary", Service: "other", Canary: "mine"}
	w := workloadOn(t, client, target)
	client.ClearActions()

	err := w.Bootstrap(ctx, target)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Flagger")
	assert.True(t, canary.IsPermanent(err))
	assert.Empty(t, writes(client), "nothing is written")
}
