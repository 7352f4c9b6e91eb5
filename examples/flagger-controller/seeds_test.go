package main

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/meshsim"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/webhook/loadgen"
	"github.com/canarykit/canarykit/webhook/webhooktest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// podinfo creates what the seeds' kustomize/podinfo creates: the Deployment and its HPA.
func (b *bed) podinfo(image string) {
	require.NoError(b.t, testenv.CreatePodinfo(context.Background(), b.env.Client(), b.ns, "podinfo", image, 2))
}

// freeAddr is a loopback address nobody listens on (for the controller's /metrics).
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// The seeds' Linkerd Canaries, applied to the API server unchanged, are released by the
// controller: 000 bootstraps podinfo and promotes 3.1.1; 002 (the same Canary, edited) meets
// 3.1.2 returning 500s and rolls it back. Apex traffic runs through the simulated mesh, the
// built-in checks are answered by the real Prometheus, the seeds' webhooks by the load
// tester's stand-in. The Canary's status and Promoted condition are read from the API
// server; Flagger's self-metrics from a real Prometheus scraping the controller's /metrics.
func TestSeedCanariesReleasedByTheController(t *testing.T) {
	b := newBed(t)
	b.env.Kubelet(t, b.ns, "", testenv.ReadyNow())
	prom, exp := testenv.SharedPrometheus(t)
	mesh := meshsim.Start(t, meshsim.Options{Config: b.env.Config(), Namespace: b.ns, Aliases: []string{"test"}, Exporter: exp,
		Versions: map[string]meshsim.Behavior{"3.1.2": {ErrorRate: 0.5}}})
	require.NoError(t, mesh.ServeLoadTester("flagger-loadtester", &webhooktest.LoadTester{}))
	b.podinfo("stefanprodan/podinfo:3.1.0")
	load, err := mesh.StartLoad(loadgen.Config{URL: "http://podinfo.test:9898/", Rate: 40, Concurrency: 80, Duration: 10 * time.Minute})
	require.NoError(t, err)
	t.Cleanup(func() { load.Stop() })

	metricsAddr := freeAddr(t)
	rec := &recorder{}
	b.start("controller-1", Options{Prometheus: prom.URL, HookTransport: mesh, Adjust: compress, MetricsAddr: metricsAddr, OnEvent: rec.add})
	self := testenv.StartPrometheus(t, "http://"+metricsAddr+"/metrics")
	series := `{namespace="` + b.ns + `",name="podinfo"}`
	metric := func(name, labels string) float64 {
		v, err := self.QueryValue(context.Background(), name+labels)
		if err != nil {
			return -1
		}
		return v
	}

	b.apply(seed(t, "canary-000-flagger-linkerd.yaml"))
	b.poll("podinfo bootstrapped", func() bool { return b.status("podinfo").Phase == canary.PhaseInitialized })
	assert.Equal(t, "stefanprodan/podinfo:3.1.0", b.image("podinfo-primary"))
	b.poll("flagger_info and flagger_canary_total scraped", func() bool {
		return metric("flagger_info", "") == 1 && metric("flagger_canary_total", `{namespace="`+b.ns+`"}`) == 1
	})

	mark := rec.mark()
	b.setImage("podinfo", "stefanprodan/podinfo:3.1.1")
	b.poll("3.1.1 progressing, as the status and the metrics say", func() bool {
		return b.status("podinfo").Phase == canary.PhaseProgressing && metric("flagger_canary_status", series) == 0
	})
	b.poll("3.1.1 promoted", func() bool { return b.status("podinfo").Phase == canary.PhaseSucceeded })
	st := b.status("podinfo")
	status, reason := st.promoted()
	assert.Equal(t, "True", status)
	assert.Equal(t, "Succeeded", reason)
	assert.Equal(t, []int{5, 10, 15, 20, 25, 30, 35, 40, 45, 50}, rec.weights("podinfo", mark))
	assert.Equal(t, "stefanprodan/podinfo:3.1.1", b.image("podinfo-primary"))
	b.poll("the promotion in the metrics", func() bool {
		return metric("flagger_canary_status", series) == 1 &&
			metric("sum(flagger_canary_successes_total", series+")") == 1 &&
			metric("flagger_canary_weight", `{namespace="`+b.ns+`",workload="podinfo-primary"}`) == 100
	})
	assert.Positive(t, metric("max_over_time(flagger_canary_metric_analysis", `{namespace="`+b.ns+`",name="podinfo",metric="request-success-rate"}[10m])`),
		"the success rate Prometheus answered reached the metrics")

	b.apply(seed(t, "canary-002-linkerd-canary.yaml")) // the same Canary, edited
	mark = rec.mark()
	b.setImage("podinfo", "stefanprodan/podinfo:3.1.2")
	b.poll("3.1.2 rolled back", func() bool { return b.status("podinfo").Phase == canary.PhaseFailed })
	st = b.status("podinfo")
	status, reason = st.promoted()
	assert.Equal(t, "False", status)
	assert.Equal(t, "Failed", reason)
	assert.Equal(t, 0, st.CanaryWeight)
	// the canary answers half its requests to / with a 500: the success rate check fails; the
	// pre-rollout acceptance test's one POST /token is the first request to that path, which
	// passes (the mesh spreads a version's failures over each path's requests)
	assert.True(t, slices.ContainsFunc(rec.since("podinfo", mark), func(e canary.Event) bool {
		return e.Reason == canary.ReasonHalted && e.Check == "request-success-rate"
	}), "the 500s failed the success rate check")
	assert.False(t, slices.ContainsFunc(rec.since("podinfo", mark), func(e canary.Event) bool {
		return e.Reason == canary.ReasonHalted && e.Hook == "acceptance-test"
	}), "the acceptance test passed")
	assert.Equal(t, "stefanprodan/podinfo:3.1.1", b.image("podinfo-primary"), "the primary keeps 3.1.1")
	w, ok := b.trafficSplit("podinfo")
	assert.True(t, ok)
	assert.Equal(t, canary.AllPrimary(), w)
	b.poll("the rollback in the metrics", func() bool {
		return metric("flagger_canary_status", series) == 2 && metric("sum(flagger_canary_failures_total", series+")") == 1
	})
}
