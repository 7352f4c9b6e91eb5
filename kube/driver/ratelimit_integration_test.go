package driver

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/kube"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/go-logr/logr/testr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
)

// A driver with no limit in its Config, 60 Targets started at once and then given a new
// revision at once: its client rate limit is sized for 60 targets while they run, none of the
// requests of their bootstraps (primary, Services, route, status, Events, leases) and of their
// releases waited for it, and it falls back to the defaults once they stop. The fixed defaults
// (50 QPS, burst 100) make the releases' start wait. Idle afterwards, the 60 targets' claims
// cost their one holder lease's renewals, not 60 leases'.
func TestAdaptiveRateLimitDoesNotThrottleSixtyTargets(t *testing.T) {
	env := testenv.Shared(t)
	ctx, cancel, ns := bedNamespace(t, env, testenv.TrafficSplitCRD())
	const n = 60
	const interval = 5 * time.Second
	for i := range n {
		createTarget(ctx, t, env, ns, fmt.Sprintf("podinfo-%d", i))
	}

	const agent = "canarykit-adaptive-rate-test"
	cfg := rest.CopyConfig(env.Config())
	cfg.UserAgent = agent
	cfg.QPS, cfg.Burst, cfg.RateLimiter = 0, 0, nil
	d, err := New(Options{Config: cfg, Identity: "driver-rate", LeaseDuration: 8 * time.Second, Logger: testr.NewWithOptions(t, testr.Options{Verbosity: 0})})
	require.NoError(t, err)
	defer d.Close()
	from := env.AuditMark(t)
	targets := make([]*Target, n)
	started := make(chan error, n)
	for i := range n {
		name := fmt.Sprintf("podinfo-%d", i)
		c := &flagger.Canary{Name: name, Namespace: ns, Target: canary.Target{Namespace: ns, Name: name},
			Spec:     canary.Spec{Interval: interval, Threshold: 1, MaxWeight: 50, StepWeight: 50},
			Workload: flagger.Workload{Port: 9898}, Router: flagger.Router{Kind: flagger.RouterSMI, Provider: "linkerd"}}
		targets[i], err = d.Target(c, nil)
		require.NoError(t, err)
		go func() { started <- targets[i].Start(ctx) }()
	}
	all := func(what string, phase canary.Phase) {
		t.Helper()
		require.NoError(t, wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 3*time.Minute, true, func(context.Context) (bool, error) {
			for _, tg := range targets {
				if tg.Last().Phase != phase {
					return false, nil
				}
			}
			return true, nil
		}), what)
	}
	all("every target initialized", canary.PhaseInitialized)
	initialized := d.Throttled()
	for i := range n { // every target's new revision at once
		setImage(ctx, t, env, ns, fmt.Sprintf("podinfo-%d", i), "podinfo:2")
	}
	all("every release succeeded", canary.PhaseSucceeded)

	qps, burst := d.RateLimit()
	wantQPS, wantBurst := RateLimit(n, interval)
	assert.Equal(t, wantQPS, qps, "sized for the 60 running targets")
	assert.Equal(t, wantBurst, burst)
	assert.Greater(t, qps, float32(DefaultQPS))
	made := len(byAgent(env.AuditSince(t, from).Calls(), agent))
	t.Logf("60 targets initialized and released with %d requests; limit %v QPS, burst %d; %d waited (%d in the bootstrap)",
		made, qps, burst, d.Throttled(), initialized)
	assert.Greater(t, made, DefaultBurst, "more requests than the default burst")
	assert.Zero(t, d.Throttled(), "no request waited for the client rate limit")

	// idle: no target lease is written, the holder lease is renewed
	versions := func() map[string]string {
		list, err := env.Client().CoordinationV1().Leases(ns).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		out := map[string]string{}
		for _, l := range list.Items {
			if strings.HasSuffix(l.Name, "-canarykit") {
				assert.NotEmpty(t, l.Annotations[kube.AnnotationHolder], "%s is vouched for", l.Name)
				out[l.Name] = l.ResourceVersion
			}
		}
		return out
	}
	before := versions()
	require.Len(t, before, n)
	idleFrom := env.AuditMark(t)
	waitHolderRenewals(ctx, t, env.Client(), ns, "podinfo-0-canarykit")
	assert.Equal(t, before, versions(), "no target lease was written")
	var writes int
	for _, e := range byAgent(env.AuditSince(t, idleFrom).Calls(), agent) {
		if e.Resource == "leases" && (e.Verb == "update" || e.Verb == "create" || e.Verb == "patch") {
			assert.True(t, strings.HasPrefix(e.Name, "canarykit-holder-"), "idle, only the holder lease is written: %s", e.Name)
			writes++
		}
	}
	t.Logf("idle: %d lease writes for %d targets while the holder lease was renewed", writes, n)
	assert.NotZero(t, writes, "the holder lease was renewed")

	cancel()
	for range n {
		require.NoError(t, <-started)
	}
	qps, burst = d.RateLimit()
	assert.Equal(t, float32(DefaultQPS), qps, "back to the defaults once the targets stopped")
	assert.Equal(t, DefaultBurst, burst)
}
