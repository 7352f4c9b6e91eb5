package driver

import (
	"context"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/canarykit/canarykit/kube"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// releaseEvents runs a release that is rolled back (Normal and Warning events, one of them
// twice) through a Driver on a fake API server, with or without Options.CanaryStatus, and
// returns the engine's events and the Kubernetes Events written.
func releaseEvents(t *testing.T, canaryStatus bool) ([]canary.Event, []corev1.Event) {
	t.Helper()
	ctx := context.Background()
	client := fake.NewClientset()
	env := canarytest.NewEnv(canary.Target{Namespace: "test", Name: "podinfo"})
	env.Metrics.Set("request-success-rate", canarytest.Sequence(99.9, 99.9, 90))
	cluster, err := kube.New(kube.Options{Client: client, Clock: env.Clock})
	require.NoError(t, err)
	t.Cleanup(cluster.Close)
	events, err := cluster.Events(kube.EventsOptions{})
	require.NoError(t, err)
	d := &Driver{opts: Options{CanaryStatus: canaryStatus, Router: env.Router, Metrics: env.Metrics, Logger: logr.Discard(), Clock: env.Clock},
		client: client, cluster: cluster, events: events, proms: map[string]canary.MetricProvider{}}
	d.routers = newRouters(d)
	c := &flagger.Canary{Name: "podinfo", Namespace: "test", UID: "8d1b6f0e-canary", Target: env.Target,
		Spec: canary.Spec{Interval: 30 * time.Second, Threshold: 2, StepWeight: 10,
			Metrics: []canary.Metric{{Name: "request-success-rate", ThresholdRange: canary.AtLeast(99)}}}}
	rel, err := d.build(ctx, c, env.Router, env.Workload, nil, env.Store, env.Events.Handle)
	require.NoError(t, err)
	_, err = rel.Rollout.Run(ctx) // bootstrap
	require.NoError(t, err)
	env.Workload.SetRevision("3.1.2")
	res, err := rel.Rollout.Run(ctx)
	require.NoError(t, err)
	require.Equal(t, canary.PhaseFailed, res.Phase)
	d.events.Shutdown() // every queued Event written
	list, err := client.CoreV1().Events("test").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	return env.Events.Events(), list.Items
}

// A release driven with Options.CanaryStatus (the Flagger-compatible controller's case)
// records its Events on the Canary object as Flagger does: involvedObject the Canary with its
// UID, reason Synced, the engine's type and message; the engine's reason is the Event's
// action. Every event is written, a repeated one as a count.
func TestReleaseEventsOnTheCanary(t *testing.T) {
	events, written := releaseEvents(t, true)
	want := corev1.ObjectReference{APIVersion: "flagger.app/v1beta1", Kind: "Canary", Namespace: "test", Name: "podinfo", UID: "8d1b6f0e-canary"}
	counts := map[string]int{}
	for _, ev := range written {
		assert.Equal(t, want, ev.InvolvedObject, ev.Message)
		assert.Equal(t, CanaryEventReason, ev.Reason, ev.Message)
		assert.Equal(t, "canarykit", ev.Source.Component)
		assert.Regexp(t, `^podinfo\.[0-9a-f]+$`, ev.Name, "named after the Canary")
		counts[ev.Type+" "+ev.Action+" "+ev.Message] += int(ev.Count)
	}
	require.NotEmpty(t, events)
	want2 := map[string]int{}
	for _, e := range events {
		want2[eventType(e)+" "+string(e.Reason)+" "+e.Message]++
	}
	assert.Equal(t, want2, counts, "each event once, with its type, message and the engine's reason as action")
	assert.Contains(t, counts, "Warning RollingBack Rolling back podinfo.test failed checks threshold reached 2")
}

// Without Options.CanaryStatus (a target driven without a Canary object) the Events are on
// the target Deployment, under the engine's reasons.
func TestReleaseEventsOnTheDeployment(t *testing.T) {
	events, written := releaseEvents(t, false)
	counts := map[string]int{}
	for _, ev := range written {
		assert.Equal(t, corev1.ObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "test", Name: "podinfo"}, ev.InvolvedObject)
		assert.Equal(t, ev.Action, ev.Reason)
		counts[ev.Type+" "+ev.Reason+" "+ev.Message] += int(ev.Count)
	}
	want := map[string]int{}
	for _, e := range events {
		want[eventType(e)+" "+string(e.Reason)+" "+e.Message]++
	}
	assert.Equal(t, want, counts)
}

func eventType(e canary.Event) string {
	if e.Type == canary.EventWarning {
		return corev1.EventTypeWarning
	}
	return corev1.EventTypeNormal
}
