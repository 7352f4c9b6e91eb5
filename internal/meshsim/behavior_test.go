package meshsim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestImageTag(t *testing.T) {
	for image, tag := range map[string]string{
		"ghcr.io/stefanprodan/podinfo:3.1.0":           "3.1.0",
		"stefanprodan/podinfo:3.1.1":                   "3.1.1",
		"localhost:5000/podinfo":                       "",
		"localhost:5000/podinfo:6.0.0":                 "6.0.0",
		"podinfo@sha256:0123":                          "",
		"podinfo:6.0.1@sha256:0123":                    "6.0.1",
		"podinfo":                                      "",
		"registry.example.com:443/team/podinfo:latest": "latest",
	} {
		assert.Equal(t, tag, imageTag(image), image)
	}
}

func TestVersionsLookupByImageThenTag(t *testing.T) {
	var v versions
	require.NoError(t, v.set("3.1.1", Behavior{ErrorRate: 0.5}))
	require.NoError(t, v.set("ghcr.io/stefanprodan/podinfo:3.1.1", Behavior{ErrorRate: 1}))
	assert.Equal(t, 1.0, v.lookup("ghcr.io/stefanprodan/podinfo:3.1.1").ErrorRate)
	assert.Equal(t, 0.5, v.lookup("stefanprodan/podinfo:3.1.1").ErrorRate)
	assert.Equal(t, Behavior{}, v.lookup("stefanprodan/podinfo:3.1.0"))

	assert.ErrorIs(t, v.set("x", Behavior{ErrorRate: 1.5}), ErrInvalidBehavior)
	assert.ErrorIs(t, v.set("x", Behavior{Latency: -1}), ErrInvalidBehavior)
	assert.ErrorIs(t, v.set("", Behavior{}), ErrInvalidBehavior)
}

func TestFailuresAreSpreadEvenly(t *testing.T) {
	var v versions
	require.NoError(t, v.set("bad", Behavior{ErrorRate: 0.1, Latency: 5 * time.Millisecond}))
	failures := 0
	for i := 1; i <= 1000; i++ {
		d, fail := v.decide("podinfo", "podinfo:bad", "/")
		assert.Equal(t, 5*time.Millisecond, d)
		if fail {
			failures++
		}
		assert.Equal(t, i/10, failures, "after %d requests", i)
	}
	// Another Deployment running the version counts on its own.
	_, fail := v.decide("podinfo-primary", "podinfo:bad", "/")
	assert.False(t, fail)
}

// A probe of a path of its own meets the rate whatever else the Deployment answers between
// two probes: half of a version failing half its requests fails, every other one.
func TestFailuresAreSpreadOverEachPath(t *testing.T) {
	var v versions
	require.NoError(t, v.set("bad", Behavior{ErrorRate: 0.5}))
	var probes []bool
	for i := range 8 {
		for range i % 3 { // other traffic in between, an uneven number of requests
			v.decide("podinfo", "podinfo:bad", "/")
		}
		_, fail := v.decide("podinfo", "podinfo:bad", "/token")
		probes = append(probes, fail)
	}
	assert.Equal(t, []bool{false, true, false, true, false, true, false, true}, probes)
}

func TestSeededFailuresAndJitterAreReproducible(t *testing.T) {
	run := func() (int, []time.Duration) {
		var v versions
		require.NoError(t, v.set("x", Behavior{ErrorRate: 0.3, Latency: time.Millisecond, Jitter: time.Millisecond, Seed: 42}))
		failures, delays := 0, []time.Duration{}
		for range 1000 {
			d, fail := v.decide("podinfo", "p:x", "/")
			assert.GreaterOrEqual(t, d, time.Millisecond)
			assert.Less(t, d, 2*time.Millisecond)
			delays = append(delays, d)
			if fail {
				failures++
			}
		}
		return failures, delays
	}
	f1, d1 := run()
	f2, d2 := run()
	assert.Equal(t, f1, f2)
	assert.Equal(t, d1, d2)
	assert.InDelta(t, 300, f1, 60) // binomial: sigma ≈ 14.5
}
