package kube_test

import (
	"context"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Promote and Abort requested from another process (canaryctl promote/abort) reach the driver
// through the target's Lease.
func TestControlRequestsFromAnotherProcess(t *testing.T) {
	for _, c := range []struct {
		control kube.Control
		phase   canary.Phase
	}{{kube.ControlPromote, canary.PhaseSucceeded}, {kube.ControlAbort, canary.PhaseFailed}} {
		t.Run(string(c.control), func(t *testing.T) {
			b := newBed(t)
			b.createTarget(t, "podinfo:1")
			ctx := context.Background()
			err := kube.RequestControl(ctx, b.client, b.target, c.control)
			require.ErrorIs(t, err, kube.ErrNoDriver, "nobody drives yet")

			spec := func(s *canary.Spec) { s.MaxWeight, s.StepWeight, s.Interval = 90, 10, time.Second }
			requested := make(chan error, 1)
			var d *driver
			d = b.driver(t, driverOptions{spec: spec, then: func(e canary.Event) {
				if e.Message == "Advance podinfo."+b.ns+" canary weight 20" {
					go func() { requested <- kube.RequestControl(ctx, b.client, b.target, c.control) }()
				}
			}})
			d.mustRun(t)
			b.setImage(t, "podinfo:2")
			res := d.mustRun(t)
			require.NoError(t, <-requested)
			assert.Equal(t, c.phase, res.Phase, res.Reason)
			assert.Less(t, res.Weights[len(res.Weights)-2], 90, "the release did not go through every step")
			l, err := b.admin.CoordinationV1().Leases(b.ns).Get(ctx, "podinfo-canarykit", metav1.GetOptions{})
			require.NoError(t, err)
			assert.NotContains(t, l.Annotations, kube.AnnotationControl, "the request was cleared by the driver")
		})
	}
}
