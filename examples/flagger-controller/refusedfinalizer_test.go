package main

import (
	"context"
	"strings"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A second Canary of a target, refused, with spec.revertOnDeletion (so with the finalizer),
// is gone once deleted, and leaves the target to the Canary that drives it: it neither waits
// for that Canary's lease nor hands the target back under it.
func TestControllerFinalizesARefusedSecondCanaryOfATarget(t *testing.T) {
	b, _ := controllerBed(t)
	b.app("web")
	slow := "    interval: 1s\n    threshold: 1\n    stepWeight: 10\n    maxWeight: 90\n"
	b.apply(canaryYAML("web", slow))
	b.poll("web initialized", func() bool { return b.status("web").Phase == canary.PhaseInitialized })
	b.apply(strings.Replace(canaryYAML("web", slow), "metadata: {name: web}", "metadata: {name: web-b}", 1) + "  revertOnDeletion: true\n")
	res := b.dyn.Resource(Canaries).Namespace(b.ns)
	b.poll("web-b refused, with the finalizer", func() bool {
		cur, err := res.Get(context.Background(), "web-b", metav1.GetOptions{})
		if err != nil || !strings.Contains(strings.Join(cur.GetFinalizers(), ","), Finalizer) {
			return false
		}
		for _, m := range b.warnings("web-b") {
			if strings.Contains(m, "spec.targetRef") {
				return true
			}
		}
		return false
	})

	require.NoError(t, res.Delete(context.Background(), "web-b", metav1.DeleteOptions{}))
	b.poll("web-b gone", func() bool {
		_, err := res.Get(context.Background(), "web-b", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	assert.Equal(t, "controller-1", b.holder("web"), "web's Target keeps the target")
	p, err := b.env.Client().AppsV1().Deployments(b.ns).Get(context.Background(), "web-primary", metav1.GetOptions{})
	require.NoError(t, err, "web's primary stays")
	assert.Equal(t, "web", p.Annotations[kube.AnnotationCanary])
	assert.Equal(t, canary.PhaseInitialized, b.status("web").Phase)
}
