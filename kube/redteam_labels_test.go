package kube

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/canarykit/canarykit/canary"
)

// The target's app label value names the primary's pods: "<value>-primary", a label value of
// at most 63 characters. A value too long for it is refused before anything is written,
// naming the label: before, Bootstrap wrote the config copies and the API server then refused
// the primary (a fake client took it as it came).
func TestRedteamAppLabelTooLongForThePrimary(t *testing.T) {
	ctx := context.Background()
	long := strings.Repeat("a", 60) // a valid label value; with "-primary", 68 characters
	objs := podinfoWithConfig(2)
	d := objs[0].(*appsv1.Deployment)
	d.Labels = map[string]string{"app": long}
	d.Spec.Selector.MatchLabels = map[string]string{"app": long}
	d.Spec.Template.Labels = map[string]string{"app": long}
	client := fake.NewClientset(objs...)
	target := canary.Target{Namespace: "test", Name: "podinfo"}
	w := workloadOn(t, client, target)
	client.ClearActions()

	err := w.Bootstrap(ctx, target)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "spec.selector.matchLabels.app")
	assert.Contains(t, err.Error(), long+"-primary")
	assert.True(t, canary.IsPermanent(err))
	assert.Empty(t, writes(client), "nothing is written")
}
