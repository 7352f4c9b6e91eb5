package e2e

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/meshsim"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/webhook/loadgen"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// createIngress creates seed 000's Ingress: every host and path to the apex Service.
func (w *world) createIngress(name, service string, port int32) {
	_, err := w.env.Client().NetworkingV1().Ingresses(w.ns).Create(context.Background(), &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name},
			Annotations: map[string]string{"kubernetes.io/ingress.class": "nginx"}},
		Spec: networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{
			Service: &networkingv1.IngressServiceBackend{Name: service, Port: networkingv1.ServiceBackendPort{Number: port}}}},
	}, metav1.CreateOptions{})
	require.NoError(w.t, err)
}

// TestSplitBypassedByAnUnmeshedIngress is seed 000's situation: the browser's requests come
// through an NGINX ingress outside the mesh, which sends them to the apex Service's pods (the
// primary's) without the TrafficSplit; the TrafficSplit moves, the traffic does not. The
// split check (default: hold) finds the canary far short of its weight at the first step and
// holds it there; once the ingress joins the mesh (Linkerd's ingress guide), the traffic
// follows the split and the release goes on to promotion.
func TestSplitBypassedByAnUnmeshedIngress(t *testing.T) {
	w := newWorld(t, flagger.RouterSMI, nil)
	w.createApp("podinfo", "stefanprodan/podinfo:3.1.0")
	w.createIngress("podinfo", "podinfo", 9898)
	ctx := context.Background()
	// The split's window is the analysis interval; compressed to 2s it holds two scrapes at
	// best, and one late scrape leaves it empty (no conclusion): 4s is compressed enough.
	manifest := func() *flagger.Canary {
		m := w.manifest("canary-000-flagger-linkerd.yaml")
		m.Spec.Interval = max(m.Spec.Interval, 4*time.Second)
		return m
	}
	_, err := w.drive(ctx, manifest(), "driver-a", &timeline{t: t})
	require.NoError(t, err)

	// enough requests that each window owes the canary at 5 % more than 10 of them, even under
	// the race detector (which cuts the achieved rate by about a fifth)
	browser := loadgen.Config{URL: "http://podinfo.example.com/", Rate: 150, Concurrency: 40, Duration: 10 * 60e9}
	unmeshed, err := w.mesh.Ingress(meshsim.IngressOptions{}).StartLoad(browser)
	require.NoError(t, err)
	t.Cleanup(func() { unmeshed.Stop() })

	var (
		mu       sync.Mutex
		detected *canary.Event
		meshed   *meshsim.Load
	)
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if meshed != nil {
			meshed.Stop()
		}
	})
	tl := &timeline{t: t, splitWarnings: true, then: func(e canary.Event) {
		mu.Lock()
		defer mu.Unlock()
		if e.Reason != canary.ReasonTrafficNotSplit || detected != nil {
			return
		}
		detected = &e
		// the fix: the ingress joins the mesh, and its requests follow the split
		unmeshed.Stop()
		l, err := w.mesh.Ingress(meshsim.IngressOptions{Meshed: true}).StartLoad(browser)
		if assert.NoError(t, err) {
			meshed = l
		}
	}}
	w.setImage("podinfo", "stefanprodan/podinfo:3.1.1")
	res, err := w.drive(ctx, manifest(), "driver-a", tl)
	require.NoError(t, err)
	t.Logf("step timings:\n%s", tl.steps())

	mu.Lock()
	defer mu.Unlock()
	require.NotNil(t, detected, "the bypass was detected")
	require.NotNil(t, detected.Split)
	assert.Equal(t, 5, detected.Split.Weight, "detected at the first weight step")
	assert.Less(t, detected.Split.Share(), 2.5, "far less than the weight")
	assert.GreaterOrEqual(t, detected.Split.Total*5/100, float64(canary.SplitMinExpected))
	assert.Equal(t, canary.EventWarning, detected.Type)
	for _, part := range []string{
		"Traffic to podinfo." + w.ns + " does not follow the split: the canary's weight is 5% but it answered ",
		"(2 checks in a row). Likely causes: clients or an ingress outside the mesh send to the pods directly, bypassing the split;",
		"Holding the canary weight at 5 (split check: hold).",
	} {
		assert.Contains(t, detected.Message, part)
	}
	// held: nothing advanced past 5 before the warning
	var before []string
	for _, s := range tl.events {
		if s.e.Reason == canary.ReasonTrafficNotSplit {
			break
		}
		if s.e.Reason == canary.ReasonAdvanced {
			before = append(before, s.e.Message)
		}
	}
	assert.Equal(t, []string{"Advance podinfo." + w.ns + " canary weight 5"}, before)

	require.Equal(t, canary.PhaseSucceeded, res.Phase, res.Reason)
	assert.Equal(t, []int{5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 0}, res.Weights, "the release went on once the ingress joined the mesh")
	// the warning's words reach the Kubernetes Events recorded on the target
	assert.NotEmpty(t, filter(tl.messages(), "does not follow the split"))
	assert.False(t, strings.Contains(detected.Message, "\n"))
}
